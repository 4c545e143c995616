package llama_test

import (
	"bytes"
	"context"
	"math"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/llama"
	"github.com/xraygpt-go/xraygpt/llama/llamatest"
)

// TestRepackMatchesPlain loads a Q4_K model with ggml's CPU weight repacking
// (the build defines GGML_USE_CPU_REPACK: ggml's AVX2/AVX-512 Q4_K GEMM and
// GEMV kernels read interleaved blocks) and without it, and checks that the
// repacked buffer is really used and that both give the same logits, for a
// prompt (the GEMM path) and for a single token (the GEMV path), up to the
// 8-bit quantization of the activations: the repacked kernels quantize them
// on another grid (scale 127/amax instead of -127/max), which moves logits
// by about 0.6% of their range here; a wrong interleave moves them by all
// of it.
func TestRepackMatchesPlain(t *testing.T) {
	path := modelPath(t, "q4k-repack", llamatest.Options{NEmbd: 256, NFF: 512, NLayer: 2, Type: gguf.TypeQ4_K, Seed: 7})
	var log bytes.Buffer
	llama.SetLogOutput(&log, llama.LogInfo)
	repacked, err := llama.LoadModel(path, llama.ModelOptions{})
	llama.SetLogOutput(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer repacked.Close()
	plain, err := llama.LoadModel(path, llama.WithoutRepack(llama.ModelOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if runtime.GOARCH == "amd64" && cpu.X86.HasAVX2 && !strings.Contains(log.String(), "CPU_REPACK") {
		t.Errorf("no CPU_REPACK buffer in llama.cpp's load log on an AVX2 CPU (is GGML_USE_CPU_REPACK defined?):\n%s", log.String())
	}

	prompt := make([]llama.Token, 48)
	for i := range prompt {
		prompt[i] = llama.Token(3 + (i*37)%200)
	}
	logits := func(m *llama.Model) (batch, single []float32) {
		c := newContext(t, m, llama.ContextOptions{NCtx: 256})
		if err := c.Decode(context.Background(), llama.TokenInput(prompt)); err != nil {
			t.Fatal(err)
		}
		l, err := c.Logits(len(prompt) - 1)
		if err != nil {
			t.Fatal(err)
		}
		batch = append([]float32(nil), l...)
		if err := c.Decode(context.Background(), llama.TokenInput([]llama.Token{5})); err != nil {
			t.Fatal(err)
		}
		l, err = c.Logits(len(prompt))
		if err != nil {
			t.Fatal(err)
		}
		return batch, append([]float32(nil), l...)
	}
	rb, rs := logits(repacked)
	pb, ps := logits(plain)
	for _, tc := range []struct {
		name          string
		repack, plain []float32
	}{{"prompt", rb, pb}, {"one token", rs, ps}} {
		var diff, scale float64
		for i := range tc.plain {
			diff = math.Max(diff, math.Abs(float64(tc.repack[i]-tc.plain[i])))
			scale = math.Max(scale, math.Abs(float64(tc.plain[i])))
		}
		t.Logf("%s: max |repacked - plain| %.3g (logits up to %.3g)", tc.name, diff, scale)
		if !(diff <= 2e-2*scale) || scale == 0 {
			t.Errorf("%s: repacked logits differ from plain ones by %.3g (scale %.3g)", tc.name, diff, scale)
		}
	}
}
