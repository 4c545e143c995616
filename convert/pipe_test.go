package convert

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// TestLLMRefusesPipe checks that LLM refuses a named pipe at once (opening
// one for reading would wait for a writer forever) and says what it is.
func TestLLMRefusesPipe(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "config.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		err := LLM(context.Background(), dir, filepath.Join(t.TempDir(), "out.gguf"), Options{Precision: F16})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, fileio.ErrNotRegular) {
			t.Errorf("got %v, want ErrNotRegular", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked on a named pipe")
	}
}
