package llama_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/llama"
	"github.com/xraygpt-go/xraygpt/llama/llamatest"
)

func TestModelMetadata(t *testing.T) {
	m := tinyModel(t)
	toks, _, _ := llamatest.Vocab()
	checks := []struct {
		name      string
		got, want any
	}{
		{"NEmbd", m.NEmbd(), 64},
		{"NVocab", m.NVocab(), len(toks)},
		{"NCtxTrain", m.NCtxTrain(), 2048},
		{"NLayer", m.NLayer(), 2},
		{"NHead", m.NHead(), 4},
		{"Arch", m.Arch(), "llama"},
		{"ParamCount", m.ParamCount(), uint64(llamatest.Params(tinyOptions))},
		{"BOS", m.BOS(), llama.Token(llamatest.BOS)},
		{"EOS", m.EOS(), llama.Token(llamatest.EOS)},
		{"EOT", m.Special().EOT, llama.NoToken},
		{"NL text", m.TokenText(m.Special().NL), "<0x0A>"},
		{"AddBOS", m.Special().AddBOS, true},
		{"IsEOG(EOS)", m.IsEOG(m.EOS()), true},
		{"IsEOG(BOS)", m.IsEOG(m.BOS()), false},
		{"TokenText(3+256)", m.TokenText(3 + 256), toks[3+256]},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if v, ok := m.Meta("llama.block_count"); !ok || v != "2" {
		t.Errorf(`Meta("llama.block_count") = %q, %v; want "2", true`, v, ok)
	}
	if _, ok := m.Meta("no.such.key"); ok {
		t.Error("Meta of a missing key reported ok")
	}
	md, err := m.Metadata()
	if err != nil || md["general.architecture"] != "llama" {
		t.Errorf("Metadata()[general.architecture] = %q, %v", md["general.architecture"], err)
	}
	if !strings.HasPrefix(m.Description(), "llama") {
		t.Errorf("Description() = %q, want a llama description", m.Description())
	}
	// Each 2-D tensor holds F32 values: 4 bytes a parameter, plus norms.
	if m.Size() != 4*m.ParamCount() {
		t.Errorf("Size() = %d, want %d (F32)", m.Size(), 4*m.ParamCount())
	}
}

func TestLoadProgress(t *testing.T) {
	path := modelPath(t, "tiny", tinyOptions)
	var calls []float32
	m, err := llama.LoadModel(path, llama.ModelOptions{NoMmap: true, Progress: func(f float32) bool {
		calls = append(calls, f)
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if len(calls) == 0 || calls[len(calls)-1] != 1 {
		t.Errorf("progress calls %v, want them to end at 1", calls)
	}
	_, err = llama.LoadModel(path, llama.ModelOptions{Progress: func(float32) bool { return false }})
	if !errors.Is(err, llama.ErrLoadAborted) {
		t.Errorf("aborted load: err = %v, want ErrLoadAborted", err)
	}
}

// TestLoadBadFiles checks that broken files give clear errors, never a crash.
func TestLoadBadFiles(t *testing.T) {
	good, err := os.ReadFile(modelPath(t, "tiny", tinyOptions))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	corrupt := func(off int, b ...byte) []byte {
		d := append([]byte(nil), good...)
		copy(d[off:], b)
		return d
	}
	cases := []struct {
		name   string
		path   string
		target error  // errors.Is target, or nil
		substr string // the error text must contain this
	}{
		{"missing", filepath.Join(dir, "missing.gguf"), fs.ErrNotExist, "missing.gguf"},
		{"directory", dir, fileio.ErrNotRegular, "a folder"},
		{"device", "/dev/zero", fileio.ErrNotRegular, "a device"},
		{"empty", write("empty.gguf", nil), llama.ErrNotGGUF, "too short"},
		{"not gguf", write("image.png", []byte("\x89PNG\r\n\x1a\nxxxxxxxxxxxx")), llama.ErrNotGGUF, "image.png"},
		{"header only", write("header.gguf", good[:24]), nil, "header.gguf"},
		{"truncated half", write("half.gguf", good[:len(good)/2]), nil, "truncated"},
		{"truncated end", write("end.gguf", good[:len(good)-1]), nil, "truncated"},
		{"bad version", write("version.gguf", corrupt(4, 99, 0, 0, 0)), nil, "version"},
		{"huge tensor count", write("count.gguf", corrupt(8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0)), nil, "count.gguf"},
		{"huge kv count", write("kv.gguf", corrupt(16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0)), nil, "kv.gguf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := llama.LoadModel(tc.path, llama.ModelOptions{})
			if err == nil {
				m.Close()
				t.Fatal("loaded a broken file")
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.target)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("err = %q, want it to mention %q", err, tc.substr)
			}
		})
	}
}

// TestLoadBadMetadata hands llama.cpp well-formed GGUF files whose
// metadata is wrong: the errors come from llama.cpp's log (captured per
// call) or, where llama.cpp would abort the process or read out of bounds,
// from LoadModel's own checks.
func TestLoadBadMetadata(t *testing.T) {
	in := modelPath(t, "tiny", tinyOptions)
	dir := t.TempDir()
	noEmbd := filepath.Join(dir, "noembd.gguf")
	opts := tinyOptions
	opts.Omit = []string{"token_embd.weight"}
	if err := llamatest.Write(noEmbd, opts); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		set    map[string]any
		target error
		substr string
	}{
		{"missing tensor", nil, nil, "token_embd.weight"},
		{"no blocks", map[string]any{"llama.block_count": uint32(0)}, llama.ErrBadModel, "block_count"},
		{"short scores", map[string]any{"tokenizer.ggml.scores": []float32{1, 2}}, llama.ErrBadModel, "tokenizer.ggml.scores"},
		{"short token types", map[string]any{"tokenizer.ggml.token_type": []int32{1}}, llama.ErrBadModel, "token_type"},
		{"negative epsilon", map[string]any{"llama.attention.layer_norm_rms_epsilon": float32(-1)}, llama.ErrBadModel, "epsilon"},
		{"BOS outside the vocabulary", map[string]any{"tokenizer.ggml.bos_token_id": uint32(99999)}, llama.ErrBadModel, "bos_token_id"},
		{"wrong key type", map[string]any{"llama.embedding_length": "wide"}, nil, "llama.embedding_length"},
		{"width mismatch", map[string]any{"llama.embedding_length": uint32(65)}, nil, "wrong shape"},
		{"unknown architecture", map[string]any{"general.architecture": "nonesuch"}, nil, "nonesuch"},
		{"no vocabulary", map[string]any{"tokenizer.ggml.tokens": nil}, nil, "vocab"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := noEmbd
			if tc.set != nil {
				path = filepath.Join(dir, fmt.Sprintf("case%d.gguf", i))
				rewriteGGUF(t, in, path, tc.set)
			}
			m, err := llama.LoadModel(path, llama.ModelOptions{})
			if err == nil {
				m.Close()
				t.Fatal("loaded a broken model")
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Errorf("err = %v, want %v", err, tc.target)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("err = %q, want it to mention %q", err, tc.substr)
			}
		})
	}
}

