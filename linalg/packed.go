package linalg

import (
	"fmt"
	"sync"
	"unsafe"
)

// The packed product: a weight matrix is rearranged once, at load, into
// panels of packNR output features with the input dimension outermost, so
// that an AVX-512 micro-kernel reads 32 consecutive weights per input
// element; the activations are rearranged per call into panels of packMR
// rows the same way (a small copy next to the product). The loops follow
// GotoBLAS: blocks of packKC inputs, whose activation panels stay in the L2
// cache while each weight panel is swept over all of them.
const (
	packMR = 14  // rows of activations per tile
	packNR = 32  // output features per tile (two 16-float vectors)
	packKC = 256 // inputs per cache block
	packNB = 8   // weight panels per block of output columns
)

// Packed is a weight matrix in PyTorch's Linear layout [out, in], repacked
// for the AVX-512 product of [Packed.Linear]. It is read-only after
// [Pack] or [PackHalf], so one Packed may serve concurrent products.
type Packed struct {
	out, in int
	// The panels of packNR rows (zero padded), k outermost: data in
	// float32, or half in IEEE half precision (then data is nil).
	data []float32
	half []uint16
}

// PackedLen is the number of floats a [Packed] of an [out, in] matrix holds
// (out rounded up to a multiple of 32, times in): the size of the dst
// argument of [Pack].
func PackedLen(out, in int) int { return (out + packNR - 1) / packNR * packNR * in }

// FastLinear reports whether this CPU runs [Packed.Linear] with the
// AVX-512 kernel. Without it Packed.Linear is plain Go (correct, slow): use
// a BLAS through [Linear] instead.
func FastLinear() bool { return hasAVX512 }

// Pack rearranges w [out, in] (row-major, PyTorch's layout) into dst, which
// must hold [PackedLen](out, in) floats, and returns the packed matrix. dst
// is used in place (no copy is kept of w). It panics when the lengths
// disagree.
func Pack(dst, w []float32, out, in int) *Packed {
	if out <= 0 || in <= 0 || len(w) != out*in || len(dst) != PackedLen(out, in) {
		panic(fmt.Sprintf("linalg: Pack: w %d, dst %d for [%d, %d]", len(w), len(dst), out, in))
	}
	ParallelFor(len(dst)/(packNR*in), 0, func(lo, hi int) { packPanels(dst, w, in, out, in, lo, hi) })
	return &Packed{out: out, in: in, data: dst}
}

// PackHalf is [Pack] for a matrix of IEEE half-precision values (their
// bits, as a float16 checkpoint stores them): the panels stay in half
// precision, half the memory of float32 ones, and [Packed.Linear] widens
// each block of a panel to float32 once per call, before sweeping it over
// all the rows. The products are exactly those of the widened matrix.
func PackHalf(dst, w []uint16, out, in int) *Packed {
	if out <= 0 || in <= 0 || len(w) != out*in || len(dst) != PackedLen(out, in) {
		panic(fmt.Sprintf("linalg: PackHalf: w %d, dst %d for [%d, %d]", len(w), len(dst), out, in))
	}
	ParallelFor(len(dst)/(packNR*in), 0, func(lo, hi int) { packHalfPanels(dst, w, out, in, lo, hi) })
	return &Packed{out: out, in: in, half: dst}
}

