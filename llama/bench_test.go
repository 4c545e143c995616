package llama_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/llama"
	"github.com/xraygpt-go/xraygpt/llama/llamatest"
)

var (
	benchModel   = flag.String("llama.model", "", "GGUF model for the benchmarks (default: a ~200M-parameter random llamatest model)")
	benchType    = flag.String("llama.type", "F16", "weight type of the random benchmark model: F32, F16 or a Quantize type such as Q8_0 or Q4_K_M")
	benchThreads = flag.Int("llama.threads", 0, "threads for the benchmarks (0: runtime.NumCPU())")
	benchPrompt  = flag.Int("llama.prompt", 256, "prompt length of the benchmarks")
	benchGen     = flag.Int("llama.gen", 64, "tokens generated per benchmark iteration")
	bench7B      = flag.Bool("llama.7b", false, "benchmark a LLaMA-7B-shaped model of random Q4_K weights (a 3.7 GB file) instead")
)

// bench7BOptions has LLaMA-7B's shape (4096 wide, 32 layers, 32 heads, FFN
// 11008) with random Q4_K weights written directly, no quantization pass.
var bench7BOptions = llamatest.Options{NEmbd: 4096, NLayer: 32, NHead: 32, NFF: 11008, NCtx: 4096, Type: gguf.TypeQ4_K, Seed: 7}

// benchModelOptions is a LLaMA-shaped model of about 200M parameters:
// 1024 wide, 16 layers, 16 heads, FFN 2816 (the test vocabulary is small,
// so nearly all parameters are in the blocks, as in a 7B model).
var benchModelOptions = llamatest.Options{NEmbd: 1024, NLayer: 16, NHead: 16, NFF: 2816, NCtx: 4096, Seed: 7}

