package linalg

import (
	"fmt"
	"runtime"

	"gonum.org/v1/gonum/blas"
)

// Exec says how products run: which BLAS and on how many goroutines. The
// zero value runs [Default] on GOMAXPROCS goroutines.
type Exec struct {
	BLAS    blas.Float32 // nil: Default()
	Threads int          // <= 0: GOMAXPROCS
}

// Impl is the BLAS the products run on: e.BLAS, or [Default] when nil.
func (e Exec) Impl() blas.Float32 {
	if e.BLAS == nil {
		return Default()
	}
	return e.BLAS
}

// workerCount is the number of goroutines for threads: threads, or GOMAXPROCS
// when <= 0 (ParallelFor's rule).
func workerCount(threads int) int {
	if threads <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return threads
}

// Dense is a linear layer y = x·Wᵀ + B as PyTorch's nn.Linear: the weight
// [Out, In] in PyTorch's layout, either plain (W, multiplied by the BLAS)
// or packed (P, by [Packed.Linear]); the bias B [Out] or nil.
type Dense struct {
	In, Out int
	W       []float32
	P       *Packed
	B       []float32
}

// Apply writes y[rows, Out] = x[rows, In]·Wᵀ + B. y must not overlap x.
func (d *Dense) Apply(e Exec, y, x []float32, rows int) { d.product(e, y, x, rows, false) }

// AddTo adds x·Wᵀ + B to y (a residual connection). The product is summed
// apart and added to y once per block of inputs, so its rounding is at the
// scale of the product, not of y.
func (d *Dense) AddTo(e Exec, y, x []float32, rows int) { d.product(e, y, x, rows, true) }

// Products of at least minSplitWork multiply-adds are split over
// goroutines; column blocks are multiples of splitAlign.
const (
	minSplitWork = 1 << 21
	splitAlign   = 64
)

func (d *Dense) product(e Exec, y, x []float32, rows int, accumulate bool) {
	in, out := d.In, d.Out
	if rows < 0 || len(x) < rows*in || len(y) < rows*out || (d.B != nil && len(d.B) != out) || (d.P == nil && len(d.W) != out*in) {
		panic(fmt.Sprintf("linalg: Dense: x %d, y %d, w %d, bias %d for %d rows of [%d, %d]", len(x), len(y), len(d.W), len(d.B), rows, out, in))
	}
	if rows == 0 {
		return
	}
	if d.P != nil {
		d.P.Linear(y[:rows*out], x[:rows*in], rows, d.B, accumulate, e.Threads)
		return
	}
	bl := e.Impl()
	// part computes rows [r0,r1) x columns [c0,c1), one BLAS call: the bias
	// goes into y first (set, or added for a residual), then the product
	// accumulates onto it (beta = 1).
	part := func(r0, r1, c0, c1 int) {
		beta := float32(0)
		if d.B != nil {
			for r := r0; r < r1; r++ {
				row, bias := y[r*out+c0:r*out+c1], d.B[c0:c1]
				if accumulate {
					for i, v := range bias {
						row[i] += v
					}
				} else {
					copy(row, bias)
				}
			}
			beta = 1
		}
		if accumulate {
			beta = 1
		}
		bl.Sgemm(blas.NoTrans, blas.Trans, r1-r0, c1-c0, in, 1, x[r0*in:], in, d.W[c0*in:], in, beta, y[r0*out+c0:], out)
	}
	// Large products are split by output rows or columns (the longer side)
	// over Go's goroutines, each one BLAS call, whether or not the BLAS
	// library threads (a single-threaded BLAS avoids its idle workers
	// spinning against the goroutines).
	th := 1
	if rows*in*out >= minSplitWork {
		th = workerCount(e.Threads)
	}
	switch {
	case th <= 1:
		part(0, rows, 0, out)
	case out >= th*splitAlign && out > rows:
		// Wide output: split the columns (weight rows) in blocks of
		// splitAlign; each call re-packs only the small x.
		blocks := (out + splitAlign - 1) / splitAlign
		perWorker(th, func(i int) {
			part(0, rows, i*blocks/th*splitAlign, min((i+1)*blocks/th*splitAlign, out))
		})
	default: // tall x: split the rows; each call re-packs only w
		perWorker(th, func(i int) { part(i*rows/th, (i+1)*rows/th, 0, out) })
	}
}

// perWorker runs body(0..th-1) on th goroutines, one call each: a BLAS
// call packs its operands, so one call per worker packs them th times,
// where ParallelFor's finer pieces would pack them several times more.
func perWorker(th int, body func(i int)) {
	ParallelFor(th, th, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			body(i)
		}
	})
}