// packHalfPanels is packPanels for halves (rows in apart), four times
// faster: whole panels move as 4x4 blocks, four rows of four halves read as
// four 64-bit words and transposed in registers into four words of the
// panel. A partial last panel, and the inputs beyond the last multiple of
// four, go through packPanels.
func packHalfPanels(dst, w []uint16, out, in, lo, hi int) {
	in4 := in &^ 3
	for p := lo; p < hi; p++ {
		if out-p*packNR < packNR || in4 == 0 {
			packPanels(dst, w, in, out, in, p, p+1)
			continue
		}
		panel := dst[p*packNR*in : (p+1)*packNR*in]
		rows := w[p*packNR*in : (p+1)*packNR*in]
		// 16 inputs at a time, as packPanels does, so that the rows' cache
		// lines are read once.
		for k0 := 0; k0 < in4; k0 += 16 {
			for j := 0; j < packNR; j += 4 {
				for k := k0; k < min(k0+16, in4); k += 4 {
					a := load64(rows[j*in+k:])
					b := load64(rows[(j+1)*in+k:])
					c := load64(rows[(j+2)*in+k:])
					d := load64(rows[(j+3)*in+k:])
					// 2x2 blocks of halves, then of pairs.
					const lo16, hi16 = 0x0000FFFF0000FFFF, 0xFFFF0000FFFF0000
					ab0 := a&lo16 | (b&lo16)<<16 // a0 b0 a2 b2
					ab1 := (a>>16)&lo16 | b&hi16 // a1 b1 a3 b3
					cd0 := c&lo16 | (d&lo16)<<16
					cd1 := (c>>16)&lo16 | d&hi16
					store64(panel[k*packNR+j:], ab0&0xFFFFFFFF|cd0<<32)
					store64(panel[(k+1)*packNR+j:], ab1&0xFFFFFFFF|cd1<<32)
					store64(panel[(k+2)*packNR+j:], ab0>>32|cd0&0xFFFFFFFF00000000)
					store64(panel[(k+3)*packNR+j:], ab1>>32|cd1&0xFFFFFFFF00000000)
				}
			}
		}
		for k := in4; k < in; k++ {
			for j := range packNR {
				panel[k*packNR+j] = rows[j*in+k]
			}
		}
	}
}

// load64 reads four halves as one little-endian word (s holds at least 4).
func load64(s []uint16) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<16 | uint64(s[2])<<32 | uint64(s[3])<<48
}

// store64 writes four halves from one little-endian word (s holds at least 4).
func store64(s []uint16, v uint64) {
	_ = s[3]
	s[0], s[1], s[2], s[3] = uint16(v), uint16(v>>16), uint16(v>>32), uint16(v>>48)
}

// PackStrided is [Pack] for a small matrix [out, in] whose rows are ld
// floats apart in w (a head's slice of a wider activation), on the calling
// goroutine.
func PackStrided(dst, w []float32, ld, out, in int) *Packed {
	if out <= 0 || in <= 0 || ld < in || len(w) < (out-1)*ld+in || len(dst) != PackedLen(out, in) {
		panic(fmt.Sprintf("linalg: PackStrided: w %d, dst %d for [%d, %d] at stride %d", len(w), len(dst), out, in, ld))
	}
	packPanels(dst, w, ld, out, in, 0, len(dst)/(packNR*in))
	return &Packed{out: out, in: in, data: dst}
}

// PackTransposed packs the transpose of m [in, out] (rows ld floats apart),
// on the calling goroutine: the packed weight of y = x·m (attention's
// probabilities times values).
func PackTransposed(dst, m []float32, ld, in, out int) *Packed {
	if out <= 0 || in <= 0 || ld < out || len(m) < (in-1)*ld+out || len(dst) != PackedLen(out, in) {
		panic(fmt.Sprintf("linalg: PackTransposed: m %d, dst %d for [%d, %d] at stride %d", len(m), len(dst), in, out, ld))
	}
	for p := range len(dst) / (packNR * in) {
		panel := dst[p*packNR*in : (p+1)*packNR*in]
		cols := min(out-p*packNR, packNR)
		for k := range in {
			seg := panel[k*packNR : (k+1)*packNR]
			copy(seg, m[k*ld+p*packNR:k*ld+p*packNR+cols])
			clear(seg[cols:])
		}
	}
	return &Packed{out: out, in: in, data: dst}
}

