package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// linearRef is y = x·wᵀ + bias (+ y0 when accumulating) in float64.
func linearRef(x, w, bias, y0 []float32, rows, in, out int) []float64 {
	y := make([]float64, rows*out)
	for r := range rows {
		for o := range out {
			var s float64
			for k := range in {
				s += float64(x[r*in+k]) * float64(w[o*in+k])
			}
			if bias != nil {
				s += float64(bias[o])
			}
			if y0 != nil {
				s += float64(y0[r*out+o])
			}
			y[r*out+o] = s
		}
	}
	return y
}

// unpack writes p back in [out, in] layout into w.
func unpack(p *Packed, w []float32) {
	for o := range p.out {
		panel := p.data[o/packNR*packNR*p.in:]
		for k := range p.in {
			w[o*p.in+k] = panel[k*packNR+o%packNR]
		}
	}
}

func TestPackedLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{ // rows, in, out
		{1, 1, 1}, {14, 32, 32}, {13, 7, 33}, {15, 300, 64}, {29, 257, 100},
		{257, 88, 96}, {3, 600, 31}, {57, 513, 200}, {30, 40, 700},
	}
	for _, sh := range shapes {
		rows, in, out := sh[0], sh[1], sh[2]
		x, w, bias := randSlice(rng, rows*in), randSlice(rng, out*in), randSlice(rng, out)
		pk := Pack(make([]float32, PackedLen(out, in)), w, out, in)
		back := make([]float32, out*in)
		unpack(pk, back)
		for i := range w {
			if back[i] != w[i] {
				t.Fatalf("%v: the packed matrix differs from w at %d", sh, i)
			}
		}
		for _, withBias := range []bool{false, true} {
			for _, acc := range []bool{false, true} {
				for _, threads := range []int{1, 2, 3} {
					name := fmt.Sprintf("%dx%dx%d/bias=%v/acc=%v/th=%d", rows, in, out, withBias, acc, threads)
					b := bias
					if !withBias {
						b = nil
					}
					y0 := randSlice(rng, rows*out)
					y := append([]float32(nil), y0...)
					var prev []float32
					if acc {
						prev = y0
					}
					pk.Linear(y, x, rows, b, acc, threads)
					want := linearRef(x, w, b, prev, rows, in, out)
					// float32 accumulation over in terms of unit-variance products.
					tol := 1e-5 * math.Sqrt(float64(in)) * 4
					for i := range want {
						if d := math.Abs(float64(y[i]) - want[i]); d > tol || math.IsNaN(float64(y[i])) {
							t.Fatalf("%s: y[%d] = %g, want %g (|diff| %g > %g)", name, i, y[i], want[i], d, tol)
						}
					}
				}
			}
		}
	}
}

// TestPackHalf checks that half-precision panels give exactly the product
// of the widened matrix packed in float32, whatever the split and block
// boundaries, and that they hold the halves in the float32 panels' layout.
func TestPackHalf(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, sh := range [][3]int{{1, 1, 1}, {13, 7, 33}, {29, 257, 100}, {57, 513, 200}, {30, 600, 700}} {
		rows, in, out := sh[0], sh[1], sh[2]
		x, bias := randSlice(rng, rows*in), randSlice(rng, out)
		half := make([]uint16, out*in)
		F32ToF16(half, randSlice(rng, out*in))
		wide := make([]float32, out*in)
		F16ToF32(wide, half)
		ph := PackHalf(make([]uint16, PackedLen(out, in)), half, out, in)
		pf := Pack(make([]float32, PackedLen(out, in)), wide, out, in)
		for i, h := range ph.half {
			if Float16To32(h) != pf.data[i] {
				t.Fatalf("%v: half panel element %d is %g, the float32 panel has %g", sh, i, Float16To32(h), pf.data[i])
			}
		}
		for _, threads := range []int{1, 2, 3} {
			for _, acc := range []bool{false, true} {
				y0 := randSlice(rng, rows*out)
				yh, yf := append([]float32(nil), y0...), append([]float32(nil), y0...)
				ph.Linear(yh, x, rows, bias, acc, threads)
				pf.Linear(yf, x, rows, bias, acc, threads)
				for i := range yf {
					if math.Float32bits(yh[i]) != math.Float32bits(yf[i]) {
						t.Fatalf("%v threads=%d acc=%v: y[%d] = %g with half panels, %g with float32 ones", sh, threads, acc, i, yh[i], yf[i])
					}
				}
			}
		}
	}
}

// TestKernelMatchesGo runs the assembly tile kernel and its Go twin on the
// same tiles: they must agree to float32 rounding.
func TestKernelMatchesGo(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kc := range []int{0, 1, 5, 256} {
		for _, load := range []bool{false, true} {
			for _, withBias := range []bool{false, true} {
				a, b := randSlice(rng, kc*packMR+1), randSlice(rng, kc*packNR+1)
				bias := randSlice(rng, packNR)
				var bp *float32
				if withBias {
					bp = &bias[0]
				}
				const ldc = 40
				c0 := randSlice(rng, packMR*ldc)
				c1 := append([]float32(nil), c0...)
				c2 := append([]float32(nil), c0...)
				sgemm14x32(&a[0], &b[0], &c1[0], bp, kc, ldc, load)
				kernelGo(a, b, c2, bp, kc, ldc, load)
				for i := range c1 {
					if i%ldc >= packNR {
						if c1[i] != c0[i] {
							t.Fatalf("kc=%d: kernel wrote outside the tile at %d", kc, i)
						}
						continue
					}
					if d := math.Abs(float64(c1[i] - c2[i])); d > 1e-4*math.Sqrt(float64(kc)+1) {
						t.Fatalf("kc=%d load=%v bias=%v: c[%d] asm %g, go %g", kc, load, withBias, i, c1[i], c2[i])
					}
				}
			}
		}
	}
}

func TestPackPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Pack with a short dst did not panic")
		}
	}()
	Pack(make([]float32, 10), make([]float32, 64), 2, 32)
}

// TestPackedStrided multiplies heads of wider activations, as attention
// does: scores = q_h·k_hᵀ (PackStrided) and out_h = p·v_h (PackTransposed),
// with rows of q, k, v and out at strides wider than a head.
func TestPackedStrided(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, sh := range [][2]int{{1, 1}, {17, 8}, {257, 88}, {50, 40}} {
		n, hd := sh[0], sh[1]
		const ld = 3*96 + 5 // rows of q, k, v: wider than any head here
		q, kk, v := randSlice(rng, n*ld), randSlice(rng, n*ld), randSlice(rng, n*ld)
		off := 7
		// scores[n, n] = q[:, off:off+hd] · k[:, off:off+hd]ᵀ
		pk := PackStrided(make([]float32, PackedLen(n, hd)), kk[off:], ld, n, hd)
		qh, kh := make([]float32, n*hd), make([]float32, n*hd)
		for r := range n {
			copy(qh[r*hd:(r+1)*hd], q[r*ld+off:])
			copy(kh[r*hd:(r+1)*hd], kk[r*ld+off:])
		}
		scores := make([]float32, n*n)
		pk.LinearStrided(scores, n, q[off:], ld, n, nil, false, 1)
		want := linearRef(qh, kh, nil, nil, n, hd, n)
		tol := 4e-5 * math.Sqrt(float64(hd))
		for i := range want {
			if d := math.Abs(float64(scores[i]) - want[i]); d > tol {
				t.Fatalf("%v scores[%d] = %g, want %g", sh, i, scores[i], want[i])
			}
		}
		// out[:, off:off+hd] (rows ldo apart) = scores · v[:, off:off+hd]
		pv := PackTransposed(make([]float32, PackedLen(hd, n)), v[off:], ld, n, hd)
		const ldo = 2*88 + 3
		out := randSlice(rng, n*ldo)
		before := append([]float32(nil), out...)
		pv.LinearStrided(out[3:], ldo, scores, n, n, nil, false, 2)
		vt := make([]float32, hd*n) // v_hᵀ [hd, n]
		for r := range n {
			for c := range hd {
				vt[c*n+r] = v[r*ld+off+c]
			}
		}
		want = linearRef(scores, vt, nil, nil, n, n, hd)
		for r := range n {
			for c := range ldo {
				got := out[r*ldo+c]
				if c < 3 || c >= 3+hd {
					if got != before[r*ldo+c] {
						t.Fatalf("%v: out[%d][%d] outside the head changed", sh, r, c)
					}
					continue
				}
				w := want[r*hd+c-3]
				if d := math.Abs(float64(got) - w); d > 1e-4*math.Sqrt(float64(n))*(1+math.Abs(w)) {
					t.Fatalf("%v out[%d][%d] = %g, want %g", sh, r, c, got, w)
				}
			}
		}
	}
}

// TestPackedLinearAccumulateLongSum adds a long product of tiny terms onto a
// y of 1: each term (2^-30) is below half an ulp of 1, so a kernel that
// accumulated onto y term by term would leave y at 1 (it did, and cost EVA
// a relative error of 5e-6 per block at real size). Summed from zero per
// block of packKC inputs and added to y once per block, every partial sum
// here is exact, and so is the result.
func TestPackedLinearAccumulateLongSum(t *testing.T) {
	for _, tc := range []struct{ pureGo bool }{{false}, {true}} {
		rows, in, out := 14, 6144, 32
		x, w := make([]float32, rows*in), make([]float32, out*in)
		for i := range x {
			x[i] = 1.0 / (1 << 15)
		}
		for i := range w {
			w[i] = 1.0 / (1 << 15)
		}
		pk := Pack(make([]float32, PackedLen(out, in)), w, out, in)
		y := make([]float32, rows*out)
		for i := range y {
			y[i] = 1
		}
		if tc.pureGo {
			a := make([]float32, packMR*in)
			packRows(a, x, in, 0, rows, in)
			for k0 := 0; k0 < in; k0 += packKC {
				kernelGo(a[k0*packMR:], pk.data[k0*packNR:], y, nil, packKC, out, true)
			}
		} else {
			pk.Linear(y, x, rows, nil, true, 1)
		}
		want := 1 + float32(in)/(1<<30)
		for i, v := range y {
			if v != want {
				t.Fatalf("kernelGo %v: y[%d] = %.9g, want %.9g", tc.pureGo, i, v, want)
			}
		}
	}
}
