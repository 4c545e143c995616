package linalg

import "testing"

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
