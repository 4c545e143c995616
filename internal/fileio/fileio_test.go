package fileio

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestOpenRegularRefusesFIFOWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		f, err := OpenRegular(fifo)
		if f != nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Fatalf("OpenRegular(fifo) = %v, want ErrNotRegular", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OpenRegular blocked on a named pipe")
	}
	if err := CheckRegular(fifo); !errors.Is(err, ErrNotRegular) {
		t.Errorf("CheckRegular(fifo) = %v, want ErrNotRegular", err)
	}
	if _, err := ReadRegular(dir, 0); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadRegular(folder) = %v, want ErrNotRegular", err)
	}
	if _, err := ReadRegular("/dev/zero", 10); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadRegular(/dev/zero) = %v, want ErrNotRegular", err)
	}
}

func TestReadRegularLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRegular(p, 9); !errors.Is(err, ErrTooLarge) {
		t.Errorf("10 bytes with limit 9: %v, want ErrTooLarge", err)
	}
	b, err := ReadRegular(p, 10)
	if err != nil || string(b) != "0123456789" {
		t.Errorf("10 bytes with limit 10: %q, %v", b, err)
	}
}

func TestWriteAtomicKeepsOldContentOnError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.txt")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteAtomic(p, 0o644, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("after a failed write the file holds %q, want the old content", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary file left behind: %v", entries)
	}
	if err := WriteAtomic(p, 0o644, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("file holds %q, want new", b)
	}
}

func TestWriteAtomicModeFollowsUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	p := filepath.Join(t.TempDir(), "out.bin")
	if err := WriteAtomic(p, 0o666, func(w io.Writer) error { return nil }); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 (0666 less umask 022)", st.Mode().Perm())
	}
	pend, err := TempFor(filepath.Join(filepath.Dir(p), "q.gguf"), 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := pend.Commit(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(filepath.Dir(p), "q.gguf")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("TempFor+Commit: %v, %v, want mode 0644", st, err)
	}
}

func TestSameFile(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	os.WriteFile(a, nil, 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	if !SameFile(a, link) || !SameFile(a, filepath.Join(dir, ".", "a")) {
		t.Error("a and a link to it are not the same file")
	}
	if SameFile(a, filepath.Join(dir, "missing")) {
		t.Error("a missing file is the same as an existing one")
	}
}
