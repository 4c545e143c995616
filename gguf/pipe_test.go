package gguf

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/fileio/fileiotest"
)

// TestOpenRefusesPipe checks that Open refuses a named pipe at once (opening
// one for reading would wait for a writer forever) and says what it is.
func TestOpenRefusesPipe(t *testing.T) {
	fileiotest.RefusesPipe(t, "model.gguf", func(path string) error {
		f, err := Open(path)
		if err == nil {
			f.Close()
		}
		return err
	})
}

// TestWriteFileMode: the file gets 0644 less the umask, not CreateTemp's 0600.
func TestWriteFileMode(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "m.gguf")
	w := NewWriter()
	w.AddKV("general.architecture", "test")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v (%v), want 0640", st.Mode(), err)
	}
}
