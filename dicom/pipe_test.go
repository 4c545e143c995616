package dicom

import (
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/fileio/fileiotest"
)

// TestDecodeFileRefusesPipe checks that DecodeFile refuses a named pipe at once (opening
// one for reading would wait for a writer forever) and says what it is.
func TestDecodeFileRefusesPipe(t *testing.T) {
	fileiotest.RefusesPipe(t, "x.dcm", func(path string) error {
		_, err := DecodeFile(path, Options{})
		return err
	})
}
