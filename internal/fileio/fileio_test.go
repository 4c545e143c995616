package fileio

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

func TestLockRefusesSecondWriter(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	l, err := Lock(out)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(out)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock = %v, want ErrLocked", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(msg, out) {
		t.Errorf("error %q names neither the holder nor the file", msg)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lockName(out)); !os.IsNotExist(err) {
		t.Errorf("lock file left behind: %v", err)
	}
	l2, err := Lock(out)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	l2.Unlock()
	l2.Unlock() // idempotent
}

// TestLockReleasedWhenHolderIsKilled runs a child process (this test binary)
// that takes the lock and is killed with SIGKILL: its lock file stays, and
// the next Lock must still succeed.
func TestLockReleasedWhenHolderIsKilled(t *testing.T) {
	if path := os.Getenv("FILEIO_LOCK_CHILD"); path != "" {
		if _, err := Lock(path); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	out := filepath.Join(t.TempDir(), "out.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockReleasedWhenHolderIsKilled$")
	cmd.Env = append(os.Environ(), "FILEIO_LOCK_CHILD="+out)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 7)
	if _, err := io.ReadFull(stdout, line); err != nil || string(line) != "locked\n" {
		cmd.Process.Kill()
		t.Fatalf("child: %q %v", line, err)
	}
	if _, err := Lock(out); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("Lock while the child holds it = %v, want ErrLocked naming pid %d", err, cmd.Process.Pid)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(lockName(out)); err != nil {
		t.Errorf("the killed child's lock file should still be there: %v", err)
	}
	l, err := Lock(out)
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	l.Unlock()
}

func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.WriteFile(in, []byte("x"), 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(in, link)
	hard := filepath.Join(dir, "hard")
	os.Link(in, hard)
	for _, out := range []string{in, link, hard, filepath.Join(dir, ".", "in")} {
		if err := CheckOutput(out, "", filepath.Join(dir, "other"), in); !errors.Is(err, ErrOutputIsInput) {
			t.Errorf("CheckOutput(%s, in) = %v, want ErrOutputIsInput", out, err)
		}
	}
	if err := CheckOutput(dir, in); !errors.Is(err, ErrNotRegular) {
		t.Errorf("CheckOutput(folder) = %v, want ErrNotRegular", err)
	}
	if err := CheckOutput(filepath.Join(dir, "new"), in, link); err != nil {
		t.Errorf("a new output: %v", err)
	}
}
