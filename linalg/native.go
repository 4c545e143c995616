//go:build linux || darwin

package linalg

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ebitengine/purego"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/xraygpt-go/xraygpt/internal/dynlib"
)

// CBLAS enumeration values.
const (
	cblasRowMajor  = 101
	cblasNoTrans   = 111
	cblasTrans     = 112
	cblasConjTrans = 113
)

// cblasTranspose maps gonum's transpose letters to CBLAS's enumeration.
func cblasTranspose(t blas.Transpose) int32 {
	switch t {
	case blas.Trans:
		return cblasTrans
	case blas.ConjTrans:
		return cblasConjTrans
	}
	return cblasNoTrans
}

// accelerateFramework is where macOS keeps Apple's BLAS.
const accelerateFramework = "/System/Library/Frameworks/Accelerate.framework/Accelerate"

// Library is a native CBLAS library loaded at run time with purego. It embeds
// gonum's pure-Go implementation for every routine and overrides Sgemm,
// Sgemv, Saxpy, Sdot and Sscal with the library's row-major CBLAS entry
// points. A Library is immutable and safe for concurrent use.
type Library struct {
	gonum.Implementation

	path    string
	name    string
	version string
	core    string

	sgemm func(order, tA, tB, m, n, k int32, alpha float32, a []float32, lda int32, b []float32, ldb int32, beta float32, c []float32, ldc int32)
	sgemv func(order, tA, m, n int32, alpha float32, a []float32, lda int32, x []float32, incX int32, beta float32, y []float32, incY int32)
	saxpy func(n int32, alpha float32, x []float32, incX int32, y []float32, incY int32)
	sdot  func(n int32, x []float32, incX int32, y []float32, incY int32) float32
	sscal func(n int32, alpha float32, x []float32, incX int32)

	gemvMin int // smallest m*n sent to cblas_sgemv

	setThreads func(n int32) // nil when the library has no thread control
	getThreads func() int32  // nil when the library has no thread control
}

var _ blas.Float32 = (*Library)(nil)

// Open loads the CBLAS library at path (a file name or a name the dynamic
// loader searches for) and returns it. The library must export cblas_sgemm,
// cblas_sgemv, cblas_saxpy, cblas_sdot and cblas_sscal; OpenBLAS's
// openblas_* functions are used when present. Libraries are never unloaded.
func Open(path string) (*Library, error) {
	h, err := dynlib.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load BLAS %s: %w", path, err)
	}
	lib := &Library{path: path, gemvMin: minNativeGemv}
	if err := dynlib.Bind(h,
		dynlib.Func{Ptr: &lib.sgemm, Name: "cblas_sgemm"},
		dynlib.Func{Ptr: &lib.sgemv, Name: "cblas_sgemv"},
		dynlib.Func{Ptr: &lib.saxpy, Name: "cblas_saxpy"},
		dynlib.Func{Ptr: &lib.sdot, Name: "cblas_sdot"},
		dynlib.Func{Ptr: &lib.sscal, Name: "cblas_sscal"},
	); err != nil {
		purego.Dlclose(h)
		return nil, fmt.Errorf("load BLAS %s: %w", path, err)
	}
	optional := func(ptr any, name string) bool {
		return dynlib.BindOptional(h, dynlib.Func{Ptr: ptr, Name: name})
	}
	var getConfig, getCore func() string
	if optional(&getConfig, "openblas_get_config") {
		// "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
		if f := strings.Fields(getConfig()); len(f) >= 2 && strings.EqualFold(f[0], "OpenBLAS") {
			lib.version = f[1]
		}
		if optional(&getCore, "openblas_get_corename") {
			lib.core = strings.TrimSpace(getCore())
		}
		lib.name = "openblas"
		if lib.version != "" {
			lib.name += " " + lib.version
		}
		if lib.core != "" {
			lib.name += " (" + lib.core + ")"
		}
	} else if strings.Contains(path, "Accelerate.framework") || strings.Contains(path, "vecLib.framework") {
		lib.name = "accelerate"
	} else {
		lib.name = "cblas " + filepath.Base(path)
	}
	if lib.core == "Prescott" {
		// OpenBLAS's fallback for CPUs it does not know: its SSE3 sgemv is
		// slower than gonum's at every size measured (up to 768x768).
		lib.gemvMin = math.MaxInt
	}
	if !optional(&lib.setThreads, "openblas_set_num_threads") || !optional(&lib.getThreads, "openblas_get_num_threads") {
		lib.setThreads, lib.getThreads = nil, nil
	}
	return lib, nil
}

// IsOpenBLAS reports whether the library is OpenBLAS.
func (l *Library) IsOpenBLAS() bool { return strings.HasPrefix(l.name, "openblas") }

// Name describes the library, e.g. "openblas 0.3.21 (Haswell)" or "accelerate".
func (l *Library) Name() string { return l.name }

// Core is the kernel family OpenBLAS chose ("Haswell", "SkylakeX", ...), or
// "" for other libraries. OpenBLAS picks it when loaded, from
// OPENBLAS_CORETYPE or by detecting the CPU; a CPU newer than the library
// may be taken for an old one ("Prescott": SSE3 kernels, several times slower).
func (l *Library) Core() string { return l.core }

