package evaluate

import (
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/fileio/fileiotest"
)

// TestReadFileRefusesPipe checks that ReadFile refuses a named pipe at once (opening
// one for reading would wait for a writer forever) and says what it is.
func TestReadFileRefusesPipe(t *testing.T) {
	fileiotest.RefusesPipe(t, "refs.jsonl", func(path string) error {
		_, err := ReadFile(path, FormatAuto, Fields{})
		return err
	})
}
