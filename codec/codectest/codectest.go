// Package codectest holds what the tests of the native codec packages
// share: requiring the library under CI, and the codestreams of the DICOM
// codec corpus as seeds.
package codectest

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Require skips the test when the library named name did not load (err),
// and fails it under CI=true, where build/install-deps.sh installs it.
func Require(t testing.TB, name string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s must be installed under CI (build/install-deps.sh): %v", name, err)
	}
	t.Skip(err)
}

// Codestreams returns the codestreams that start with magic in the files of
// dicom/testdata/codecs matching pattern (references, *.ref.*, left out),
// each up to the sequence delimiter that ends its single fragment.
func Codestreams(t testing.TB, pattern string, magic []byte) [][]byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(file), "..", "..", "dicom", "testdata", "codecs", pattern))
	var out [][]byte
	for _, p := range files {
		if strings.Contains(p, ".ref.") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(data, magic); i >= 0 {
			out = append(out, data[i:len(data)-8])
		}
	}
	if len(out) == 0 {
		t.Fatalf("no codestreams matching %s in dicom/testdata/codecs", pattern)
	}
	return out
}
