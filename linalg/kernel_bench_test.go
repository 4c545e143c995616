package linalg

import (
	"fmt"
	"testing"
)

// BenchmarkKernel runs the 14x32 tile kernel on operands that stay in the L1
// cache: its throughput against the FMA peak.
func BenchmarkKernel(b *testing.B) {
	if !hasAVX512 {
		b.Skip("no AVX-512")
	}
	const kc = 64
	a := make([]float32, kc*packMR)
	w := make([]float32, kc*packNR)
	c := make([]float32, packMR*packNR)
	for b.Loop() {
		for range 100 {
			sgemm14x32(&a[0], &w[0], &c[0], nil, kc, packNR, true)
		}
	}
	b.ReportMetric(2*float64(kc*packMR*packNR*100)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkReadBandwidth sums 1 GiB (far beyond the caches) with the
// vectorized row sum on 1 and 2 goroutines: the memory read bandwidth that
// bounds generation, where every weight of the language model is read once
// per token.
func BenchmarkReadBandwidth(b *testing.B) {
	if !hasAVX2FMA {
		b.Skip("no AVX2")
	}
	x := make([]float32, 1<<28)
	for i := range x {
		x[i] = 1
	}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			for b.Loop() {
				ParallelFor(threads, threads, func(lo, hi int) {
					part := len(x) / threads
					for t := lo; t < hi; t++ {
						sumAVX2(x[t*part : (t+1)*part])
					}
				})
			}
			b.ReportMetric(float64(len(x)*4)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}
