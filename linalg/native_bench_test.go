//go:build linux || darwin

package linalg

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

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

// BenchmarkSgemmThenGo measures whether OpenBLAS's worker threads, which spin
// for a while after each call, slow Go goroutines that run right after a GEMM:
// fc1 of a ViT-g block on 2 OpenBLAS threads, then GELU on 2 goroutines.
// Compare gemm+gelu with the sum of gemm and gelu alone.
func BenchmarkSgemmThenGo(b *testing.B) {
	lib := nativeOrSkip(b)
	const m, n, k = 257, 6144, 1408
	r := rand.New(rand.NewPCG(3, 3))
	a, w := randSlice(r, m*k), randSlice(r, k*n)
	c := make([]float32, m*n)
	defer setBenchThreads(b, lib, 2)()
	gemm := func() { lib.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, w, n, 0, c, n) }
	gelu := func() {
		ParallelFor(m, 2, func(lo, hi int) { GELU(c[lo*n : hi*n]) })
	}
	gemm()
	b.Run("gemm", func(b *testing.B) {
		for b.Loop() {
			gemm()
		}
	})
	b.Run("gelu", func(b *testing.B) {
		for b.Loop() {
			gelu()
		}
	})
	b.Run("gemm+gelu", func(b *testing.B) {
		for b.Loop() {
			gemm()
			gelu()
		}
	})
}
