package linalg

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemmShapes are the GEMMs of the vision encoders for one 224x224 image.
var gemmShapes = []struct {
	name    string
	m, n, k int
}{
	{"vit_qkv_257x1408x4224", 257, 4224, 1408},
	{"vit_fc1_257x1408x6144", 257, 6144, 1408},
	{"vit_fc2_257x6144x1408", 257, 1408, 6144},
	{"qformer_32x768x768", 32, 768, 768},
	{"swin_3136x96x288", 3136, 288, 96},
	{"proj_32x768x4096", 32, 4096, 768},
}

// BenchmarkSgemm measures C = A*B on the encoders' shapes, row-major with B
// stored as [k, n], for native BLAS and pure-Go gonum on 1 and 2 threads.
// Compare OpenBLAS kernels by running it with and without OPENBLAS_CORETYPE:
//
//	go test -run=^$ -bench=Sgemm -benchtime=5x ./linalg
//	env -u OPENBLAS_CORETYPE go test -run=^$ -bench=Sgemm -benchtime=5x ./linalg
func BenchmarkSgemm(b *testing.B) {
	lib, nativeErr := Native()
	for _, sh := range gemmShapes {
		r := rand.New(rand.NewPCG(1, 1))
		a := randSlice(r, sh.m*sh.k)
		bm := randSlice(r, sh.k*sh.n)
		c := make([]float32, sh.m*sh.n)
		for _, impl := range []blas.Float32{lib, PureGo()} {
			for _, threads := range []int{1, 2} {
				label := "gonum"
				if impl != PureGo() {
					label = "native"
				}
				b.Run(fmt.Sprintf("%s/%s/threads=%d", sh.name, label, threads), func(b *testing.B) {
					if impl == nil {
						b.Skipf("no native BLAS: %v", nativeErr)
					}
					restore := setBenchThreads(b, impl, threads)
					defer restore()
					impl.Sgemm(blas.NoTrans, blas.NoTrans, sh.m, sh.n, sh.k, 1, a, sh.k, bm, sh.n, 0, c, sh.n) // warm up
					b.ResetTimer()
					for b.Loop() {
						impl.Sgemm(blas.NoTrans, blas.NoTrans, sh.m, sh.n, sh.k, 1, a, sh.k, bm, sh.n, 0, c, sh.n)
					}
					flops := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k)
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					b.ReportMetric(0, "ns/op") // GFLOP/s says it; keep tables narrow
				})
			}
		}
	}
}

// BenchmarkSgemmTransB is the layout of a PyTorch linear layer: weights
// stored [out, in], so C = X * Wᵀ.
func BenchmarkSgemmTransB(b *testing.B) {
	lib, nativeErr := Native()
	for _, sh := range gemmShapes[:3] {
		r := rand.New(rand.NewPCG(1, 1))
		a := randSlice(r, sh.m*sh.k)
		w := randSlice(r, sh.n*sh.k)
		c := make([]float32, sh.m*sh.n)
		b.Run(sh.name+"/native/threads=2", func(b *testing.B) {
			if lib == nil {
				b.Skipf("no native BLAS: %v", nativeErr)
			}
			defer setBenchThreads(b, lib, 2)()
			for b.Loop() {
				lib.Sgemm(blas.NoTrans, blas.Trans, sh.m, sh.n, sh.k, 1, a, sh.k, w, sh.k, 0, c, sh.n)
			}
			b.ReportMetric(2*float64(sh.m*sh.n*sh.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// setBenchThreads sets the thread count of impl (OpenBLAS threads, or
// GOMAXPROCS for pure Go) and returns a function that restores it.
func setBenchThreads(b *testing.B, impl blas.Float32, n int) func() {
	b.Helper()
	if lib, ok := impl.(*Library); ok {
		old := lib.Threads()
		if err := lib.SetThreads(n); err != nil {
			b.Skip(err)
		}
		return func() { lib.SetThreads(old) }
	}
	old := runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(old) }
}

// BenchmarkCallOverhead measures the fixed cost of one native call through
// purego (a 1x1x1 Sgemm, and Sdot below and above the level-1 threshold,
// calling the library directly) against gonum's pure-Go routines.
func BenchmarkCallOverhead(b *testing.B) {
	lib := nativeOrSkip(b)
	g := gonum.Implementation{}
	one := []float32{1}
	c := []float32{0}
	b.Run("sgemm1x1x1/native", func(b *testing.B) {
		for b.Loop() {
			lib.Sgemm(blas.NoTrans, blas.NoTrans, 1, 1, 1, 1, one, 1, one, 1, 0, c, 1)
		}
	})
	b.Run("sgemm1x1x1/gonum", func(b *testing.B) {
		for b.Loop() {
			g.Sgemm(blas.NoTrans, blas.NoTrans, 1, 1, 1, 1, one, 1, one, 1, 0, c, 1)
		}
	})
	r := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{1024, 4096, 16384, 65536, 1 << 18} {
		x, y := randSlice(r, n), randSlice(r, n)
		b.Run(fmt.Sprintf("sdot%d/native", n), func(b *testing.B) {
			for b.Loop() {
				lib.sdot(int32(n), x, 1, y, 1)
			}
		})
		b.Run(fmt.Sprintf("sdot%d/gonum", n), func(b *testing.B) {
			for b.Loop() {
				g.Sdot(n, x, 1, y, 1)
			}
		})
		b.Run(fmt.Sprintf("saxpy%d/native", n), func(b *testing.B) {
			for b.Loop() {
				lib.saxpy(int32(n), 1e-3, x, 1, y, 1)
			}
		})
		b.Run(fmt.Sprintf("saxpy%d/gonum", n), func(b *testing.B) {
			for b.Loop() {
				g.Saxpy(n, 1e-3, x, 1, y, 1)
			}
		})
	}
	for _, mn := range [][2]int{{64, 64}, {128, 128}, {256, 256}, {768, 768}} {
		m, n := mn[0], mn[1]
		a, x, y := randSlice(r, m*n), randSlice(r, n), randSlice(r, m)
		b.Run(fmt.Sprintf("sgemv%dx%d/native", m, n), func(b *testing.B) {
			for b.Loop() {
				lib.sgemv(cblasRowMajor, cblasNoTrans, int32(m), int32(n), 1, a, int32(n), x, 1, 0, y, 1)
			}
		})
		b.Run(fmt.Sprintf("sgemv%dx%d/gonum", m, n), func(b *testing.B) {
			for b.Loop() {
				g.Sgemv(blas.NoTrans, m, n, 1, a, n, x, 1, 0, y, 1)
			}
		})
	}
}
