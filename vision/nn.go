package vision

import (
	"gonum.org/v1/gonum/blas"

	"github.com/xraygpt-go/xraygpt/linalg"
)

// The layer kinds shared by the encoders. Activations are row-major
// [rows, cols] float32 slices; weights follow PyTorch's Linear layout
// [out, in]. Linear layers are linalg.Dense (plain weights through the BLAS
// of a linalg.Exec, or packed for linalg's AVX-512 product); row-wise work
// runs linalg's kernels split over the Exec's goroutines.

// norm is a LayerNorm (weight, bias [dim]) as torch.nn.LayerNorm.
type norm struct {
	w, b []float32
	eps  float32
}

// apply normalizes each row of x [rows, len(n.w)] into y (which may be x).
func (n *norm) apply(ex linalg.Exec, y, x []float32, rows int) {
	d := len(n.w)
	linalg.ParallelFor(rows, ex.Threads, func(lo, hi int) {
		linalg.LayerNorm(y[lo*d:hi*d], x[lo*d:hi*d], d, n.w, n.b, n.eps)
	})
}

// gelu applies the exact (erf) GELU in place, as torch.nn.GELU() does.
func gelu(ex linalg.Exec, x []float32) {
	const block = 4096
	linalg.ParallelFor((len(x)+block-1)/block, ex.Threads, func(lo, hi int) {
		linalg.GELU(x[lo*block : min(hi*block, len(x))])
	})
}

// im2col copies the square patches (kernel = stride = P) of the CHW image
// img [3,S,S] into rows of dst [(S/P)^2, 3*P*P], raster order, columns
// (channel, ky, kx) as in a Conv2d weight: the patch embedding is then one
// Linear over the rows.
func im2col(dst, img []float32, S, P int) {
	G, K := S/P, 3*P*P
	for py := 0; py < G; py++ {
		for px := 0; px < G; px++ {
			row := dst[(py*G+px)*K:]
			for ch := 0; ch < 3; ch++ {
				for ky := 0; ky < P; ky++ {
					copy(row[ch*P*P+ky*P:ch*P*P+ky*P+P], img[ch*S*S+(py*P+ky)*S+px*P:])
				}
			}
		}
	}
}

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
	// packed multiplies with linalg's packed AVX-512 product instead of the BLAS.
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
func attention(ex linalg.Exec, a attnArgs, scratch []float32) {
	n := attnScratch(a.nq, a.nk, a.hd)
	linalg.ParallelFor(a.heads, ex.Threads, func(lo, hi int) {
		for h := lo; h < hi; h++ {
			attendHead(ex, a, h, scratch[h*n:(h+1)*n])
		}
	})
}

// attendHead is attention for head h with its own scratch of
// attnScratch(nq, nk) floats.
func attendHead(ex linalg.Exec, a attnArgs, h int, scratch []float32) {
	bl := ex.Impl()
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

// addRows adds src into dst element-wise.
func addRows(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}
