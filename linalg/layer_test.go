package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
)

// TestDense checks Apply and AddTo with and without bias, plain (pure Go and
// the default BLAS, on one goroutine and split by rows or by columns) and
// packed, against a float64 loop.
func TestDense(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 21))
	for _, sh := range [][3]int{{33, 70, 45}, {257, 96, 100}, {20, 300, 700}} { // rows, in, out
		rows, in, out := sh[0], sh[1], sh[2]
		x, w, bias := randSlice(r, rows*in), randSlice(r, out*in), randSlice(r, out)
		pk := Pack(make([]float32, PackedLen(out, in)), w, out, in)
		for _, impl := range []blas.Float32{PureGo(), nil} {
			for _, packed := range []bool{false, true} {
				for _, threads := range []int{1, 2} {
					for _, b := range [][]float32{bias, nil} {
						for _, add := range []bool{false, true} {
							d := Dense{In: in, Out: out, W: w, B: b}
							if packed {
								d = Dense{In: in, Out: out, P: pk, B: b}
							}
							name := fmt.Sprintf("%v %s packed=%v threads=%d bias=%v add=%v", sh, Name(Exec{BLAS: impl}.Impl()), packed, threads, b != nil, add)
							y := randSlice(r, rows*out)
							y0 := append([]float32(nil), y...)
							if add {
								d.AddTo(Exec{BLAS: impl, Threads: threads}, y, x, rows)
							} else {
								d.Apply(Exec{BLAS: impl, Threads: threads}, y, x, rows)
							}
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
									if add {
										want += float64(y0[i*out+j])
										mag += math.Abs(float64(y0[i*out+j]))
									}
									if d := math.Abs(float64(y[i*out+j]) - want); d > 1e-6*mag {
										t.Fatalf("%s: y[%d,%d] = %g, want %g", name, i, j, y[i*out+j], want)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	d := Dense{In: 3, Out: 2, W: make([]float32, 6), B: make([]float32, 2)}
	d.Apply(Exec{}, nil, nil, 0) // no rows: nothing to do
	d.B = make([]float32, 3)
	msg := panicMessage(func() { d.Apply(Exec{}, make([]float32, 4), make([]float32, 6), 2) })
	if !strings.HasPrefix(msg, "linalg: Dense:") {
		t.Errorf("bias of the wrong length: panic %q", msg)
	}
}

// TestExecDefaults checks the zero Exec: Default's BLAS on GOMAXPROCS goroutines.
func TestExecDefaults(t *testing.T) {
	var e Exec
	if Name(e.Impl()) != Name(Default()) || workerCount(e.Threads) < 1 {
		t.Errorf("zero Exec: %s on %d workers", Name(e.Impl()), workerCount(e.Threads))
	}
	if workerCount(Exec{BLAS: PureGo(), Threads: 3}.Threads) != 3 || Name(Exec{BLAS: PureGo()}.Impl()) != Name(PureGo()) {
		t.Error("Exec fields ignored")
	}
}