// packPanels fills panels [lo, hi) of dst from w [out, in] (rows ld apart).
func packPanels[T float32 | uint16](dst, w []T, ld, out, in, lo, hi int) {
	for p := lo; p < hi; p++ {
		panel := dst[p*packNR*in : (p+1)*packNR*in]
		rows := min(out-p*packNR, packNR)
		if rows < packNR {
			clear(panel)
		}
		// 16 inputs of each row at a time: one cache line read per row,
		// 2 KiB of the panel written.
		for k0 := 0; k0 < in; k0 += 16 {
			k1 := min(k0+16, in)
			for j := range rows {
				row := w[(p*packNR+j)*ld+k0 : (p*packNR+j)*ld+k1]
				for k, v := range row {
					panel[(k0+k)*packNR+j] = v
				}
			}
		}
	}
}

// scratch holds packed activations between calls (allocation-free in the
// steady state; a pool, so concurrent products get their own).
var scratch = sync.Pool{New: func() any { return new([]float32) }}

// Linear computes y = x·wᵀ + bias, as [Linear] does, with w packed: x is
// [rows, in], y [rows, out], bias [out] or nil. With accumulate, the result
// is added to y (a residual connection) instead of replacing it. The work is
// split over threads goroutines (<= 0: GOMAXPROCS). y must not overlap x.
// It panics when the lengths disagree.
func (p *Packed) Linear(y, x []float32, rows int, bias []float32, accumulate bool, threads int) {
	if rows < 0 || len(x) != rows*p.in || len(y) != rows*p.out {
		panic(fmt.Sprintf("linalg: Packed.Linear: x %d, y %d for %d rows of [%d, %d]", len(x), len(y), rows, p.out, p.in))
	}
	p.LinearStrided(y, p.out, x, p.in, rows, bias, accumulate, threads)
}

// LinearStrided is [Packed.Linear] with the rows of y and x ldy and ldx
// floats apart (slices of wider activations, such as attention heads).
func (p *Packed) LinearStrided(y []float32, ldy int, x []float32, ldx int, rows int, bias []float32, accumulate bool, threads int) {
	in, out := p.in, p.out
	if rows < 0 || ldx < in || ldy < out || (rows > 0 && (len(x) < (rows-1)*ldx+in || len(y) < (rows-1)*ldy+out)) || (bias != nil && len(bias) != out) {
		panic(fmt.Sprintf("linalg: Packed.LinearStrided: x %d (stride %d), y %d (stride %d), bias %d for %d rows of [%d, %d]", len(x), ldx, len(y), ldy, len(bias), rows, out, in))
	}
	if rows == 0 {
		return
	}
	mPanels := (rows + packMR - 1) / packMR
	nPanels := (out + packNR - 1) / packNR
	bufp := scratch.Get().(*[]float32)
	defer scratch.Put(bufp)
	need := mPanels * packMR * in
	if cap(*bufp) < need {
		*bufp = make([]float32, need)
	}
	a := (*bufp)[:need]
	ParallelFor(mPanels, threads, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			packRows(a[i*packMR*in:(i+1)*packMR*in], x, ldx, i*packMR, min(rows-i*packMR, packMR), in)
		}
	})
	// Split the output columns when there are enough panels for every
	// thread, the rows otherwise.
	tasks := func(body func(m0, m1, n0, n1 int)) {
		if th := workerCount(threads); nPanels >= 2*th || mPanels < 2*th {
			ParallelFor(nPanels, threads, func(n0, n1 int) { body(0, mPanels, n0, n1) })
		} else {
			ParallelFor(mPanels, threads, func(m0, m1 int) { body(m0, m1, 0, nPanels) })
		}
	}
	tasks(func(m0, m1, n0, n1 int) {
		var tile [packMR * packNR]float32
		var biasTile [packNR]float32
		var wide []float32 // a block of a half-precision panel, widened
		if p.half != nil {
			widep := scratch.Get().(*[]float32)
			defer scratch.Put(widep)
			if cap(*widep) < packKC*packNR {
				*widep = make([]float32, packKC*packNR)
			}
			wide = (*widep)[:packKC*packNR]
		}
		// Blocks of packNB weight panels: their output columns stay in the
		// L2 cache over the passes of the k blocks.
		for nb := n0; nb < n1; nb += packNB {
			for k0 := 0; k0 < in; k0 += packKC {
				kc := min(packKC, in-k0)
				for j := nb; j < min(nb+packNB, n1); j++ {
					var b []float32
					if p.half != nil {
						F16ToF32(wide, p.half[j*packNR*in+k0*packNR:j*packNR*in+(k0+kc)*packNR])
						b = wide
					} else {
						b = p.data[j*packNR*in+k0*packNR:]
					}
					cols := min(out-j*packNR, packNR)
					var bp *float32
					if k0 == 0 && bias != nil {
						clear(biasTile[:])
						copy(biasTile[:], bias[j*packNR:j*packNR+cols])
						bp = &biasTile[0]
					}
					load := k0 > 0 || accumulate
					for i := m0; i < m1; i++ {
						c := y[i*packMR*ldy+j*packNR:]
						tileAt(a[i*packMR*in+k0*packMR:], b, c, ldy, min(rows-i*packMR, packMR), cols, bp, kc, load, &tile)
					}
				}
			}
		}
	})
}

