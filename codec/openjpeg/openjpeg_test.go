//go:build linux || darwin

package openjpeg

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
			t.Fatalf("OpenJPEG must be installed under CI (build/install-deps.sh): %v", err)
		}
		t.Skip(err)
	}
	return l
}

// seeds returns the JPEG 2000 codestreams of dicom/testdata/codecs.
func seeds(t testing.TB) [][]byte {
	files, _ := filepath.Glob("../../dicom/testdata/codecs/*_j2k*.dcm")
	var out [][]byte
	for _, p := range files {
		if strings.Contains(p, ".ref.") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(data, []byte{0xff, 0x4f, 0xff, 0x51}); i >= 0 {
			out = append(out, data[i:len(data)-8]) // up to the sequence delimiter
		}
	}
	if len(out) == 0 {
		t.Fatal("no JPEG 2000 seeds in dicom/testdata/codecs")
	}
	return out
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
