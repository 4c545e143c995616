package npy

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/fileio/fileiotest"
)

// TestReadFileRefusesPipe checks that ReadFile refuses a named pipe at once (opening
// one for reading would wait for a writer forever) and says what it is.
func TestReadFileRefusesPipe(t *testing.T) {
	fileiotest.RefusesPipe(t, "t.npy", func(path string) error {
		_, _, err := ReadFile(path)
		return err
	})
}

// TestWriteFileMode: the file gets 0644 less the umask, not CreateTemp's 0600.
func TestWriteFileMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "t.npy")
	if err := WriteFile(path, []float32{1, 2}, []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want 0644", st.Mode(), err)
	}
}
