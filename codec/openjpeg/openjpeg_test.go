//go:build linux || darwin

package openjpeg

import (
	"errors"
	"testing"

	"github.com/xraygpt-go/xraygpt/codec/codectest"
)

// openLib returns the library, failing under CI=true when it is missing.
func openLib(t testing.TB) *Library {
	l, err := Open()
	codectest.Require(t, "OpenJPEG", err)
	return l
}

// seeds returns the JPEG 2000 codestreams of dicom/testdata/codecs.
func seeds(t testing.TB) [][]byte {
	return codectest.Codestreams(t, "*_j2k*.dcm", []byte{0xff, 0x4f, 0xff, 0x51})
}

// TestLimits: the pixel limit is checked from the header, before decoding.
func TestLimits(t *testing.T) {
	l := openLib(t)
	s := seeds(t)[0]
	if _, err := l.Decode(s, 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Decode(s, 10, 1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if l.Version() == "" {
		t.Error("no version")
	}
}

// FuzzDecode: arbitrary bytes never crash or hang OpenJPEG through Decode.
func FuzzDecode(f *testing.F) {
	l := openLib(f)
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := l.Decode(data, 1<<16, 1)
		if err == nil && len(img.Components[0]) != img.Width*img.Height {
			t.Fatalf("%d samples for %dx%d", len(img.Components[0]), img.Width, img.Height)
		}
	})
}
