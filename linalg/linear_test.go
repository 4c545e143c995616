package linalg

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
)

// TestLinear checks Linear with and without bias, on pure Go and on the
// default implementation, against a float64 loop.
func TestLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 21))
	const rows, in, out = 33, 70, 45
	x, w, bias := randSlice(r, rows*in), randSlice(r, out*in), randSlice(r, out)
	for _, impl := range []blas.Float32{PureGo(), Default()} {
		for _, b := range [][]float32{bias, nil} {
			y := randSlice(r, rows*out) // garbage that must be overwritten
			Linear(impl, y, x, rows, w, in, out, b)
			for i := range rows {
				for j := range out {
					var want, mag float64
					for p := range in {
						want += float64(x[i*in+p]) * float64(w[j*in+p])
						mag += math.Abs(float64(x[i*in+p]) * float64(w[j*in+p]))
					}
					if b != nil {
						want += float64(b[j])
						mag += math.Abs(float64(b[j]))
					}
					if d := math.Abs(float64(y[i*out+j]) - want); d > 1e-6*mag {
						t.Fatalf("%s bias=%v: y[%d,%d] = %g, want %g", Name(impl), b != nil, i, j, y[i*out+j], want)
					}
				}
			}
		}
	}
	Linear(PureGo(), nil, nil, 0, w, in, out, bias) // no rows: nothing to do
	msg := panicMessage(func() {
		Linear(PureGo(), make([]float32, 4), make([]float32, 6), 2, make([]float32, 6), 3, 2, make([]float32, 3))
	})
	if !strings.HasPrefix(msg, "linalg: Linear:") {
		t.Errorf("bias of the wrong length: panic %q", msg)
	}
}