// Path is the file name the library was loaded from.
func (l *Library) Path() string { return l.path }

// Threads returns the library's current thread count, or 0 when it cannot tell.
func (l *Library) Threads() int {
	if l.getThreads == nil {
		return 0
	}
	return int(l.getThreads())
}

// SetThreads sets the number of threads the library uses. For OpenBLAS this
// is a process-global setting: it changes the thread count for every caller
// in the process, including other packages. It fails with
// [ErrNoThreadControl] for libraries without thread control (Accelerate reads
// VECLIB_MAXIMUM_THREADS at start instead).
func (l *Library) SetThreads(n int) error {
	if n < 1 {
		return fmt.Errorf("%s: set threads to %d: want at least 1", l.name, n)
	}
	if l.setThreads == nil {
		return fmt.Errorf("%s: %w", l.name, ErrNoThreadControl)
	}
	l.setThreads(int32(min(n, math.MaxInt32)))
	return nil
}

// openOpenBLAS finds OpenBLAS under its usual names.
func openOpenBLAS() (*Library, error) {
	names := []string{"libopenblas.so.0", "libopenblas.so", "libblas.so.3"}
	if runtime.GOOS == "darwin" {
		names = []string{"libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib", "/usr/local/opt/openblas/lib/libopenblas.dylib"}
	}
	var errs []error
	for _, name := range names {
		lib, err := Open(name)
		if err == nil && !lib.IsOpenBLAS() {
			err = fmt.Errorf("load BLAS %s: %s is not OpenBLAS", name, lib.name)
		}
		if err == nil {
			return lib, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w: OpenBLAS: %w", ErrNotFound, errors.Join(errs...))
}

// openAccelerate loads Apple's Accelerate framework.
func openAccelerate() (*Library, error) {
	if runtime.GOOS != "darwin" {
		return nil, fmt.Errorf("accelerate on %s: %w", runtime.GOOS, ErrUnsupported)
	}
	lib, err := Open(accelerateFramework)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return lib, nil
}

// openPlatform loads the platform's preferred native BLAS.
func openPlatform() (*Library, error) {
	if runtime.GOOS == "darwin" {
		return openAccelerate()
	}
	return openOpenBLAS()
}

// Sgemm performs C = alpha * op(A) * op(B) + beta * C for row-major A, B and C,
// exactly as gonum's Sgemm documents it, with the native library's cblas_sgemm.
func (l *Library) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !sgemmNative(tA, tB, m, n, k, alpha, len(a), lda, len(b), ldb, len(c), ldc) {
		l.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	l.sgemm(cblasRowMajor, cblasTranspose(tA), cblasTranspose(tB), int32(m), int32(n), int32(k), alpha, a, int32(lda), b, int32(ldb), beta, c, int32(ldc))
}

// Sgemv performs y = alpha * op(A) * x + beta * y for a row-major m×n A, as
// gonum's Sgemv documents it; products with at least 65536 elements in A use
// the native cblas_sgemv (never with OpenBLAS's Prescott kernels).
func (l *Library) Sgemv(tA blas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	if !sgemvNative(tA, m, n, alpha, len(a), lda, len(x), incX, len(y), incY, l.gemvMin) {
		l.Implementation.Sgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	l.sgemv(cblasRowMajor, cblasTranspose(tA), int32(m), int32(n), alpha, a, int32(lda), x, int32(incX), beta, y, int32(incY))
}

// Saxpy adds alpha * x to y, as gonum's Saxpy documents it; long vectors use
// the native cblas_saxpy.
func (l *Library) Saxpy(n int, alpha float32, x []float32, incX int, y []float32, incY int) {
	if alpha == 0 || n < minNativeLevel1 || !vecOK(n, len(x), incX) || !vecOK(n, len(y), incY) || !fits(n, incX, incY) {
		l.Implementation.Saxpy(n, alpha, x, incX, y, incY)
		return
	}
	l.saxpy(int32(n), alpha, x, int32(incX), y, int32(incY))
}

// Sdot returns the dot product of x and y, as gonum's Sdot documents it; long
// vectors use the native cblas_sdot.
func (l *Library) Sdot(n int, x []float32, incX int, y []float32, incY int) float32 {
	if n < minNativeLevel1 || !vecOK(n, len(x), incX) || !vecOK(n, len(y), incY) || !fits(n, incX, incY) {
		return l.Implementation.Sdot(n, x, incX, y, incY)
	}
	return l.sdot(int32(n), x, int32(incX), y, int32(incY))
}

// Sscal scales x by alpha, as gonum's Sscal documents it; long vectors use
// the native cblas_sscal.
func (l *Library) Sscal(n int, alpha float32, x []float32, incX int) {
	// gonum ignores a negative increment and zeroes exactly for alpha == 0.
	if alpha == 0 || incX < 1 || n < minNativeLevel1 || !vecOK(n, len(x), incX) || !fits(n, incX) {
		l.Implementation.Sscal(n, alpha, x, incX)
		return
	}
	l.sscal(int32(n), alpha, x, int32(incX))
}
