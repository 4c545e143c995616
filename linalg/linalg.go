package linalg

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// EnvVar is the environment variable that forces a BLAS choice; see the package documentation.
const EnvVar = "XRAYGPT_BLAS"

// Sentinel errors that explain why no native BLAS is in use.
var (
	// ErrDisabled means XRAYGPT_BLAS=gonum asked for pure Go.
	ErrDisabled = errors.New("native BLAS disabled by " + EnvVar + "=gonum")
	// ErrNotFound means no native BLAS library could be loaded.
	ErrNotFound = errors.New("no native BLAS library found")
	// ErrUnsupported means this platform has no native BLAS loader.
	ErrUnsupported = errors.New("native BLAS not supported on this platform")
	// ErrNoThreadControl means the loaded library cannot change its thread count.
	ErrNoThreadControl = errors.New("BLAS library has no thread control")
)

// PureGo returns gonum's pure-Go implementation.
func PureGo() blas.Float32 { return gonum.Implementation{} }

// native loads the process's native BLAS once, as chosen by XRAYGPT_BLAS.
// The result is an immutable capability shared by the whole process.
var native = sync.OnceValues(func() (*Library, error) {
	return loadChoice(os.Getenv(EnvVar))
})

// Native returns the native BLAS of this platform (OpenBLAS on Linux,
// Accelerate on macOS, or the library XRAYGPT_BLAS names), loading it on the
// first call. The value is a *[Library]. It returns an error, wrapping
// [ErrDisabled], [ErrNotFound] or [ErrUnsupported] where that applies, when no
// native library can be used.
func Native() (blas.Float32, error) {
	lib, err := native()
	if err != nil {
		return nil, err
	}
	return lib, nil
}

// NativeError reports why [Default] is not native: nil when a native library
// is loaded, otherwise the loading error.
func NativeError() error {
	_, err := native()
	return err
}

// Default returns the fastest available implementation: the native BLAS when
// it loads, else pure-Go gonum. It never fails; [NativeError] explains a
// fallback.
func Default() blas.Float32 {
	if lib, err := native(); err == nil {
		return lib
	}
	return PureGo()
}

// Name describes an implementation for people: "openblas 0.3.21 (Haswell)",
// "accelerate", "gonum (pure Go)", or the Go type of anything else.
func Name(impl blas.Float32) string {
	switch v := impl.(type) {
	case *Library:
		return v.Name()
	case gonum.Implementation, *gonum.Implementation:
		return "gonum (pure Go)"
	case nil:
		return "<nil>"
	}
	return fmt.Sprintf("%T", impl)
}

// SetThreads sets the thread count of impl when it is a native library that
// supports it, and reports [ErrNoThreadControl] otherwise. For OpenBLAS the
// setting is process-global. Pure-Go gonum follows GOMAXPROCS instead.
func SetThreads(impl blas.Float32, n int) error {
	if lib, ok := impl.(*Library); ok {
		return lib.SetThreads(n)
	}
	return fmt.Errorf("%s: %w", Name(impl), ErrNoThreadControl)
}

// loadChoice interprets a value of XRAYGPT_BLAS and loads what it names.
func loadChoice(choice string) (*Library, error) {
	c := strings.TrimSpace(choice)
	switch strings.ToLower(c) {
	case "", "auto":
		return openPlatform()
	case "gonum", "go", "purego":
		return nil, ErrDisabled
	case "openblas":
		return openOpenBLAS()
	case "accelerate":
		return openAccelerate()
	}
	if strings.ContainsRune(c, os.PathSeparator) || strings.Contains(c, ".so") || strings.HasSuffix(c, ".dylib") {
		return Open(c)
	}
	return nil, fmt.Errorf("%s=%q: want gonum, openblas, accelerate, auto or a library path", EnvVar, choice)
}
