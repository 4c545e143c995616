// Package sharedtest finds the shared data set (X-rays, reports, DICOM files)
// that data-driven tests read from ../shared/data beside the repository.
// Outside CI a test whose data is absent skips, or leaves the optional part
// out; under CI=true, where the data set is checked out, its absence fails
// the test instead.
package sharedtest

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
)

// Dir is the absolute path of the shared data folder, ../shared/data
// relative to the repository root.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "data")
}

// CI reports whether the tests run under CI (CI=true), where the shared data
// must be present.
func CI() bool { return os.Getenv("CI") == "true" }

// Find returns the path of rel (slash-separated, under Dir) and true when it
// exists. When it does not, it fails t under CI and otherwise logs that the
// part of the test that needs it is left out, and returns false.
func Find(t testing.TB, rel string) (string, bool) {
	t.Helper()
	p := filepath.Join(Dir(), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		if CI() {
			t.Fatalf("shared data missing under CI: %v", err)
		}
		t.Logf("shared data absent, left out: %v", err)
		return "", false
	}
	return p, true
}

// Path returns the path of rel under Dir. When it does not exist, t fails
// under CI and is skipped otherwise.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p, ok := Find(t, rel)
	if !ok {
		t.Skipf("needs %s from the shared data set", rel)
	}
	return p
}

// Glob returns, sorted, the files under Dir that match any of the patterns
// (filepath.Match syntax, slash-separated, relative to Dir). When none match,
// t fails under CI and is skipped otherwise.
func Glob(t testing.TB, patterns ...string) []string {
	t.Helper()
	var paths []string
	for _, pat := range patterns {
		m, err := filepath.Glob(filepath.Join(Dir(), filepath.FromSlash(pat)))
		if err != nil {
			t.Fatalf("pattern %q: %v", pat, err)
		}
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		if CI() {
			t.Fatalf("shared data missing under CI: nothing in %s matches %q", Dir(), patterns)
		}
		t.Skipf("nothing in %s matches %q", Dir(), patterns)
	}
	sort.Strings(paths)
	return paths
}
