package linalg

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
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
// GFLOP/s is against wall time; GFLOP/cpu-s against the process's CPU time,
// which stays meaningful when other jobs share the cores (for 2 threads it
// includes OpenBLAS's spinning workers). Compare OpenBLAS kernels by running
// it with and without OPENBLAS_CORETYPE:
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
					cpu0 := processCPU()
					for b.Loop() {
						impl.Sgemm(blas.NoTrans, blas.NoTrans, sh.m, sh.n, sh.k, 1, a, sh.k, bm, sh.n, 0, c, sh.n)
					}
					cpu := processCPU() - cpu0
					flops := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k) * float64(b.N)
					b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					if cpu > 0 {
						b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
					}
				})
			}
		}
	}
}

// BenchmarkSgemmTransB is the layout of a PyTorch linear layer: weights
// stored [out, in], so C = X * Wᵀ: OpenBLAS on 2 threads against the packed
// AVX-512 product (Packed.Linear) on 1 and 2 goroutines, with float32 and
// half-precision panels (PackHalf: the same weights rounded to float16), in
// the same run:
//
//	OPENBLAS_CORETYPE=SkylakeX go test -run=^$ -bench=SgemmTransB -benchtime=20x ./linalg
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
		half := make([]uint16, len(w))
		F32ToF16(half, w)
		for _, threads := range []int{1, 2} {
			for _, precision := range []string{"f32", "f16"} {
				b.Run(fmt.Sprintf("%s/packed-%s/threads=%d", sh.name, precision, threads), func(b *testing.B) {
					if !FastLinear() {
						b.Skip("no AVX-512 kernel")
					}
					pk := Pack(make([]float32, PackedLen(sh.n, sh.k)), w, sh.n, sh.k)
					if precision == "f16" {
						pk = PackHalf(make([]uint16, PackedLen(sh.n, sh.k)), half, sh.n, sh.k)
					}
					for b.Loop() {
						pk.Linear(c, a, sh.m, nil, false, threads)
					}
					b.ReportMetric(2*float64(sh.m*sh.n*sh.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
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
