package vision

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"

	"github.com/xraygpt-go/xraygpt/linalg"
)

// The layer kinds shared by the encoders. Activations are row-major
// [rows, cols] float32 slices; weights follow PyTorch's Linear layout
// [out, in]. Every matrix product goes through the blas.Float32 seam.

// linear computes y[rows,out] = x[rows,in] @ w[out,in]^T + b (b may be nil).
// With accumulate, the product is added to y instead (a residual add).
// Large products are split by output rows or columns (the longer side) over
// threads goroutines, each one BLAS call, so that the parallelism is Go's whether or not the BLAS
// library threads (single-threaded BLAS avoids its idle workers spinning
// against our goroutines).
func linear(bl blas.Float32, y, x []float32, rows, in, out int, w, b []float32, accumulate bool, threads int) {
	// part computes rows [r0,r1) x columns [c0,c1): the bias goes into y
	// first (set, or added for a residual), then the product accumulates.
	part := func(r0, r1, c0, c1 int) {
		beta := float32(0)
		if b != nil {
			for r := r0; r < r1; r++ {
				row, bias := y[r*out+c0:r*out+c1], b[c0:c1]
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
		bl.Sgemm(blas.NoTrans, blas.Trans, r1-r0, c1-c0, in, 1, x[r0*in:], in, w[c0*in:], in, beta, y[r0*out+c0:], out)
	}
	th := 1
	if rows*in*out >= minSplitWork {
		th = effectiveThreads(threads)
	}
	switch {
	case th <= 1:
		part(0, rows, 0, out)
	case out >= th*splitAlign && out > rows:
		// Wide output: split the columns (weight rows) in blocks of
		// splitAlign; each call re-packs only the small x.
		blocks := (out + splitAlign - 1) / splitAlign
		parallelFor(blocks, th, func(lo, hi int) { part(0, rows, lo*splitAlign, min(hi*splitAlign, out)) })
	default: // tall x: split the rows; each call re-packs only w
		parallelFor(rows, th, func(r0, r1 int) { part(r0, r1, 0, out) })
	}
}

// Products of at least minSplitWork multiply-adds are split; column blocks
// are multiples of splitAlign.
const (
	minSplitWork = 1 << 21
	splitAlign   = 64
)

func effectiveThreads(threads int) int {
	if threads <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return threads
}

// layerNorm normalizes each row of x[rows,dim] into y (which may alias x)
// with weight w and bias b, as torch.nn.LayerNorm does (biased variance).
func layerNorm(y, x []float32, rows, dim int, w, b []float32, eps float32, threads int) {
	parallelFor(rows, threads, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*dim : (r+1)*dim]
			yr := y[r*dim : (r+1)*dim]
			var mean float64
			for _, v := range xr {
				mean += float64(v)
			}
			mean /= float64(dim)
			var varsum float64
			for _, v := range xr {
				d := float64(v) - mean
				varsum += d * d
			}
			inv := 1 / math.Sqrt(varsum/float64(dim)+float64(eps))
			m, s := float32(mean), float32(inv)
			for i, v := range xr {
				yr[i] = (v-m)*s*w[i] + b[i]
			}
		}
	})
}

// gelu applies the exact (erf) GELU in place, as torch.nn.GELU() does:
// x * (1 + erf(x/sqrt 2)) / 2, interpolated linearly in a table of the
// float64 values with step 1/geluScale on [-geluRange, geluRange] (absolute
// error below 4e-7); outside it GELU is x or 0 to float32 precision.
func gelu(x []float32, threads int) {
	const block = 4096
	tab := geluTable
	parallelFor((len(x)+block-1)/block, threads, func(lo, hi int) {
		xs := x[lo*block : min(hi*block, len(x))]
		for i, v := range xs {
			switch {
			case v >= geluRange || v != v: // large, or NaN (kept)
				continue
			case v <= -geluRange:
				xs[i] = 0
				continue
			}
			f := (v + geluRange) * geluScale
			k := int(f)
			if k >= len(tab)-1 { // v just below geluRange
				k = len(tab) - 2
			}
			fr := f - float32(k)
			xs[i] = tab[k] + fr*(tab[k+1]-tab[k])
		}
	})
}

const (
	geluRange = 8   // GELU(x) = x (x >= 8) or 0 (x <= -8) within float32 rounding
	geluScale = 512 // table points per unit
)

