package imaging

import (
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/fileio/fileiotest"
)

// TestLoadRefusesPipe checks that Load refuses a named pipe at once (opening
// one for reading would wait for a writer forever) and says what it is.
func TestLoadRefusesPipe(t *testing.T) {
	fileiotest.RefusesPipe(t, "x.png", func(path string) error {
		_, err := Load(path)
		return err
	})
}
