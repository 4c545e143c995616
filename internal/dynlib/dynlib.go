// Package dynlib loads optional native libraries at run time through
// purego (no cgo): the first of several candidate names that the dynamic
// loader finds, then the C functions the caller binds to Go function
// variables. Libraries are never unloaded.
package dynlib

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/ebitengine/purego"
)

// Func binds the C function Name to the Go function variable Ptr points to.
type Func struct {
	Ptr  any
	Name string
}

// Open loads the first of names the dynamic loader finds and returns its
// handle, or the last loader error.
func Open(names ...string) (uintptr, error) {
	if len(names) == 0 {
		return 0, errors.New("no library name")
	}
	var err error
	for _, n := range names {
		var h uintptr
		if h, err = purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_LOCAL); err == nil && h != 0 {
			return h, nil
		}
	}
	return 0, err
}

// Bind binds every function; the first one missing is an error naming it.
func Bind(h uintptr, funcs ...Func) error {
	for _, f := range funcs {
		sym, err := purego.Dlsym(h, f.Name)
		if err != nil || sym == 0 {
			return fmt.Errorf("%s missing: %v", f.Name, err)
		}
		purego.RegisterFunc(f.Ptr, sym)
	}
	return nil
}

// BindOptional binds f when the library has it and reports whether it did.
func BindOptional(h uintptr, f Func) bool {
	return Bind(h, f) == nil
}

// Candidates returns the library names to try: the path in the environment
// variable env when it is set (a library elsewhere, or none in tests),
// else darwin's names on macOS and the others' elsewhere.
func Candidates(env string, unix, darwin []string) []string {
	if p := os.Getenv(env); p != "" {
		return []string{p}
	}
	if runtime.GOOS == "darwin" {
		return darwin
	}
	return unix
}