func TestUseAfterClose(t *testing.T) {
	path := modelPath(t, "tiny", tinyOptions)
	m, err := llama.LoadModel(path, llama.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := llama.NewContext(m, llama.ContextOptions{NCtx: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := llama.NewSampler(m, llama.SamplerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	toks := tokenize(t, m, "the lungs", true)
	ctx := context.Background()

	// Closing the model keeps it alive for the open context.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Tokenize("x", true, false); !errors.Is(err, llama.ErrClosed) {
		t.Errorf("Tokenize after Close: err = %v, want ErrClosed", err)
	}
	if _, err := llama.NewContext(m, llama.ContextOptions{}); !errors.Is(err, llama.ErrClosed) {
		t.Errorf("NewContext after Close: err = %v, want ErrClosed", err)
	}
	if err := c.Decode(ctx, llama.TokenInput(toks)); err != nil {
		t.Errorf("Decode on a context of a closed model: %v", err)
	}
	if _, err := s.Sample(c); err != nil {
		t.Errorf("Sample: %v", err)
	}

	for i := 0; i < 2; i++ { // double Close is fine
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for name, err := range map[string]error{
		"Decode":      c.Decode(ctx, llama.TokenInput(toks)),
		"Clear":       c.Clear(),
		"RemoveRange": c.RemoveRange(0, 0, -1),
		"Accept":      s.Accept(toks...),
		"Reset":       s.Reset(),
	} {
		if !errors.Is(err, llama.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
	if _, err := c.Logits(0); !errors.Is(err, llama.ErrClosed) {
		t.Errorf("Logits after Close: err = %v, want ErrClosed", err)
	}
	if _, err := s.Sample(c); !errors.Is(err, llama.ErrClosed) {
		t.Errorf("Sample after Close: err = %v, want ErrClosed", err)
	}
	if _, err := c.SaveSeq(0); !errors.Is(err, llama.ErrClosed) {
		t.Errorf("SaveSeq after Close: err = %v, want ErrClosed", err)
	}
	if _, err := c.Generate(ctx, nil, llama.GenerateOptions{}); !errors.Is(err, llama.ErrClosed) {
		t.Errorf("Generate after Close: err = %v, want ErrClosed", err)
	}
	if c.Pos(0) != 0 || m.TokenPiece(5) != "" || m.IsEOG(2) {
		t.Error("accessors after Close should return zero values")
	}
}

func TestBadDecodeInput(t *testing.T) {
	m := tinyModel(t)
	c := newContext(t, m, llama.ContextOptions{NCtx: 32, NBatch: 8})
	ctx := context.Background()
	toks := tokenize(t, m, "the heart", true)
	long := make([]llama.Token, 40)
	for i := range long {
		long[i] = toks[i%len(toks)]
	}
	cases := []struct {
		name   string
		inputs []llama.Input
		target error
	}{
		{"longer than n_ctx", []llama.Input{llama.TokenInput(long)}, llama.ErrContextFull},
		{"wrong width", []llama.Input{llama.EmbeddingInput(make([]float32, 3*48), 48)}, llama.ErrBadEmbeddingWidth},
		{"width not set", []llama.Input{{Embeddings: make([]float32, 64)}}, llama.ErrBadEmbeddingWidth},
		{"ragged rows", []llama.Input{llama.EmbeddingInput(make([]float32, 100), 64)}, llama.ErrBadEmbeddingWidth},
		{"token out of vocabulary", []llama.Input{llama.TokenInput([]llama.Token{1, llama.Token(m.NVocab())})}, llama.ErrBadInput},
		{"negative token", []llama.Input{llama.TokenInput([]llama.Token{-5})}, llama.ErrBadInput},
		{"both kinds in one input", []llama.Input{{Tokens: toks, Embeddings: make([]float32, 64), Width: 64}}, llama.ErrBadInput},
		{"nothing", nil, llama.ErrBadInput},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Decode(ctx, tc.inputs...)
			if !errors.Is(err, tc.target) {
				t.Errorf("err = %v, want %v", err, tc.target)
			}
			if c.Pos(0) != 0 {
				t.Errorf("Pos after a failed decode = %d, want 0", c.Pos(0))
			}
		})
	}
	// A rejected call changes nothing: the last logits are still there.
	if err := c.Decode(ctx, llama.TokenInput(toks)); err != nil {
		t.Fatal(err)
	}
	want, err := c.Logits(len(toks) - 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Decode(ctx, llama.TokenInput([]llama.Token{-1})); !errors.Is(err, llama.ErrBadInput) {
		t.Fatalf("err = %v", err)
	}
	if got, err := c.Logits(len(toks) - 1); err != nil || relDiff([][]float32{want}, [][]float32{got}) != 0 {
		t.Errorf("logits after a rejected decode: %v", err)
	}
	if err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	// After filling the context exactly, one more token does not fit.
	if err := c.Decode(ctx, llama.TokenInput(long[:32])); err != nil {
		t.Fatal(err)
	}
	if err := c.Decode(ctx, llama.TokenInput(toks[:1])); !errors.Is(err, llama.ErrContextFull) {
		t.Errorf("decode into a full context: err = %v, want ErrContextFull", err)
	}
	if err := c.DecodeAt(ctx, 3, -1, llama.TokenInput(toks)); !errors.Is(err, llama.ErrBadInput) {
		t.Errorf("decode of sequence 3 in a one-sequence context: err = %v, want ErrBadInput", err)
	}
}

func TestDevices(t *testing.T) {
	devs := llama.Devices()
	var cpu *llama.Device
	for i := range devs {
		if devs[i].Type == llama.DeviceCPU {
			cpu = &devs[i]
		}
	}
	if cpu == nil {
		t.Fatalf("no CPU device in %+v", devs)
	}
	if cpu.Name == "" || cpu.TotalMemory == 0 {
		t.Errorf("CPU device %+v lacks a name or memory size", *cpu)
	}
	if !strings.Contains(llama.SystemInfo(), "CPU") {
		t.Errorf("SystemInfo() = %q", llama.SystemInfo())
	}
	if err := llama.LoadBackends(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadBackends of a missing folder succeeded")
	}
}

func TestSetLogOutput(t *testing.T) {
	var buf strings.Builder
	llama.SetLogOutput(&buf, llama.LogInfo)
	m, err := llama.LoadModel(modelPath(t, "tiny", tinyOptions), llama.ModelOptions{})
	llama.SetLogOutput(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if !strings.Contains(buf.String(), "llama_model_loader") {
		t.Errorf("log output lacks llama.cpp's loader lines: %q", buf.String())
	}
	n := buf.Len()
	m, err = llama.LoadModel(modelPath(t, "tiny", tinyOptions), llama.ModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if buf.Len() != n {
		t.Errorf("%d bytes logged after SetLogOutput(nil)", buf.Len()-n)
	}
}

// TestCleanupWithoutClose drops models and contexts without closing them:
// the cleanups free them, contexts before their model, without a crash.
func TestCleanupWithoutClose(t *testing.T) {
	path := modelPath(t, "tiny", tinyOptions)
	for i := 0; i < 3; i++ {
		func() {
			m, err := llama.LoadModel(path, llama.ModelOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c, err := llama.NewContext(m, llama.ContextOptions{NCtx: 64, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Decode(context.Background(), llama.EmbeddingInput(make([]float32, 2*m.NEmbd()), m.NEmbd())); err != nil {
				t.Fatal(err)
			}
		}()
		runtime.GC()
		runtime.GC()
	}
}
