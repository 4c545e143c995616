package linalg

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// nativeOrSkip returns the native library or skips the test when this
// machine has none (or XRAYGPT_BLAS disables it). Under CI=true, where
// build/install-deps.sh installs OpenBLAS, a library that does not load is
// a failure, unless XRAYGPT_BLAS asked for that (TestDefaultFallback's
// child processes).
func nativeOrSkip(t testing.TB) *Library {
	t.Helper()
	impl, err := Native()
	if err != nil {
		if os.Getenv("CI") == "true" && os.Getenv(EnvVar) == "" {
			t.Fatalf("no native BLAS under CI (build/install-deps.sh installs OpenBLAS): %v", err)
		}
		t.Skipf("native-only test skipped: no native BLAS on this machine: %v", err)
	}
	return impl.(*Library)
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

var transposes = []blas.Transpose{blas.NoTrans, blas.Trans, blas.ConjTrans}

// refGemm computes alpha*op(A)*op(B) + beta*C in float64 and, per element, the
// sum of absolute values of the terms, for an error bound.
func refGemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, mag []float64) {
	want = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if tA == blas.NoTrans {
					av = a[i*lda+p]
				} else {
					av = a[p*lda+i]
				}
				if tB == blas.NoTrans {
					bv = b[p*ldb+j]
				} else {
					bv = b[j*ldb+p]
				}
				s += float64(av) * float64(bv)
				abs += math.Abs(float64(av) * float64(bv))
			}
			cv := 0.0
			if beta != 0 {
				cv = float64(beta) * float64(c[i*ldc+j])
			}
			want[i*n+j] = float64(alpha)*s + cv
			mag[i*n+j] = math.Abs(float64(alpha))*abs + math.Abs(cv)
		}
	}
	return want, mag
}