// geluTable holds GELU(-geluRange + i/geluScale), computed once in float64.
var geluTable = func() []float32 {
	t := make([]float32, 2*geluRange*geluScale+1)
	for i := range t {
		x := -geluRange + float64(i)/geluScale
		t[i] = float32(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
	}
	return t
}()

// expRows turns each row of scores s[rows,cols] into exp(scale*s + bias +
// mask - rowmax) (bias and mask may be nil, else [rows,cols]) and stores
// 1/rowsum in inv[row]: an unnormalized softmax, normalized later on the
// smaller attention output. exp is linalg.ExpSum's (float32, about 1 ulp,
// vectorized where the CPU allows).
func expRows(s []float32, rows, cols int, scale float32, bias, mask, inv []float32) {
	for r := 0; r < rows; r++ {
		row := s[r*cols : (r+1)*cols]
		sc := scale // applied by the first pass over the row
		if bias != nil {
			for i, v := range bias[r*cols : (r+1)*cols] {
				row[i] = row[i]*sc + v
			}
			sc = 1
		}
		if mask != nil {
			for i, v := range mask[r*cols : (r+1)*cols] {
				row[i] = row[i]*sc + v
			}
			sc = 1
		}
		// The scale, if still due, and the maximum in one pass; not max():
		// its NaN handling is slow here.
		row[0] *= sc
		mx := row[0]
		for i, v := range row[1:] {
			v *= sc
			row[i+1] = v
			if v > mx {
				mx = v
			}
		}
		inv[r] = float32(1 / linalg.ExpSum(row, mx))
	}
}

// attnArgs describes one multi-head scaled dot-product attention:
// queries q[nq, heads*hd] (row stride ldq), keys k and values v [nk, heads*hd]
// (row strides ldk, ldv), output o[nq, heads*hd] (row stride ldo).
type attnArgs struct {
	q, k, v, o         []float32
	ldq, ldk, ldv, ldo int
	nq, nk, heads, hd  int
	scale              float32
	// bias, if not nil, is added to the scores of head h: bias[h*nq*nk:].
	bias []float32
	// mask, if not nil, is added to every head's scores [nq, nk].
	mask []float32
	// packed multiplies with linalg's packed AVX-512 product instead of bl.
	packed bool
}

// attnScratch is the scratch one head needs: scores [nq,nk], the row
// normalizers [nq] and, for the packed product, the head's keys and values
// packed.
func attnScratch(nq, nk, hd int) int {
	return nq*nk + nq + linalg.PackedLen(nk, hd) + linalg.PackedLen(hd, nk)
}

// attention computes softmax(scale*q k^T + bias + mask) v for every head.
// scratch must hold heads*attnScratch(nq, nk, hd) floats. Heads run in
// parallel.
func attention(bl blas.Float32, a attnArgs, scratch []float32, threads int) {
	n := attnScratch(a.nq, a.nk, a.hd)
	parallelFor(a.heads, threads, func(lo, hi int) {
		for h := lo; h < hi; h++ {
			attendHead(bl, a, h, scratch[h*n:(h+1)*n])
		}
	})
}

// attendHead is attention for head h with its own scratch of
// attnScratch(nq, nk) floats.
func attendHead(bl blas.Float32, a attnArgs, h int, scratch []float32) {
	off := h * a.hd
	n := a.nq * a.nk
	s, inv := scratch[:n], scratch[n:n+a.nq]
	var bias []float32
	if a.bias != nil {
		bias = a.bias[h*n : (h+1)*n]
	}
	if a.packed {
		// The head's keys and values packed as the weights of two products.
		rest := scratch[n+a.nq:]
		kl, vl := linalg.PackedLen(a.nk, a.hd), linalg.PackedLen(a.hd, a.nk)
		pk := linalg.PackStrided(rest[:kl], a.k[off:], a.ldk, a.nk, a.hd)
		pk.LinearStrided(s, a.nk, a.q[off:], a.ldq, a.nq, nil, false, 1)
		expRows(s, a.nq, a.nk, a.scale, bias, a.mask, inv)
		pv := linalg.PackTransposed(rest[kl:kl+vl], a.v[off:], a.ldv, a.nk, a.hd)
		pv.LinearStrided(a.o[off:], a.ldo, s, a.nk, a.nq, nil, false, 1)
	} else {
		bl.Sgemm(blas.NoTrans, blas.Trans, a.nq, a.nk, a.hd, 1, a.q[off:], a.ldq, a.k[off:], a.ldk, 0, s, a.nk)
		expRows(s, a.nq, a.nk, a.scale, bias, a.mask, inv)
		bl.Sgemm(blas.NoTrans, blas.NoTrans, a.nq, a.hd, a.nk, 1, s, a.nk, a.v[off:], a.ldv, 0, a.o[off:], a.ldo)
	}
	for r, f := range inv {
		o := a.o[r*a.ldo+off : r*a.ldo+off+a.hd]
		for i := range o {
			o[i] *= f
		}
	}
}

// parallelFor runs fn over [0,n) split into contiguous pieces, on at most
// threads goroutines (inline when one suffices). There are a few pieces per
// goroutine, handed out as goroutines finish, so a goroutine that the OS
// descheduled does not hold the others back.
func parallelFor(n, threads int, fn func(lo, hi int)) {
	threads = effectiveThreads(threads)
	if threads > n {
		threads = n
	}
	if threads <= 1 {
		fn(0, n)
		return
	}
	pieces := min(n, threads*piecesPerThread)
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < threads; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p := int(next.Add(1) - 1)
				if p >= pieces {
					return
				}
				fn(p*n/pieces, (p+1)*n/pieces)
			}
		}()
	}
	wg.Wait()
}

// piecesPerThread is how finely parallelFor and linear split work.
const piecesPerThread = 4

// addRows adds src into dst element-wise.
func addRows(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}
