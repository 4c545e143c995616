// Command e2e measures XrayGPT's whole path on full-size random models:
// a LLaMA-7B-shaped language model quantized to Q4_K_M with our own tools
// and the real-size XrayGPT vision model (EVA ViT-g/14 + Q-Former +
// llama_proj). It reports time to first token against the vision time and
// the prompt decode time measured alone, generation speed and peak RSS
// against the memory budget (LLM file + vision weights in memory + KV cache
// + 300 MB).
//
//	eval "$(make -s env)" && go run ./bench/e2e -dir /tmp/xraygpt-bench
//
// The model files are made once in -dir (about 18 GB of disk while
// quantizing, 6.5 GB after) and reused.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/xraygpt-go/xraygpt/engine"
	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/imaging"
	"github.com/xraygpt-go/xraygpt/internal/timing"
	"github.com/xraygpt-go/xraygpt/linalg"
	"github.com/xraygpt-go/xraygpt/llama"
	"github.com/xraygpt-go/xraygpt/llama/llamatest"
	"github.com/xraygpt-go/xraygpt/vision"
)

func main() {
	dir := flag.String("dir", filepath.Join(os.TempDir(), "xraygpt-bench"), "folder for the generated models")
	image := flag.String("image", "demo/example-cxr.png", "X-ray to summarize")
	runs := flag.Int("runs", 3, "timed repetitions")
	gen := flag.Int("n", 32, "tokens to generate per answer")
	threads := flag.Int("t", 0, "threads (0: one per core)")
	small := flag.Bool("small", false, "use a small model instead (a quick check of this program)")
	noMmap := flag.Bool("no-mmap", false, "read the language model into memory instead of mapping it")
	q4k := flag.Bool("q4k", false, "write the language model's random weights as Q4_K blocks directly (minutes) instead of F16 quantized to Q4_K_M (an hour on 2 cores)")
	makeOnly := flag.Bool("make-only", false, "only write the model files and print their paths")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	llmPath, visPath, err := makeModels(*dir, *small, *q4k)
	if err != nil {
		log.Fatal(err)
	}
	if *makeOnly {
		fmt.Println(llmPath)
		fmt.Println(visPath)
		return
	}
	// As the CLI does: the vision code parallelizes its products itself.
	linalg.SetThreads(linalg.Default(), 1)
	if err := run(llmPath, visPath, *image, *runs, *gen, *threads, *noMmap); err != nil {
		log.Fatal(err)
	}
}

// makeModels writes the random models once: the language model as F16 with
// llamatest, quantized to Q4_K_M with llama.Quantize; the vision model with
// vision.Tensors' shapes and F16 matrices, as `xraygpt convert vision` does.
func makeModels(dir string, small, q4k bool) (llmPath, visPath string, err error) {
	lopts := llamatest.Options{NEmbd: 4096, NLayer: 32, NHead: 32, NFF: 11008, NCtx: 4096, Type: gguf.TypeF16, Seed: 1}
	vcfg := vision.XrayGPTConfig()
	name := "7b"
	if small {
		lopts = llamatest.Options{NEmbd: 256, NLayer: 4, NHead: 4, NFF: 512, Type: gguf.TypeF16, Seed: 1}
		vcfg.EVA.Blocks, vcfg.QFormer.Layers = 2, 2
		name = "small"
	}
	vcfg.Projector.Out = lopts.NEmbd
	if q4k {
		llmPath = filepath.Join(dir, "llama-"+name+"-q4_k.gguf")
		if _, err := os.Stat(llmPath); err != nil {
			lopts.Type = gguf.TypeQ4_K
			log.Printf("writing %s (%d parameters, Q4_K)", llmPath, llamatest.Params(lopts))
			if err := llamatest.Write(llmPath, lopts); err != nil {
				return "", "", err
			}
		}
	}
	if llmPath == "" {
		llmPath = filepath.Join(dir, "llama-"+name+"-q4_k_m.gguf")
	}
	visPath = filepath.Join(dir, "xraygpt-vision-"+name+".gguf")
	if _, err := os.Stat(llmPath); err != nil && !q4k {
		f16 := filepath.Join(dir, "llama-"+name+"-f16.gguf")
		log.Printf("writing %s (%d parameters)", f16, llamatest.Params(lopts))
		if err := llamatest.Write(f16, lopts); err != nil {
			return "", "", err
		}
		log.Printf("quantizing to %s", llmPath)
		start := time.Now()
		if err := llama.Quantize(context.Background(), f16, llmPath, llama.QuantizeOptions{Type: "Q4_K_M"}); err != nil {
			return "", "", err
		}
		log.Printf("quantized in %s", time.Since(start).Round(time.Second))
		os.Remove(f16)
	}
	if _, err := os.Stat(visPath); err != nil {
		log.Printf("writing %s", visPath)
		if err := writeVision(visPath, vcfg); err != nil {
			return "", "", err
		}
	}
	return llmPath, visPath, nil
}

