package batch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// TestOutputRefusesOtherFiles: only a file that is recognisably a results
// file is resumed; anything else is refused and left byte for byte as it was.
func TestOutputRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"notes.txt":      "my notes\nsecond line\n",
		"one-line.txt":   "no newline at the end",
		"manifest.jsonl": `{"id":"a","image":"a.png","reference":"Clear lungs."}` + "\n",
		"model.gguf":     "GGUF\x03\x00\x00\x00\x00\x00\x00\x00",
		"array.jsonl":    "[1,2,3]\n",
		"mixed.jsonl":    `{"id":"a","image":"a.png","prompt":"p","summary":"s","timings":{}}` + "\nnotes\n",
		"no-id.jsonl":    `{"id":"","image":"a.png","prompt":"p","summary":"s","timings":{}}` + "\n",
		"binary":         "\x00\x01\x02\xff\n\x00",
	}
	for name, content := range cases {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(content), 0o600)
		out, err := OpenOutput(path)
		if err == nil {
			out.Write(Result{ID: "x", Summary: "s"})
			out.Close()
			t.Errorf("%s: accepted as a results file", name)
		} else if !errors.Is(err, ErrNotResults) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want ErrNotResults naming the file", name, err)
		}
		if got, _ := os.ReadFile(path); string(got) != content {
			t.Errorf("%s: changed to %q", name, got)
		}
	}
	// Empty files and files of results are fine.
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	out, err := OpenOutput(empty)
	if err != nil {
		t.Fatalf("empty file: %v", err)
	}
	out.Close()
}

func TestOutputRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "out.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, dir, "/dev/zero"} {
		done := make(chan error, 1)
		go func() {
			out, err := OpenOutput(path)
			if err == nil {
				out.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, fileio.ErrNotRegular) {
				t.Errorf("%s: %v, want ErrNotRegular", path, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: OpenOutput blocked", path)
		}
	}
}

func TestOutputLockedAndCreatedLate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	out, err := OpenOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenOutput(path); !errors.Is(err, fileio.ErrLocked) || !strings.Contains(err.Error(), "pid ") {
		t.Errorf("second writer: %v, want ErrLocked naming the holder", err)
	}
	out.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("an output nothing was written to exists: %v", err)
	}
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	out, err = OpenOutput(path)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	out.Write(Result{ID: "a", Summary: "s"})
	out.Close()
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("mode with umask 027: %v %v, want 0640", st.Mode(), err)
	}
}

func TestCheckCSV(t *testing.T) {
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes.csv")
	os.WriteFile(notes, []byte("name,age\nx,1\n"), 0o644)
	if err := WriteCSV(notes, nil); !errors.Is(err, ErrNotResults) {
		t.Errorf("WriteCSV over another CSV: %v", err)
	}
	if got, _ := os.ReadFile(notes); string(got) != "name,age\nx,1\n" {
		t.Errorf("notes changed: %q", got)
	}
	ours := filepath.Join(dir, "out.csv")
	if err := WriteCSV(ours, []Result{{ID: "a"}}); err != nil {
		t.Fatal(err)
	}
	if err := WriteCSV(ours, []Result{{ID: "b"}}); err != nil {
		t.Errorf("rewriting our own CSV: %v", err)
	}
}