// tileAt runs the kernel on the tile of c (rows ldc apart) whose valid part
// is r rows by cols columns; a partial tile goes through scratch.
func tileAt(a, b, c []float32, ldc, r, cols int, bias *float32, kc int, load bool, scratch *[packMR * packNR]float32) {
	if r == packMR && cols == packNR {
		kernel(a, b, c, bias, kc, ldc, load)
		return
	}
	if load {
		for rr := range r {
			copy(scratch[rr*packNR:rr*packNR+cols], c[rr*ldc:rr*ldc+cols])
		}
	}
	kernel(a, b, scratch[:], bias, kc, packNR, load)
	for rr := range r {
		copy(c[rr*ldc:rr*ldc+cols], scratch[rr*packNR:rr*packNR+cols])
	}
}

// packRows copies rows [r0, r0+n) of x (rows of in values, ld apart) into
// dst as one panel: for each k, packMR values (zero beyond n).
func packRows(dst, x []float32, ld, r0, n, in int) {
	if n < packMR {
		clear(dst[:in*packMR])
	}
	// 16 inputs of each row at a time, so that the writes stay in a few
	// cache lines.
	for k0 := 0; k0 < in; k0 += 16 {
		k1 := min(k0+16, in)
		for r := range n {
			row := x[(r0+r)*ld+k0 : (r0+r)*ld+k1]
			d := dst[k0*packMR+r:]
			for k, v := range row {
				d[k*packMR] = v
			}
		}
	}
}

// kernel runs one tile with the AVX-512 kernel, or in Go without it.
// a and b start at the tile's first k; c at its top-left element.
func kernel(a, b, c []float32, bias *float32, kc, ldc int, load bool) {
	if hasAVX512 {
		// The kernel reads and writes whole tiles: check the bounds here.
		_ = a[kc*packMR-1]
		_ = b[kc*packNR-1]
		_ = c[(packMR-1)*ldc+packNR-1]
		sgemm14x32(&a[0], &b[0], &c[0], bias, kc, ldc, load)
		return
	}
	kernelGo(a, b, c, bias, kc, ldc, load)
}

// kernelGo is the portable twin of sgemm14x32.
func kernelGo(a, b, c []float32, bias *float32, kc, ldc int, load bool) {
	var acc [packMR][packNR]float32
	if bias != nil {
		bs := unsafe.Slice(bias, packNR)
		for r := range packMR {
			copy(acc[r][:], bs)
		}
	}
	for k := range kc {
		bk := b[k*packNR : (k+1)*packNR]
		for r := range packMR {
			av := a[k*packMR+r]
			for j, bv := range bk {
				acc[r][j] += av * bv
			}
		}
	}
	for r := range packMR {
		cr := c[r*ldc : r*ldc+packNR]
		if load {
			for j, v := range acc[r] {
				cr[j] += v
			}
		} else {
			copy(cr, acc[r][:])
		}
	}
}
