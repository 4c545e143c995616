package torchfile

import (
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/fileio/fileiotest"
)

// TestOpenRefusesPipe checks that Open refuses a named pipe at once (opening
// one for reading would wait for a writer forever) and says what it is.
func TestOpenRefusesPipe(t *testing.T) {
	fileiotest.RefusesPipe(t, "model.pth", func(path string) error {
		c, err := Open(path)
		if err == nil {
			c.Close()
		}
		return err
	})
}