// TestSgemmMatchesReference checks native Sgemm, and gonum's as a control,
// against a float64 reference on random shapes: every transpose combination,
// non-square shapes, leading dimensions larger than needed and several alpha
// and beta values. Elements of C outside the m×n window must stay untouched.
func TestSgemmMatchesReference(t *testing.T) {
	lib := nativeOrSkip(t)
	r := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{1, 1, 1}, {2, 3, 4}, {7, 1, 5}, {1, 9, 3}, {17, 13, 31}, {64, 65, 66}, {33, 128, 7}, {130, 20, 257}}
	for _, sh := range shapes {
		m, n, k := sh[0], sh[1], sh[2]
		for _, tA := range transposes {
			for _, tB := range transposes {
				for _, pad := range []int{0, 3} {
					for _, ab := range [][2]float32{{1, 0}, {-0.5, 1}, {2.5, 0.3}} {
						alpha, beta := ab[0], ab[1]
						name := fmt.Sprintf("%dx%dx%d/%c%c/pad%d/a%g/b%g", m, n, k, tA, tB, pad, alpha, beta)
						aRows, aCols := m, k
						if tA != blas.NoTrans {
							aRows, aCols = k, m
						}
						bRows, bCols := k, n
						if tB != blas.NoTrans {
							bRows, bCols = n, k
						}
						lda, ldb, ldc := aCols+pad, bCols+pad, n+pad
						a := randSlice(r, (aRows-1)*lda+aCols)
						b := randSlice(r, (bRows-1)*ldb+bCols)
						c0 := randSlice(r, (m-1)*ldc+n)
						want, mag := refGemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc)
						for _, impl := range []blas.Float32{lib, gonum.Implementation{}} {
							c := append([]float32(nil), c0...)
							impl.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
							for i := 0; i < m; i++ {
								for j := 0; j < ldc && i*ldc+j < len(c); j++ {
									got := c[i*ldc+j]
									if j >= n {
										if got != c0[i*ldc+j] {
											t.Fatalf("%s %s: padding C[%d,%d] changed from %g to %g", Name(impl), name, i, j, c0[i*ldc+j], got)
										}
										continue
									}
									tol := 4*float64(k+2)*float64(math.Nextafter32(1, 2)-1)*mag[i*n+j] + 1e-30
									if d := math.Abs(float64(got) - want[i*n+j]); d > tol {
										t.Fatalf("%s %s: C[%d,%d] = %g, want %g (diff %g > tol %g)", Name(impl), name, i, j, got, want[i*n+j], d, tol)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestSgemmEdgeCases compares native and gonum Sgemm on the edge cases:
// zero sizes, k == 0 (C = beta*C) and alpha == 0 are handed to gonum and must
// match it bit for bit (gonum lets a NaN in A through even when alpha == 0);
// beta == 0 must overwrite C even where it holds NaN.
func TestSgemmEdgeCases(t *testing.T) {
	lib := nativeOrSkip(t)
	r := rand.New(rand.NewPCG(3, 4))
	nan := float32(math.NaN())
	cases := []struct {
		name        string
		m, n, k     int
		alpha, beta float32
		nanA, nanC  bool
		native      bool // the call reaches native code: compare with a tolerance
	}{
		{"m=0", 0, 4, 3, 1, 0.5, false, false, false},
		{"n=0", 4, 0, 3, 1, 0.5, false, false, false},
		{"k=0 beta=0.5", 4, 5, 0, 1, 0.5, false, false, false},
		{"k=0 beta=0", 4, 5, 0, 1, 0, false, true, false},
		{"k=0 beta=1", 4, 5, 0, 1, 1, false, false, false},
		{"alpha=0 NaN A", 4, 5, 3, 0, 2, true, false, false},
		{"alpha=0 beta=1", 4, 5, 3, 0, 1, true, false, false},
		{"beta=0 NaN C", 4, 5, 3, 1.5, 0, false, true, true},
	}
	for _, tc := range cases {
		lda, ldb, ldc := max(1, tc.k), max(1, tc.n), max(1, tc.n)
		a := randSlice(r, max(0, tc.m*lda))
		b := randSlice(r, max(0, tc.k*ldb))
		c0 := randSlice(r, max(0, tc.m*ldc))
		if tc.nanA && len(a) > 0 {
			a[0] = nan
		}
		if tc.nanC && len(c0) > 0 {
			c0[0] = nan
		}
		got := append([]float32(nil), c0...)
		want := append([]float32(nil), c0...)
		lib.Sgemm(blas.NoTrans, blas.NoTrans, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got, ldc)
		gonum.Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
		for i := range want {
			same := math.Float32bits(got[i]) == math.Float32bits(want[i])
			if tc.native {
				same = math.Abs(float64(got[i]-want[i])) < 1e-5
			}
			if !same {
				t.Errorf("%s: C[%d] = %g, gonum %g", tc.name, i, got[i], want[i])
			}
		}
		if tc.nanC && tc.beta == 0 && len(got) > 0 && math.IsNaN(float64(got[0])) {
			t.Errorf("%s: C[0] is still NaN", tc.name)
		}
	}
}

// panicMessage runs f and returns what it panicked with, or "" when it did not.
func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// TestBadArgumentsPanicLikeGonum checks that invalid arguments panic in the
// native implementation with exactly gonum's messages, before any C call.
func TestBadArgumentsPanicLikeGonum(t *testing.T) {
	lib := nativeOrSkip(t)
	g := gonum.Implementation{}
	s := func(n int) []float32 { return make([]float32, n) }
	type call func(blas.Float32)
	cases := map[string]call{
		"gemm bad tA":        func(b blas.Float32) { b.Sgemm('X', blas.NoTrans, 2, 2, 2, 1, s(4), 2, s(4), 2, 0, s(4), 2) },
		"gemm bad tB":        func(b blas.Float32) { b.Sgemm(blas.NoTrans, 0, 2, 2, 2, 1, s(4), 2, s(4), 2, 0, s(4), 2) },
		"gemm m<0":           func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.NoTrans, -1, 2, 2, 1, s(4), 2, s(4), 2, 0, s(4), 2) },
		"gemm n<0":           func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.NoTrans, 2, -1, 2, 1, s(4), 2, s(4), 2, 0, s(4), 2) },
		"gemm k<0":           func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, -1, 1, s(4), 2, s(4), 2, 0, s(4), 2) },
		"gemm lda N":         func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 3, 1, s(6), 2, s(6), 2, 0, s(4), 2) },
		"gemm lda T":         func(b blas.Float32) { b.Sgemm(blas.Trans, blas.NoTrans, 3, 2, 2, 1, s(6), 2, s(4), 2, 0, s(6), 2) },
		"gemm ldb N":         func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.NoTrans, 2, 3, 2, 1, s(4), 2, s(6), 2, 0, s(6), 3) },
		"gemm ldb T":         func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.Trans, 2, 2, 3, 1, s(6), 3, s(6), 2, 0, s(4), 2) },
		"gemm ldc":           func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.NoTrans, 2, 3, 2, 1, s(4), 2, s(6), 3, 0, s(6), 2) },
		"gemm short a":       func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 2, 1, s(3), 2, s(4), 2, 0, s(4), 2) },
		"gemm short a T":     func(b blas.Float32) { b.Sgemm(blas.Trans, blas.NoTrans, 3, 2, 2, 1, s(5), 3, s(4), 2, 0, s(6), 2) },
		"gemm short b":       func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 2, 1, s(4), 2, s(3), 2, 0, s(4), 2) },
		"gemm short b T":     func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.Trans, 2, 3, 2, 1, s(4), 2, s(5), 2, 0, s(6), 3) },
		"gemm short c":       func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 2, 1, s(4), 2, s(4), 2, 0, s(3), 2) },
		"gemm short c pad":   func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 2, 1, s(4), 2, s(4), 2, 0, s(5), 4) },
		"gemm short k=0":     func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 0, 1, nil, 1, nil, 2, 0, s(3), 2) },
		"gemv bad t":         func(b blas.Float32) { b.Sgemv('X', 2, 2, 1, s(4), 2, s(2), 1, 0, s(2), 1) },
		"gemv m<0":           func(b blas.Float32) { b.Sgemv(blas.NoTrans, -1, 2, 1, s(4), 2, s(2), 1, 0, s(2), 1) },
		"gemv lda":           func(b blas.Float32) { b.Sgemv(blas.NoTrans, 2, 3, 1, s(6), 2, s(3), 1, 0, s(2), 1) },
		"gemv incX 0":        func(b blas.Float32) { b.Sgemv(blas.NoTrans, 2, 2, 1, s(4), 2, s(2), 0, 0, s(2), 1) },
		"gemv short x":       func(b blas.Float32) { b.Sgemv(blas.NoTrans, 300, 300, 1, s(90000), 300, s(299), 1, 0, s(300), 1) },
		"gemv short y T":     func(b blas.Float32) { b.Sgemv(blas.Trans, 300, 200, 1, s(60000), 200, s(300), 1, 0, s(398), 2) },
		"gemv short a":       func(b blas.Float32) { b.Sgemv(blas.NoTrans, 300, 300, 1, s(89999), 300, s(300), 1, 0, s(300), 1) },
		"axpy n<0":           func(b blas.Float32) { b.Saxpy(-1, 1, s(2), 1, s(2), 1) },
		"axpy incY 0":        func(b blas.Float32) { b.Saxpy(2, 1, s(2), 1, s(2), 0) },
		"axpy short x":       func(b blas.Float32) { b.Saxpy(1<<15, 1, s(1<<15-1), 1, s(1<<15), 1) },
		"axpy short y neg":   func(b blas.Float32) { b.Saxpy(1<<15, 1, s(1<<15), 1, s(2<<15-2), -2) },
		"dot short y":        func(b blas.Float32) { b.Sdot(1<<15, s(1<<15), 1, s(1<<15-1), 1) },
		"dot short x inc":    func(b blas.Float32) { b.Sdot(1<<15, s(3<<15-3), 3, s(1<<15), 1) },
		"dot incX 0":         func(b blas.Float32) { b.Sdot(4, s(4), 0, s(4), 1) },
		"scal short":         func(b blas.Float32) { b.Sscal(1<<15, 2, s(1<<15-1), 1) },
		"scal incX 0":        func(b blas.Float32) { b.Sscal(4, 2, s(4), 0) },
		"scal n<0":           func(b blas.Float32) { b.Sscal(-1, 2, s(4), 1) },
		"gemm ok (no panic)": func(b blas.Float32) { b.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 2, 1, s(4), 2, s(4), 2, 0, s(4), 2) },
	}
	for name, f := range cases {
		want := panicMessage(func() { f(g) })
		got := panicMessage(func() { f(lib) })
		if got != want {
			t.Errorf("%s: native panic %q, gonum %q", name, got, want)
		}
		if (want == "") != strings.HasSuffix(name, "(no panic)") {
			t.Errorf("%s: gonum panic %q: test case is wrong", name, want)
		}
	}
}

