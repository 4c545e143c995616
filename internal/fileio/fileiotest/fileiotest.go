// Package fileiotest checks, for tests, that a reader refuses a named pipe
// at once instead of waiting forever for a writer.
package fileiotest

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// RefusesPipe makes a named pipe called name in a temporary folder, calls
// open on its path and fails the test unless open returns an error wrapping
// fileio.ErrNotRegular within 10 seconds.
func RefusesPipe(t testing.TB, name string, open func(path string) error) {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), name)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- open(fifo) }()
	select {
	case err := <-done:
		if !errors.Is(err, fileio.ErrNotRegular) {
			t.Errorf("%s as a named pipe: got %v, want a not-a-regular-file error", name, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: blocked on a named pipe", name)
	}
}
