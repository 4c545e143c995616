package linalg

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
)

// Linear computes y = x·wᵀ + bias for all rows in one GEMM, as PyTorch's
// nn.Linear: x is [rows, in], w is [out, in] (PyTorch's layout), bias is
// [out] or nil, y is [rows, out], all row-major. The bias is written into y
// first and the product accumulated onto it (beta = 1), so no second pass is
// needed. y must not overlap x or w. It panics when the lengths disagree.
func Linear(impl blas.Float32, y, x []float32, rows int, w []float32, in, out int, bias []float32) {
	if rows < 0 || in <= 0 || out <= 0 || len(x) != rows*in || len(w) != out*in || len(y) != rows*out || (bias != nil && len(bias) != out) {
		panic(fmt.Sprintf("linalg: Linear: x %d, w %d, y %d, bias %d for %d rows, %d in, %d out", len(x), len(w), len(y), len(bias), rows, in, out))
	}
	if rows == 0 {
		return
	}
	beta := float32(0)
	if bias != nil {
		for r := range rows {
			copy(y[r*out:(r+1)*out], bias)
		}
		beta = 1
	}
	impl.Sgemm(blas.NoTrans, blas.Trans, rows, out, in, 1, x, in, w, in, beta, y, out)
}
