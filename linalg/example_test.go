package linalg_test

import (
	"fmt"

	"gonum.org/v1/gonum/blas"

	"github.com/xraygpt-go/xraygpt/linalg"
)

// A linear layer as PyTorch stores it (weight [out, in]) applied to all
// tokens in one GEMM: Y = X·Wᵀ, then the bias and GELU.
func ExampleDefault() {
	impl := linalg.Default() // native BLAS when it loads, else pure Go
	const tokens, in, out = 2, 3, 2
	x := []float32{1, 2, 3, 4, 5, 6}      // [tokens, in]
	w := []float32{1, 0, -1, 0.5, 0.5, 0} // [out, in]
	bias := []float32{0, -2}
	y := make([]float32, tokens*out)
	impl.Sgemm(blas.NoTrans, blas.Trans, tokens, out, in, 1, x, in, w, in, 0, y, out)
	for i := range tokens {
		for j := range out {
			y[i*out+j] += bias[j]
		}
	}
	linalg.GELU(y)
	fmt.Printf("%.4f\n", y)
	// Output: [-0.0455 -0.1543 -0.0455 2.4845]
}

// Row-wise helpers parallelize by handing each worker whole rows.
func ExampleParallelFor() {
	const rows, cols = 4, 3
	x := []float32{1, 2, 3, 2, 2, 2, -1, 0, 1, 10, 20, 60}
	linalg.ParallelFor(rows, 2, func(lo, hi int) {
		linalg.LayerNorm(x[lo*cols:hi*cols], x[lo*cols:hi*cols], cols, nil, nil, 1e-5)
	})
	fmt.Printf("%.3f\n", x)
	// Output: [-1.225 0.000 1.225 0.000 0.000 0.000 -1.225 0.000 1.225 -0.926 -0.463 1.389]
}
