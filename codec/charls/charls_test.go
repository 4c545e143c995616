//go:build linux || darwin

package charls

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openLib returns the library, failing under CI=true when it is missing.
func openLib(t testing.TB) *Library {
	l, err := Open()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CharLS must be installed under CI (build/install-deps.sh): %v", err)
		}
		t.Skip(err)
	}
	return l
}

// seeds returns the JPEG-LS codestreams of dicom/testdata/codecs.
func seeds(t testing.TB) [][]byte {
	files, _ := filepath.Glob("../../dicom/testdata/codecs/*_jpegls*.dcm")
	var out [][]byte
	for _, p := range files {
		if strings.Contains(p, ".ref.") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(data, []byte{0xff, 0xd8, 0xff, 0xf7}); i >= 0 {
			out = append(out, data[i:len(data)-8]) // up to the sequence delimiter
		}
	}
	if len(out) == 0 {
		t.Fatal("no JPEG-LS seeds in dicom/testdata/codecs")
	}
	return out
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
