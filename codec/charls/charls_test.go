//go:build linux || darwin

package charls

import (
	"errors"
	"testing"

	"github.com/xraygpt-go/xraygpt/codec/codectest"
)

// openLib returns the library, failing under CI=true when it is missing.
func openLib(t testing.TB) *Library {
	l, err := Open()
	codectest.Require(t, "CharLS", err)
	return l
}

// seeds returns the JPEG-LS codestreams of dicom/testdata/codecs.
func seeds(t testing.TB) [][]byte {
	return codectest.Codestreams(t, "*_jpegls*.dcm", []byte{0xff, 0xd8, 0xff, 0xf7})
}

// TestLimits: the pixel limit is checked from the header, before decoding.
func TestLimits(t *testing.T) {
	l := openLib(t)
	s := seeds(t)[0]
	if _, err := l.Decode(s, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Decode(s, 10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if l.Version() == "" {
		t.Error("no version")
	}
}

// FuzzDecode: arbitrary bytes never crash or hang CharLS through Decode.
func FuzzDecode(f *testing.F) {
	l := openLib(f)
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := l.Decode(data, 1<<16)
		if err == nil && len(img.Samples) != img.Width*img.Height*img.Components {
			t.Fatalf("%d samples for %dx%dx%d", len(img.Samples), img.Width, img.Height, img.Components)
		}
	})
}
