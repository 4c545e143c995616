package llama_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/llama"
	"github.com/xraygpt-go/xraygpt/llama/llamatest"
)

// TestQuantize quantizes a 256-wide model (K-quants need rows that are a
// multiple of 256), loads the results and generates with them; Q8_0
// logits must stay close to the F32 model's.
func TestQuantize(t *testing.T) {
	opts := llamatest.Options{NEmbd: 256, NLayer: 2, NHead: 4, Seed: 3}
	in := modelPath(t, "w256", opts)
	ref := loadModel(t, "w256", opts)
	prompt := tokenize(t, ref, "the lungs are clear", true)
	logits := func(m *llama.Model) []float32 {
		c := newContext(t, m, llama.ContextOptions{NCtx: 64})
		if err := c.Decode(context.Background(), llama.TokenInput(prompt)); err != nil {
			t.Fatal(err)
		}
		l, err := c.Logits(len(prompt) - 1)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	want := logits(ref)
	dir := t.TempDir()
	for _, tc := range []struct {
		typ      string
		fileType string  // general.file_type llama.cpp records
		tol      float64 // relative logit difference to the F32 model
	}{
		{"Q8_0", "7", 0.03},
		{"q4_k_m", "15", 0.25},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			out := filepath.Join(dir, tc.typ+".gguf")
			if err := llama.Quantize(context.Background(), in, out, llama.QuantizeOptions{Type: tc.typ, Threads: 1}); err != nil {
				t.Fatal(err)
			}
			m, err := llama.LoadModel(out, llama.ModelOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if ft, _ := m.Meta("general.file_type"); ft != tc.fileType {
				t.Errorf("general.file_type = %q, want %q", ft, tc.fileType)
			}
			if m.Size() >= ref.Size()/3 {
				t.Errorf("quantized size %d is not well below the F32 size %d", m.Size(), ref.Size())
			}
			d := relDiff([][]float32{want}, [][]float32{logits(m)})
			t.Logf("%s: relative logit difference to F32 %.3g", tc.typ, d)
			if d > tc.tol {
				t.Errorf("logits differ from the F32 model by %.3g (relative), want <= %g", d, tc.tol)
			}
			c := newContext(t, m, llama.ContextOptions{NCtx: 64})
			g, err := c.Generate(context.Background(), []llama.Input{llama.TokenInput(prompt)}, llama.GenerateOptions{MaxTokens: 5})
			if err != nil || len(g.Tokens) == 0 {
				t.Errorf("generate with the quantized model: %v, %+v", err, g)
			}
			// No temporary file is left behind.
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp") {
					t.Errorf("temporary file %s left in %s", e.Name(), dir)
				}
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		err := llama.Quantize(context.Background(), in, filepath.Join(dir, "x.gguf"), llama.QuantizeOptions{Type: "Q9_X"})
		if !errors.Is(err, llama.ErrBadInput) || !strings.Contains(err.Error(), "Q4_K_M") {
			t.Errorf("unknown type: err = %v, want ErrBadInput listing the valid types", err)
		}
		err = llama.Quantize(context.Background(), filepath.Join(dir, "missing.gguf"), filepath.Join(dir, "x.gguf"), llama.QuantizeOptions{Type: "Q8_0"})
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("missing input: err = %v", err)
		}
		err = llama.Quantize(context.Background(), in, filepath.Join(dir, "no", "such", "dir.gguf"), llama.QuantizeOptions{Type: "Q8_0"})
		if err == nil {
			t.Error("quantize into a missing folder succeeded")
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := llama.Quantize(ctx, in, filepath.Join(dir, "c.gguf"), llama.QuantizeOptions{Type: "Q8_0"}); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: err = %v", err)
		}
		if got := llama.QuantTypes(); len(got) < 10 || !strings.Contains(strings.Join(got, " "), "Q5_K_M") {
			t.Errorf("QuantTypes() = %v", got)
		}
	})
}

// TestRandomQ4KModel loads a model whose weights llamatest wrote directly
// as random Q4_K blocks (what the 7B-shaped benchmark uses) and checks it
// produces finite, spread logits.
func TestRandomQ4KModel(t *testing.T) {
	m := loadModel(t, "q4k", llamatest.Options{NEmbd: 256, NFF: 512, Type: gguf.TypeQ4_K, Seed: 4})
	c := newContext(t, m, llama.ContextOptions{NCtx: 64})
	toks := tokenize(t, m, "the lungs are clear", true)
	if err := c.Decode(context.Background(), llama.TokenInput(toks)); err != nil {
		t.Fatal(err)
	}
	l, err := c.Logits(len(toks) - 1)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := l[0], l[0]
	for _, v := range l {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite logit %v", v)
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi-lo < 1 {
		t.Errorf("logits span only [%g, %g]", lo, hi)
	}
}
