package llama_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/llama"
)

// TestLoadModelRefusesPipe: llama.cpp would open a named pipe and wait for
// a writer forever; LoadModel and Quantize refuse it first.
func TestLoadModelRefusesPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "model.gguf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan [2]error, 1)
	go func() {
		_, err1 := llama.LoadModel(fifo, llama.ModelOptions{})
		err2 := llama.Quantize(context.Background(), fifo, filepath.Join(t.TempDir(), "q.gguf"), llama.QuantizeOptions{Type: "Q8_0"})
		done <- [2]error{err1, err2}
	}()
	select {
	case errs := <-done:
		for _, err := range errs {
			if !errors.Is(err, fileio.ErrNotRegular) {
				t.Errorf("got %v, want ErrNotRegular", err)
			}
		}
	case <-time.After(20 * time.Second):
		t.Fatal("blocked on a named pipe")
	}
}

// TestLoadModelRefusesLongTensorNames: llama.cpp reads a GGUF whose tensor
// names are longer than ggml's 63 bytes (e.g. a vision file) only to fail;
// LoadModel says what is wrong first.
func TestLoadModelRefusesLongTensorNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vision.gguf")
	w := gguf.NewWriter()
	w.AddKV("general.architecture", "xraygpt_vision")
	name := "qformer.bert.encoder.layer.0.crossattention.self.query.weight_long"
	w.AddFloat32(name, []uint64{2}, []float32{1, 2}, gguf.TypeF32)
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	_, err := llama.LoadModel(path, llama.ModelOptions{})
	if !errors.Is(err, llama.ErrBadModel) || !strings.Contains(err.Error(), name) {
		t.Errorf("LoadModel: %v, want ErrBadModel naming the tensor", err)
	}
}

func TestQuantizeRefusesItsInputAsOutput(t *testing.T) {
	src := modelPath(t, "tiny", tinyOptions)
	in := filepath.Join(t.TempDir(), "in.gguf")
	data, _ := os.ReadFile(src)
	os.WriteFile(in, data, 0o644)
	link := filepath.Join(t.TempDir(), "link.gguf")
	os.Symlink(in, link)
	for _, out := range []string{in, link} {
		err := llama.Quantize(context.Background(), in, out, llama.QuantizeOptions{Type: "F16"})
		if !errors.Is(err, fileio.ErrOutputIsInput) {
			t.Errorf("Quantize(%s, %s): %v, want ErrOutputIsInput", in, out, err)
		}
	}
	if got, _ := os.ReadFile(in); string(got) != string(data) {
		t.Error("the input changed")
	}
}

// TestTooManyThreads: ggml aborts the process when it cannot create the
// threads asked for; more than ggml's maximum is refused before.
func TestTooManyThreads(t *testing.T) {
	m := loadModel(t, "tiny", tinyOptions)
	if _, err := llama.NewContext(m, llama.ContextOptions{NCtx: 64, Threads: 100000}); !errors.Is(err, llama.ErrBadInput) {
		t.Errorf("NewContext with 100000 threads: %v", err)
	}
	if _, err := llama.NewContext(m, llama.ContextOptions{NCtx: 64, Threads: 1, ThreadsBatch: llama.MaxThreads + 1}); !errors.Is(err, llama.ErrBadInput) {
		t.Errorf("NewContext with %d batch threads: %v", llama.MaxThreads+1, err)
	}
	out := filepath.Join(t.TempDir(), "q.gguf")
	if err := llama.Quantize(context.Background(), modelPath(t, "tiny", tinyOptions), out, llama.QuantizeOptions{Type: "F16", Threads: 2000}); !errors.Is(err, llama.ErrBadInput) {
		t.Errorf("Quantize with 2000 threads: %v", err)
	}
}