// writeVision writes random weights (normal, std 0.02; LayerNorm weights 1)
// streaming, so the file need not fit in memory.
func writeVision(path string, cfg vision.Config) error {
	specs, err := vision.Tensors(cfg)
	if err != nil {
		return err
	}
	w := gguf.NewWriter()
	for _, kv := range cfg.KVs() {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, s := range specs {
		n := 1
		ne := make([]uint64, len(s.Shape))
		for i, d := range s.Shape {
			n *= d
			ne[len(s.Shape)-1-i] = uint64(d)
		}
		typ := gguf.TypeF16
		if len(s.Shape) < 2 {
			typ = gguf.TypeF32
		}
		isNormWeight := len(s.Shape) == 1 && (filepath.Ext(s.Name) == ".weight")
		err := w.AddTensorFunc(s.Name, typ, ne, func(out io.Writer) error {
			buf := make([]byte, 0, 1<<16)
			for i := 0; i < n; i++ {
				v := float32(rng.NormFloat64() * 0.02)
				if isNormWeight {
					v = 1
				}
				if typ == gguf.TypeF16 {
					buf = binary.LittleEndian.AppendUint16(buf, linalg.Float32To16(v))
				} else {
					buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				}
				if len(buf) >= 1<<16-4 {
					if _, err := out.Write(buf); err != nil {
						return err
					}
					buf = buf[:0]
				}
			}
			_, err := out.Write(buf)
			return err
		})
		if err != nil {
			return err
		}
	}
	return w.WriteFile(path)
}

func run(llmPath, visPath, imagePath string, runs, nGen, threads int, noMmap bool) error {
	ctx := context.Background()
	e, err := engine.Open(ctx, engine.Options{ModelPath: llmPath, VisionPath: visPath, Threads: threads, NoMmap: noMmap})
	if err != nil {
		return err
	}
	defer e.Close()
	img, err := imaging.Load(imagePath)
	if err != nil {
		return err
	}
	fmt.Printf("models: %s (%s), %s\nload: %s\n", filepath.Base(llmPath), mib(fileSize(llmPath)), filepath.Base(visPath), e.LoadTime().Round(time.Millisecond))

	// Vision alone.
	var vision time.Duration
	for i := 0; i <= runs; i++ {
		start := time.Now()
		if _, err := e.VisionModel().EncodeImage(ctx, img); err != nil {
			return err
		}
		if i > 0 { // the first run warms up
			vision += time.Since(start)
		}
	}
	vision /= time.Duration(runs)

	// Prompt decode alone: the same positions the engine decodes.
	soft, err := e.EncodeImage(ctx, img)
	if err != nil {
		return err
	}
	conv := engine.NewConversation()
	conv.Ask(engine.DefaultQuestion)
	before, after := conv.Prompt()
	llm := e.LanguageModel()
	head, _ := llm.Tokenize(before, true, false)
	text, _ := llm.Tokenize(after, false, false)
	lctx, err := llama.NewContext(llm, llama.ContextOptions{NCtx: engine.DefaultContextSize, Threads: threads})
	if err != nil {
		return err
	}
	var prompt time.Duration
	for i := 0; i <= runs; i++ {
		lctx.Clear()
		start := time.Now()
		if err := lctx.Decode(ctx, llama.TokenInput(head), llama.EmbeddingInput(soft.Tokens, soft.Width), llama.TokenInput(text)); err != nil {
			return err
		}
		if i > 0 {
			prompt += time.Since(start)
		}
	}
	prompt /= time.Duration(runs)
	lctx.Close()
	nPrompt := len(head) + soft.Rows + len(text)

	// The whole path: image to first token. "fresh": a new chat (its KV
	// cache is allocated and first touched) each time, as one summarize run;
	// "reused": one chat whose cache is emptied between images, as batch
	// mode and summarize over several images run (the whole prompt is
	// decoded each time in both).
	gopts := engine.GenerateOptions{MaxTokens: nGen, Temperature: 0, RepeatPenalty: 1}
	// Where the time of each whole-path run went, by the engine's own clocks.
	var inVision, inPrompt time.Duration
	measure := func(chat *engine.Chat) (time.Duration, float64, error) {
		start := time.Now()
		var first time.Duration
		im, err := e.EncodeImage(ctx, img)
		if err != nil {
			return 0, 0, err
		}
		inVision += im.Vision // Ask counts it and sets it to 0
		chat.SetImage(im)
		chat.ClearCache()
		ans, err := chat.Ask(ctx, engine.DefaultQuestion, gopts, func(string) {
			if first == 0 {
				first = time.Since(start)
			}
		})
		if err != nil {
			return 0, 0, err
		}
		inPrompt += ans.Timings.Prompt
		return first, ans.Timings.TokensPerSecond(), nil
	}
	var ttftFresh, ttftReused time.Duration
	var genTPS float64
	for i := 0; i < runs; i++ {
		chat, err := e.NewChat()
		if err != nil {
			return err
		}
		t, tps, err := measure(chat)
		chat.Close()
		if err != nil {
			return err
		}
		ttftFresh += t
		genTPS += tps
	}
	reused, err := e.NewChat()
	if err != nil {
		return err
	}
	for i := 0; i <= runs; i++ {
		t, _, err := measure(reused)
		if err != nil {
			return err
		}
		if i > 0 {
			ttftReused += t
		}
	}
	reused.Close()
	inVision /= time.Duration(2*runs + 1)
	inPrompt /= time.Duration(2*runs + 1)
	ttftFresh /= time.Duration(runs)
	ttftReused /= time.Duration(runs)
	genTPS /= float64(runs)

	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	peak := ru.Maxrss * 1024
	vm := e.VisionModel()
	visionMem := vm.WidenedBytes + vm.PackedBytes + mappedF32(visPath)
	kv := kvBytes(llm)
	budget := fileSize(llmPath) + visionMem + kv + 300<<20

	fmt.Printf("vision alone:        %8.1f ms\n", timing.MS(vision))
	fmt.Printf("prompt alone:        %8.1f ms (%d positions, %.1f tok/s)\n", timing.MS(prompt), nPrompt, timing.PerSecond(nPrompt, prompt))
	fmt.Printf("vision + prompt:     %8.1f ms\n", timing.MS(vision+prompt))
	fmt.Printf("time to first token: %8.1f ms reused chat (%.3fx of vision + prompt), %.1f ms new chat (%.3fx)\n",
		timing.MS(ttftReused), float64(ttftReused)/float64(vision+prompt), timing.MS(ttftFresh), float64(ttftFresh)/float64(vision+prompt))
	fmt.Printf("  inside those runs: vision %.1f ms, prompt %.1f ms (the rest is tokenizing, sampling, the first token)\n", timing.MS(inVision), timing.MS(inPrompt))
	fmt.Printf("generation:          %8.2f tok/s\n", genTPS)
	fmt.Printf("peak RSS:            %s; budget %s = LLM file %s + vision weights in memory %s + KV cache %s + 300 MiB (%.3fx)\n",
		mib(peak), mib(budget), mib(fileSize(llmPath)), mib(visionMem), mib(kv), float64(peak)/float64(budget))
	return nil
}

// mappedF32 is the size of the vision file's F32 tensors, which are used in
// place from the mapping (F16 ones are widened and counted in WidenedBytes,
// or packed and counted in PackedBytes).
func mappedF32(path string) int64 {
	f, err := gguf.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	var n int64
	for _, t := range f.Tensors {
		if t.Type == gguf.TypeF32 {
			s, _ := t.Size()
			n += int64(s)
		}
	}
	return n
}

// kvBytes is llama.cpp's f16 KV cache for the default context.
func kvBytes(m *llama.Model) int64 {
	headDim := m.NEmbd() / m.NHead()
	return int64(engine.DefaultContextSize) * int64(m.NLayer()) * 2 * int64(m.NHeadKV()*headDim) * 2
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