// TestLevel12MatchGonum checks the Sgemv, Saxpy, Sdot and Sscal overrides
// against gonum on sizes below and above the native threshold, with unit,
// strided and negative increments.
func TestLevel12MatchGonum(t *testing.T) {
	lib := nativeOrSkip(t)
	if lib.gemvMin > minNativeGemv {
		forced := *lib // test native sgemv even where Default would not use it
		forced.gemvMin = minNativeGemv
		lib = &forced
	}
	g := gonum.Implementation{}
	r := rand.New(rand.NewPCG(5, 6))
	eps := float64(math.Nextafter32(1, 2) - 1)
	close := func(got, want []float32, n int, what string) {
		t.Helper()
		for i := range want {
			tol := 4 * float64(n) * eps * (1 + math.Abs(float64(want[i])))
			if d := math.Abs(float64(got[i] - want[i])); d > tol || math.IsNaN(d) {
				t.Fatalf("%s: [%d] = %g, gonum %g", what, i, got[i], want[i])
			}
		}
	}
	for _, n := range []int{1, 5, 1000, minNativeLevel1, 3 * minNativeLevel1} {
		for _, inc := range [][2]int{{1, 1}, {3, 1}, {-2, 3}, {1, -1}} {
			incX, incY := inc[0], inc[1]
			x := randSlice(r, 1+(n-1)*abs(incX))
			y0 := randSlice(r, 1+(n-1)*abs(incY))
			what := fmt.Sprintf("n=%d inc=%d,%d", n, incX, incY)

			gotY, wantY := append([]float32(nil), y0...), append([]float32(nil), y0...)
			lib.Saxpy(n, 0.7, x, incX, gotY, incY)
			g.Saxpy(n, 0.7, x, incX, wantY, incY)
			close(gotY, wantY, 2, "saxpy "+what)

			var mag float64
			for _, v := range x {
				mag += math.Abs(float64(v)) * 3
			}
			got, want := lib.Sdot(n, x, incX, y0, incY), g.Sdot(n, x, incX, y0, incY)
			if d := math.Abs(float64(got - want)); d > 4*float64(n)*eps*mag {
				t.Fatalf("sdot %s: %g, gonum %g", what, got, want)
			}

			if incX > 0 {
				gotX, wantX := append([]float32(nil), x...), append([]float32(nil), x...)
				lib.Sscal(n, -1.3, gotX, incX)
				g.Sscal(n, -1.3, wantX, incX)
				close(gotX, wantX, 1, "sscal "+what)
			}
		}
	}
	for _, sh := range [][2]int{{3, 4}, {200, 100}, {100, 300}, {1030, 520}} {
		m, n := sh[0], sh[1]
		for _, tA := range transposes {
			for _, inc := range [][2]int{{1, 1}, {2, -3}} {
				for _, pad := range []int{0, 5} {
					lda := n + pad
					a := randSlice(r, (m-1)*lda+n)
					lenX, lenY := n, m
					if tA != blas.NoTrans {
						lenX, lenY = m, n
					}
					x := randSlice(r, 1+(lenX-1)*abs(inc[0]))
					y0 := randSlice(r, 1+(lenY-1)*abs(inc[1]))
					got, want := append([]float32(nil), y0...), append([]float32(nil), y0...)
					lib.Sgemv(tA, m, n, 0.9, a, lda, x, inc[0], 0.4, got, inc[1])
					g.Sgemv(tA, m, n, 0.9, a, lda, x, inc[0], 0.4, want, inc[1])
					close(got, want, max(m, n), fmt.Sprintf("sgemv %c %dx%d inc=%v pad=%d", tA, m, n, inc, pad))
				}
			}
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestConcurrentSgemm runs native Sgemm from several goroutines at once; each
// must get its own correct result.
func TestConcurrentSgemm(t *testing.T) {
	lib := nativeOrSkip(t)
	const m, n, k = 96, 80, 112
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			a, b := randSlice(r, m*k), randSlice(r, k*n)
			want := make([]float32, m*n)
			gonum.Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, b, n, 0, want, n)
			for range 20 {
				got := make([]float32, m*n)
				lib.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, b, n, 0, got, n)
				for i := range got {
					if math.Abs(float64(got[i]-want[i])) > 1e-3 {
						errs <- fmt.Errorf("worker %d: C[%d] = %g, want %g", w, i, got[i], want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestThreads checks SetThreads/Threads on OpenBLAS and the errors for bad
// counts and for pure Go.
func TestThreads(t *testing.T) {
	if err := SetThreads(PureGo(), 1); !errors.Is(err, ErrNoThreadControl) {
		t.Errorf("SetThreads(PureGo) = %v, want ErrNoThreadControl", err)
	}
	lib := nativeOrSkip(t)
	if !lib.IsOpenBLAS() {
		t.Skipf("%s has no thread control to test", lib.Name())
	}
	old := lib.Threads()
	if old < 1 {
		t.Fatalf("Threads() = %d", old)
	}
	defer lib.SetThreads(old)
	if err := lib.SetThreads(1); err != nil {
		t.Fatal(err)
	}
	if got := lib.Threads(); got != 1 {
		t.Errorf("after SetThreads(1), Threads() = %d", got)
	}
	if err := SetThreads(lib, 2); err != nil {
		t.Fatal(err)
	}
	if got := lib.Threads(); got != 2 {
		t.Errorf("after SetThreads(2), Threads() = %d", got)
	}
	if err := lib.SetThreads(0); err == nil {
		t.Error("SetThreads(0) succeeded")
	}
}

// TestName checks the descriptions of pure Go and of the loaded library.
func TestName(t *testing.T) {
	if got := Name(PureGo()); got != "gonum (pure Go)" {
		t.Errorf("Name(PureGo()) = %q", got)
	}
	if got := Name(nil); got != "<nil>" {
		t.Errorf("Name(nil) = %q", got)
	}
	lib := nativeOrSkip(t)
	if Name(Default()) != lib.Name() || Name(lib) != lib.Name() {
		t.Errorf("Name(Default()) = %q, Name(lib) = %q, lib.Name() = %q", Name(Default()), Name(lib), lib.Name())
	}
	if lib.IsOpenBLAS() && !strings.HasPrefix(lib.Name(), "openblas 0.") {
		t.Errorf("OpenBLAS name %q lacks the version", lib.Name())
	}
	t.Logf("native BLAS: %s (core %q) from %s, %d threads", lib.Name(), lib.Core(), lib.Path(), lib.Threads())
	if lib.IsOpenBLAS() && (lib.Core() == "" || !strings.Contains(lib.Name(), lib.Core())) {
		t.Errorf("OpenBLAS core %q missing from name %q", lib.Core(), lib.Name())
	}
}

// TestLoadChoice checks how XRAYGPT_BLAS values are interpreted.
func TestLoadChoice(t *testing.T) {
	if _, err := loadChoice("gonum"); !errors.Is(err, ErrDisabled) {
		t.Errorf(`loadChoice("gonum") = %v, want ErrDisabled`, err)
	}
	_, err := loadChoice("/nonexistent.so")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent.so") {
		t.Errorf(`loadChoice("/nonexistent.so") = %v, want an error naming the file`, err)
	}
	if _, err := loadChoice("mkl-please"); err == nil || !strings.Contains(err.Error(), EnvVar) {
		t.Errorf(`loadChoice("mkl-please") = %v, want an error naming %s`, err, EnvVar)
	}
	// Not a BLAS at all: the C library lacks cblas_sgemm.
	if _, err := os.Stat("/lib/x86_64-linux-gnu/libc.so.6"); err == nil {
		_, err := loadChoice("/lib/x86_64-linux-gnu/libc.so.6")
		if err == nil || !strings.Contains(err.Error(), "cblas_sgemm") {
			t.Errorf("loading libc as BLAS: %v, want an error naming cblas_sgemm", err)
		}
	}
	nativeOrSkip(t)
	for _, c := range []string{"", "auto", "openblas", "libopenblas.so.0", "libblas.so.3"} {
		lib, err := loadChoice(c)
		if err != nil {
			// With OpenBLAS loaded, each of these names must find it.
			t.Errorf("loadChoice(%q): %v", c, err)
			continue
		}
		if !lib.IsOpenBLAS() && c != "" && c != "auto" {
			t.Errorf("loadChoice(%q) loaded %q, not OpenBLAS", c, lib.Name())
		}
	}
}

// childEnv marks a run of the test binary started by TestDefaultFallback.
const childEnv = "LINALG_TEST_CHILD"

// TestDefaultFallback runs this test binary again with XRAYGPT_BLAS set to a
// missing library and to "gonum": Default must be pure Go with a reason, and
// the native-only tests must skip cleanly, as on a machine without OpenBLAS.
func TestDefaultFallback(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in child process")
	}
	for _, choice := range []string{"/nonexistent.so", "gonum"} {
		cmd := exec.Command(os.Args[0], "-test.run=^(TestChildReport|TestSgemmMatchesReference|TestBadArgumentsPanicLikeGonum)$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), EnvVar+"="+choice, childEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s=%s: child failed: %v\n%s", EnvVar, choice, err, out)
		}
		s := string(out)
		if !strings.Contains(s, "impl=gonum (pure Go)") {
			t.Errorf("%s=%s: Default is not pure Go:\n%s", EnvVar, choice, s)
		}
		if !strings.Contains(s, "reason=") || strings.Contains(s, "reason=<nil>") {
			t.Errorf("%s=%s: no fallback reason:\n%s", EnvVar, choice, s)
		}
		if choice == "/nonexistent.so" && !strings.Contains(s, "/nonexistent.so") {
			t.Errorf("%s=%s: reason does not name the file:\n%s", EnvVar, choice, s)
		}
		if choice == "gonum" && !strings.Contains(s, "disabled=true") {
			t.Errorf("%s=%s: reason is not ErrDisabled:\n%s", EnvVar, choice, s)
		}
		if n := strings.Count(s, "--- SKIP: Test"); n != 2 {
			t.Errorf("%s=%s: %d native-only tests skipped, want 2:\n%s", EnvVar, choice, n, s)
		}
	}
}

// TestChildReport prints what Default chose; TestDefaultFallback reads it.
func TestChildReport(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("only run by TestDefaultFallback")
	}
	impl := Default()
	// Default must still compute correctly.
	c := make([]float32, 4)
	impl.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 2, 1, []float32{1, 2, 3, 4}, 2, []float32{5, 6, 7, 8}, 2, 0, c, 2)
	if c[0] != 19 || c[1] != 22 || c[2] != 43 || c[3] != 50 {
		t.Errorf("Default().Sgemm = %v", c)
	}
	if _, err := Native(); err == nil {
		t.Error("Native() succeeded")
	}
	fmt.Printf("impl=%s\nreason=%v\ndisabled=%v\n", Name(impl), NativeError(), errors.Is(NativeError(), ErrDisabled))
}
