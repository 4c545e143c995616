package llama_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/llama"
	"github.com/xraygpt-go/xraygpt/llama/llamatest"
)

// testDir holds the models the tests write (llamatest, seeded: the same
// files on every run).
var testDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "llama-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tinyOptions is the default test model: 64 wide, 2 layers, F32 weights.
var tinyOptions = llamatest.Options{Seed: 1}

var models sync.Map // path -> *modelOnce

type modelOnce struct {
	once sync.Once
	m    *llama.Model
	err  error
}

// modelPath writes the model opts describe once per test binary.
func modelPath(t testing.TB, name string, opts llamatest.Options) string {
	t.Helper()
	path := filepath.Join(testDir, name+".gguf")
	v, _ := models.LoadOrStore("write:"+path, &modelOnce{})
	mo := v.(*modelOnce)
	mo.once.Do(func() { mo.err = llamatest.Write(path, opts) })
	if mo.err != nil {
		t.Fatal(mo.err)
	}
	return path
}

// loadModel loads a test model once per test binary; it is shared by tests
// (a Model is safe for concurrent use) and never closed.
func loadModel(t testing.TB, name string, opts llamatest.Options) *llama.Model {
	t.Helper()
	path := modelPath(t, name, opts)
	v, _ := models.LoadOrStore("load:"+path, &modelOnce{})
	mo := v.(*modelOnce)
	mo.once.Do(func() { mo.m, mo.err = llama.LoadModel(path, llama.ModelOptions{}) })
	if mo.err != nil {
		t.Fatal(mo.err)
	}
	return mo.m
}

func tinyModel(t testing.TB) *llama.Model { return loadModel(t, "tiny", tinyOptions) }

// newContext creates a context closed at the end of the test. Tests run
// llama.cpp on one thread unless they ask for more: ggml's threads
// spin-wait for each other, which is very slow on an oversubscribed machine
// (the CI and development machines have 2 shared cores).
func newContext(t testing.TB, m *llama.Model, opts llama.ContextOptions) *llama.Context {
	t.Helper()
	if opts.Threads == 0 {
		opts.Threads = 1
	}
	c, err := llama.NewContext(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tokenize(t testing.TB, m *llama.Model, text string, addSpecial bool) []llama.Token {
	t.Helper()
	toks, err := m.Tokenize(text, addSpecial, false)
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

// embeddingRows reads the rows of token_embd.weight for toks from the GGUF
// file with package gguf: an independent path to the same numbers
// llama.cpp uses for token inputs.
func embeddingRows(t testing.TB, path string, toks []llama.Token) ([]float32, int) {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, ok := f.Tensor("token_embd.weight")
	if !ok {
		t.Fatal("no token_embd.weight")
	}
	emb, err := f.TensorFloat32("token_embd.weight")
	if err != nil {
		t.Fatal(err)
	}
	width := int(info.Ne[0])
	out := make([]float32, 0, len(toks)*width)
	for _, tok := range toks {
		out = append(out, emb[int(tok)*width:(int(tok)+1)*width]...)
	}
	return out, width
}

// logitsAt returns the logits of the last Decode at positions p0..p1-1.
func logitsAt(t testing.TB, c *llama.Context, p0, p1 int) [][]float32 {
	t.Helper()
	var out [][]float32
	for p := p0; p < p1; p++ {
		l, err := c.Logits(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

// relDiff is max|a-b| / max|a| over all rows.
func relDiff(a, b [][]float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return math.Inf(1)
		}
		for j := range a[i] {
			num = math.Max(num, math.Abs(float64(a[i][j]-b[i][j])))
			den = math.Max(den, math.Abs(float64(a[i][j])))
		}
	}
	return num / den
}

func argmax(v []float32) llama.Token {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return llama.Token(best)
}

// rewriteGGUF copies the GGUF file in to out, replacing metadata values
// (a nil value drops the key), to build broken models.
func rewriteGGUF(t testing.TB, in, out string, set map[string]any) {
	t.Helper()
	f, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter()
	for _, kv := range f.KVs {
		v := kv.Value
		if nv, ok := set[kv.Key]; ok {
			v = nv
		}
		if v == nil {
			continue
		}
		if err := w.AddKV(kv.Key, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range f.Tensors {
		b, err := f.TensorBytes(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(ti.Name, ti.Type, ti.Ne, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFile(out); err != nil {
		t.Fatal(err)
	}
}
