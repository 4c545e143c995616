package convert

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/fileio/fileiotest"
)

// TestLLMRefusesPipe checks that LLM refuses a named pipe at once (opening
// one for reading would wait for a writer forever) and says what it is.
func TestLLMRefusesPipe(t *testing.T) {
	fileiotest.RefusesPipe(t, "config.json", func(path string) error {
		err := LLM(context.Background(), filepath.Dir(path), filepath.Join(t.TempDir(), "out.gguf"), Options{Precision: F16})
		return err
	})
}
