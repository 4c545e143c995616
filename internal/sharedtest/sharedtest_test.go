package sharedtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder stands in for a testing.TB to see what Find, Path and Glob do
// without failing or skipping the real test.
type recorder struct {
	testing.TB
	fatal, skip, log string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Logf(f string, a ...any)   { r.log = fmt.Sprintf(f, a...) }
func (r *recorder) Fatalf(f string, a ...any) { r.fatal = fmt.Sprintf(f, a...); runtime.Goexit() }
func (r *recorder) Skipf(f string, a ...any)  { r.skip = fmt.Sprintf(f, a...); runtime.Goexit() }

// call runs f on a fresh recorder in its own goroutine, as Goexit needs.
func call(f func(tb testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestDirIsBesideTheRepository(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(wd, "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "..", "shared", "data"); Dir() != want {
		t.Errorf("Dir() = %s, want %s", Dir(), want)
	}
}

func TestMissing(t *testing.T) {
	const rel = "no/such/file.png"
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		found := false
		r := call(func(tb testing.TB) { _, found = Find(tb, rel) })
		if found || (ci == "true") != (r.fatal != "") || (ci == "") != (r.log != "") {
			t.Errorf("CI=%q: Find: found %v, fatal %q, log %q", ci, found, r.fatal, r.log)
		}
		reached := false
		r = call(func(tb testing.TB) { Path(tb, rel); reached = true })
		if reached || (ci == "true") != (r.fatal != "") || (ci == "") != (r.skip != "") {
			t.Errorf("CI=%q: Path: returned %v, fatal %q, skip %q", ci, reached, r.fatal, r.skip)
		}
		r = call(func(tb testing.TB) { Glob(tb, "no/such/*.png"); reached = true })
		if reached || (ci == "true") != (r.fatal != "") || (ci == "") != (r.skip != "") {
			t.Errorf("CI=%q: Glob: returned %v, fatal %q, skip %q", ci, reached, r.fatal, r.skip)
		}
	}
}

// TestPresent reads the shared data set when it is there (Path fails under
// CI when it is not).
func TestPresent(t *testing.T) {
	p := Path(t, "iu_xray_samples/reports.jsonl")
	if !strings.HasPrefix(p, Dir()) {
		t.Errorf("Path = %s, not under %s", p, Dir())
	}
	pngs := Glob(t, "iu_xray_samples/*/*.png", "no/such/*.png")
	for i, p := range pngs {
		if filepath.Ext(p) != ".png" || (i > 0 && pngs[i-1] >= p) {
			t.Errorf("Glob: %v not sorted PNGs", pngs)
			break
		}
	}
}