// benchModelPath returns the model the benchmarks run. The random model is
// written once into the temporary folder and reused by later runs.
func benchModelPath(b *testing.B) string {
	if *benchModel != "" {
		return *benchModel
	}
	typ := strings.ToUpper(*benchType)
	opts := benchModelOptions
	if *bench7B {
		opts, typ = bench7BOptions, "Q4_K"
	}
	base := filepath.Join(os.TempDir(), fmt.Sprintf("xraygpt-llama-bench-%dx%d-s%d", opts.NEmbd, opts.NLayer, opts.Seed))
	f16 := base + "-F16.gguf"
	need := uint64(llamatest.Params(opts)) * 4 // F16 file plus a quantized copy
	if typ == "Q4_K" {
		need = uint64(llamatest.Params(opts)) * 9 / 16
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(os.TempDir(), &st); err == nil && st.Bavail*uint64(st.Bsize) < need {
		b.Skipf("benchmark model needs about %d MB in %s", need>>20, os.TempDir())
	}
	write := func(path string, f func() error) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		b.Logf("writing benchmark model %s", path)
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	switch typ {
	case "F32", "F16", "Q4_K":
		path := base + "-" + typ + ".gguf"
		write(path, func() error {
			o := opts
			o.Type = map[string]gguf.Type{"F32": gguf.TypeF32, "F16": gguf.TypeF16, "Q4_K": gguf.TypeQ4_K}[typ]
			return llamatest.Write(path, o)
		})
		return path
	}
	write(f16, func() error { o := opts; o.Type = gguf.TypeF16; return llamatest.Write(f16, o) })
	path := base + "-" + typ + ".gguf"
	write(path, func() error {
		return llama.Quantize(context.Background(), f16, path, llama.QuantizeOptions{Type: typ})
	})
	return path
}

// timer measures wall time and the calling thread's CPU time. With one
// llama.cpp thread all compute runs on the calling thread, so CPU time is
// a measure that load from other processes on the machine barely moves.
type timer struct {
	wall, cpu time.Duration
	w0, c0    time.Time
	cpu0      time.Duration
}

func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (t *timer) start() { t.w0 = time.Now(); t.cpu0 = threadCPU() }
func (t *timer) stop() {
	t.wall += time.Since(t.w0)
	t.cpu += threadCPU() - t.cpu0
}

type benchEnv struct {
	m      *llama.Model
	c      *llama.Context
	prompt []llama.Token
}

func newBenchEnv(b *testing.B, path string) *benchEnv {
	m, err := llama.LoadModel(path, llama.ModelOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	threads := benchThreadCount()
	n := *benchPrompt
	c, err := llama.NewContext(m, llama.ContextOptions{NCtx: n + *benchGen + 16, NBatch: 512, Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	words := strings.Repeat("the chest x-ray shows no pleural effusion and the heart size is normal ", n)
	toks, err := m.Tokenize(words, true, false)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: %s, %d params, %d threads, prompt %d tokens", filepath.Base(path), m.Description(), m.ParamCount(), threads, n)
	return &benchEnv{m: m, c: c, prompt: toks[:n]}
}

// BenchmarkPrompt measures prompt processing through Decode against the C
// reference loop on the same context, interleaved iteration by iteration
// so that load from other processes hits both alike.
//
//	eval "$(make -s env)" && go test -run '^$' -bench 'Prompt|Generation' -benchtime 5x ./llama/
func BenchmarkPrompt(b *testing.B) {
	runtime.LockOSThread() // for the per-thread CPU time
	defer runtime.UnlockOSThread()
	e := newBenchEnv(b, benchModelPath(b))
	ctx := context.Background()
	var goT, cT timer
	for i := 0; i < b.N; i++ {
		e.c.Clear()
		goT.start()
		if err := e.c.Decode(ctx, llama.TokenInput(e.prompt)); err != nil {
			b.Fatal(err)
		}
		goT.stop()
		e.c.Clear()
		cT.start()
		if err := llama.BenchPromptC(e.c, e.prompt, e.c.NBatch()); err != nil {
			b.Fatal(err)
		}
		cT.stop()
	}
	reportPair(b, len(e.prompt)*b.N, goT, cT)
}

// BenchmarkGeneration measures token-by-token generation (greedy): Sample
// and Decode from Go, against the C loop of llama_decode and
// llama_sampler_sample, and the Generate helper (which also detokenizes and
// matches stop strings).
func BenchmarkGeneration(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	benchGeneration(b, newBenchEnv(b, benchModelPath(b)))
}

// BenchmarkGenerationTiny runs BenchmarkGeneration's loops on the 64-wide
// test model, where a decode takes tens of microseconds, to bound the Go
// API's cost per token (reported as overhead-µs/token).
func BenchmarkGenerationTiny(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	benchGeneration(b, newBenchEnv(b, modelPath(b, "tiny", tinyOptions)))
}

func benchGeneration(b *testing.B, e *benchEnv) {
	ctx := context.Background()
	n := *benchGen
	s, err := llama.NewSampler(e.m, llama.SamplerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	short := e.prompt[:8]
	prefill := func() llama.Token {
		e.c.Clear()
		if err := e.c.Decode(ctx, llama.TokenInput(short)); err != nil {
			b.Fatal(err)
		}
		tok, err := s.Sample(e.c)
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
	var goT, cT timer
	var genTime time.Duration
	genTokens := 0
	for i := 0; i < b.N; i++ {
		tok := prefill()
		goT.start()
		for j := 0; j < n; j++ {
			if err := e.c.Decode(ctx, llama.TokenInput([]llama.Token{tok})); err != nil {
				b.Fatal(err)
			}
			if tok, err = s.Sample(e.c); err != nil {
				b.Fatal(err)
			}
		}
		goT.stop()

		tok = prefill()
		cT.start()
		if err := llama.BenchGenerateC(e.c, s, tok, len(short), n); err != nil {
			b.Fatal(err)
		}
		cT.stop()

		e.c.Clear()
		g, err := e.c.Generate(ctx, []llama.Input{llama.TokenInput(short)}, llama.GenerateOptions{
			MaxTokens: n, Stop: []string{"###"}, Sampler: s})
		if err != nil {
			b.Fatal(err)
		}
		genTime += g.GenTime
		genTokens += len(g.Tokens)
	}
	reportPair(b, n*b.N, goT, cT)
	b.ReportMetric(float64(genTokens)/genTime.Seconds(), "generate-tok/s")
	if benchThreadCount() == 1 {
		b.ReportMetric(float64((goT.cpu-cT.cpu).Microseconds())/float64(n*b.N), "overhead-µs/token")
	}
}

// reportPair reports tokens/s of the Go API and the C loop, and the Go
// overhead in percent, from wall time and, with one thread, CPU time.
func reportPair(b *testing.B, tokens int, goT, cT timer) {
	goRate := float64(tokens) / goT.wall.Seconds()
	cRate := float64(tokens) / cT.wall.Seconds()
	b.ReportMetric(goRate, "go-tok/s")
	b.ReportMetric(cRate, "c-tok/s")
	b.ReportMetric(100*(goT.wall.Seconds()/cT.wall.Seconds()-1), "overhead-%")
	if benchThreadCount() == 1 && goT.cpu > 0 && cT.cpu > 0 {
		b.ReportMetric(float64(tokens)/goT.cpu.Seconds(), "go-cpu-tok/s")
		b.ReportMetric(float64(tokens)/cT.cpu.Seconds(), "c-cpu-tok/s")
		b.ReportMetric(100*(goT.cpu.Seconds()/cT.cpu.Seconds()-1), "cpu-overhead-%")
	}
}

func benchThreadCount() int {
	if *benchThreads > 0 {
		return *benchThreads
	}
	return runtime.NumCPU()
}

// BenchmarkVerify measures what speculative decoding pays to verify draft
// tokens: one DecodeRuns step of k tokens with logits at every position
// (k-1 drafts and the last sampled token) after a prompt of -llama.prompt
// positions, for k = 1, 2, 4 and 8, with llama.cpp's flash-attention
// kernels on and off. It reports the median time of each step and its
// ratio to the step of one token (the steps interleaved iteration by
// iteration, so that load from other processes hits all alike). Drafting
// gains where 1 + the drafts accepted per step exceeds the ratio. The demo
// model and the 7B shape:
//
//	go test ./llama/ -run '^$' -bench Verify -benchtime 100x -llama.threads 1 -llama.prompt 150 -llama.model $PWD/demo/radllama-demo-q8_0.gguf
//	go test ./llama/ -run '^$' -bench Verify -benchtime 5x -llama.7b
func BenchmarkVerify(b *testing.B) {
	path := benchModelPath(b)
	m, err := llama.LoadModel(path, llama.ModelOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ks := []int{1, 2, 4, 8}
	for _, fa := range []struct {
		name string
		fa   llama.FlashAttention
	}{{"flash=on", llama.FlashOn}, {"flash=off", llama.FlashOff}} {
		b.Run(fa.name, func(b *testing.B) {
			n := *benchPrompt
			c, err := llama.NewContext(m, llama.ContextOptions{NCtx: n + 16, Threads: benchThreadCount(), FlashAttention: fa.fa})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			words := strings.Repeat("the chest x-ray shows no pleural effusion and the heart size is normal ", n)
			toks, err := m.Tokenize(words, true, false)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := c.DecodeRuns(ctx, []llama.Run{{Seq: 0, Pos: 0, Input: llama.TokenInput(toks[:n])}}); err != nil {
				b.Fatal(err)
			}
			steps := make([][]time.Duration, len(ks))
			for range b.N {
				for i, k := range ks {
					in := llama.TokenInput(toks[n : n+k])
					in.Logits = true
					start := time.Now()
					if err := c.DecodeRuns(ctx, []llama.Run{{Seq: 0, Pos: n, Input: in}}); err != nil {
						b.Fatal(err)
					}
					steps[i] = append(steps[i], time.Since(start))
					if err := c.RemoveRange(0, n, -1); err != nil {
						b.Fatal(err)
					}
				}
			}
			med := make([]float64, len(ks))
			for i, k := range ks {
				slices.Sort(steps[i])
				med[i] = steps[i][len(steps[i])/2].Seconds()
				b.ReportMetric(med[i]*1000, fmt.Sprintf("k%d-ms", k))
				if k > 1 {
					b.ReportMetric(med[i]/med[0], fmt.Sprintf("k%d/k1", k))
				}
			}
		})
	}
}
