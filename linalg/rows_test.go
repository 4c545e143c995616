package linalg

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// ulp32 is the spacing of float32 values at v.
func ulp32(v float32) float64 {
	a := float32(math.Abs(float64(v)))
	if math.IsInf(float64(a), 0) {
		return 0
	}
	return float64(math.Nextafter32(a, float32(math.Inf(1))) - a)
}

// TestErf32 sweeps [-7, 7] and checks Erf32 against math.Erf to 1 ulp, plus
// the special values.
func TestErf32(t *testing.T) {
	worst := 0.0
	for x := -7.0; x <= 7; x += 1.0 / 4096 {
		for _, v := range []float64{x, x * 1e-3, x * 1e-6} {
			want := float32(math.Erf(float64(float32(v))))
			got := erf32(float32(v))
			d := math.Abs(float64(got - want))
			if d > ulp32(want) {
				t.Fatalf("erf32(%g) = %g, want %g (%g ulp)", v, got, want, d/ulp32(want))
			}
			worst = max(worst, d)
		}
	}
	t.Logf("worst |Erf32 - math.Erf| = %g", worst)
	if erf32(float32(math.Inf(1))) != 1 || erf32(float32(math.Inf(-1))) != -1 {
		t.Error("erf32(±Inf) is not ±1")
	}
	if v := erf32(float32(math.NaN())); v == v {
		t.Errorf("erf32(NaN) = %g", v)
	}
	if v := erf32(float32(math.Copysign(0, -1))); v != 0 || !math.Signbit(float64(v)) {
		t.Errorf("erf32(-0) = %g, want -0", v)
	}
}

// TestExp32 sweeps the whole float32 range of exp, subnormal results
// included, and checks Exp32 against math.Exp to 1 ulp.
func TestExp32(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	check := func(x float32) {
		want := float32(math.Exp(float64(x)))
		got := Exp32(x)
		if got == want {
			return
		}
		if d := math.Abs(float64(got - want)); d > ulp32(want) {
			t.Fatalf("Exp32(%g) = %g, want %g (%g ulp)", x, got, want, d/ulp32(want))
		}
	}
	for x := float32(-110); x <= 90; x += 1.0 / 512 {
		check(x)
	}
	for range 200000 {
		check(float32(r.Float64()*200 - 110))
		check(float32(r.NormFloat64()))
	}
	for _, x := range []float32{0, -0.0, 1, -1, 88.72, 88.73, -87.33, -103.9, -104.1, float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, -math.MaxFloat32} {
		check(x)
	}
	if v := Exp32(float32(math.NaN())); v == v {
		t.Errorf("Exp32(NaN) = %g", v)
	}
}

// golden holds PyTorch's outputs from testdata/golden.json.
type golden struct {
	LayerNorm struct {
		Cols               int
		Eps                float32
		X, Weight, Bias, Y []float32
	}
	GELU    struct{ X, Y []float32 }
	Softmax struct {
		Cols int
		X    []any // numbers, or "-inf"
		Y    []float32
	}
}

// loadGolden reads PyTorch goldens made by
//
//	/usr/bin/python3 linalg/testdata/gen_golden.py
func loadGolden(t *testing.T) *golden {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("testdata/golden.json: %v", err)
	}
	return &g
}

// TestGoldenPyTorch compares LayerNorm, GELU and Softmax with PyTorch 1.13's
// float32 outputs (testdata/golden.json; regenerate with
// /usr/bin/python3 linalg/testdata/gen_golden.py).
func TestGoldenPyTorch(t *testing.T) {
	g := loadGolden(t)

	ln := g.LayerNorm
	got := make([]float32, len(ln.X))
	LayerNorm(got, ln.X, ln.Cols, ln.Weight, ln.Bias, ln.Eps)
	ref := refLayerNorm(ln.X, ln.Cols, ln.Weight, ln.Bias, float64(ln.Eps))
	for i := range got {
		// PyTorch centres in float32, so it is off by up to about
		// ulp(mean)/std·|weight|: allow that, and hold us to the float64 reference.
		row := ln.X[i/ln.Cols*ln.Cols : (i/ln.Cols+1)*ln.Cols]
		var mean, ss float64
		for _, v := range row {
			mean += float64(v) / float64(len(row))
		}
		for _, v := range row {
			ss += (float64(v) - mean) * (float64(v) - mean)
		}
		std := math.Sqrt(ss / float64(len(row)))
		tol := 1e-6*(1+math.Abs(float64(ln.Y[i]))) + 2*ulp32(float32(mean))/std*math.Abs(float64(ln.Weight[i%ln.Cols]))
		if d := math.Abs(float64(got[i] - ln.Y[i])); d > tol {
			t.Errorf("LayerNorm[%d] = %g, PyTorch %g (diff %g > %g)", i, got[i], ln.Y[i], d, tol)
		}
		if d := math.Abs(float64(got[i]) - ref[i]); d > 1e-6*(1+math.Abs(ref[i])) {
			t.Errorf("LayerNorm[%d] = %g, float64 reference %g", i, got[i], ref[i])
		}
	}

	ge := append([]float32(nil), g.GELU.X...)
	GELU(ge)
	for i, x := range g.GELU.X {
		want := g.GELU.Y[i]
		if d := math.Abs(float64(ge[i] - want)); d > 2*ulp32(want)+3e-7*math.Abs(float64(x)) {
			t.Errorf("GELU(%g) = %g, PyTorch %g", x, ge[i], want)
		}
	}

	sm := make([]float32, len(g.Softmax.X))
	for i, v := range g.Softmax.X {
		switch v := v.(type) {
		case float64:
			sm[i] = float32(v)
		case string:
			sm[i] = float32(math.Inf(-1))
		}
	}
	softmaxRows(sm, g.Softmax.Cols)
	for i := range sm {
		want := g.Softmax.Y[i]
		if d := math.Abs(float64(sm[i] - want)); d > 1e-6*float64(want)+1e-9 {
			t.Errorf("Softmax[%d] = %g, PyTorch %g", i, sm[i], want)
		}
	}
}

// refLayerNorm is a straightforward float64 LayerNorm.
func refLayerNorm(x []float32, cols int, w, b []float32, eps float64) []float64 {
	y := make([]float64, len(x))
	for r := 0; r < len(x)/cols; r++ {
		row := x[r*cols : (r+1)*cols]
		var mean, v float64
		for _, e := range row {
			mean += float64(e)
		}
		mean /= float64(cols)
		for _, e := range row {
			v += (float64(e) - mean) * (float64(e) - mean)
		}
		v /= float64(cols)
		for j, e := range row {
			o := (float64(e) - mean) / math.Sqrt(v+eps)
			if w != nil {
				o *= float64(w[j])
			}
			if b != nil {
				o += float64(b[j])
			}
			y[r*cols+j] = o
		}
	}
	return y
}

// TestLayerNorm checks every weight/bias combination, in place and not, on
// both paths and on widths that leave tails for the scalar loops, against a
// float64 reference, including rows with a large mean.
func TestLayerNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	for _, cols := range []int{1408, 37, 13, 8, 3} {
		const rows = 7
		x := randSlice(r, rows*cols)
		for j := range cols {
			x[3*cols+j] += 500 // large common offset
		}
		w, b := randSlice(r, cols), randSlice(r, cols)
		for _, simd := range simdPaths(t) {
			for _, aff := range [][2][]float32{{w, b}, {w, nil}, {nil, b}, {nil, nil}} {
				want := refLayerNorm(x, cols, aff[0], aff[1], 1e-6)
				got := make([]float32, len(x))
				inPlace := append([]float32(nil), x...)
				for i := range rows {
					layerNormRow(got[i*cols:(i+1)*cols], x[i*cols:(i+1)*cols], aff[0], aff[1], 1e-6, simd)
					layerNormRow(inPlace[i*cols:(i+1)*cols], inPlace[i*cols:(i+1)*cols], aff[0], aff[1], 1e-6, simd)
				}
				for i := range want {
					if d := math.Abs(float64(got[i]) - want[i]); d > 1e-6*(1+math.Abs(want[i])) {
						t.Fatalf("cols %d simd=%v weight %v bias %v: y[%d] = %g, want %g", cols, simd, aff[0] != nil, aff[1] != nil, i, got[i], want[i])
					}
					if inPlace[i] != got[i] {
						t.Fatalf("cols %d simd=%v: in place y[%d] = %g, out of place %g", cols, simd, i, inPlace[i], got[i])
					}
				}
			}
		}
		// LayerNorm is layerNormRow on the default path.
		got, want := make([]float32, len(x)), make([]float32, len(x))
		LayerNorm(got, x, cols, w, b, 1e-5)
		for i := range rows {
			layerNormRow(want[i*cols:(i+1)*cols], x[i*cols:(i+1)*cols], w, b, 1e-5, hasAVX2FMA)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("cols %d: LayerNorm[%d] = %g, layerNormRow %g", cols, i, got[i], want[i])
			}
		}
		// A constant row normalizes to the bias.
		c := make([]float32, cols)
		for j := range c {
			c[j] = 3
		}
		LayerNorm(c, c, cols, w, b, 1e-6)
		for j := range c {
			if c[j] != b[j] {
				t.Fatalf("cols %d: constant row: y[%d] = %g, want bias %g", cols, j, c[j], b[j])
			}
		}
	}
}

// TestSoftmax checks the softmax built on ExpSum (as vision's attention
// computes it) on rows against a float64 reference, large offsets, -Inf
// masks, and a fully masked row (NaN, as PyTorch).
func TestSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 13))
	const rows, cols = 9, 257
	x := randSlice(r, rows*cols)
	for j := range cols {
		x[j] *= 30
		x[cols+j] += 3e4
		if j%4 == 0 {
			x[2*cols+j] = float32(math.Inf(-1))
		}
		x[3*cols+j] = float32(math.Inf(-1))
	}
	for _, simd := range simdPaths(t) {
		y := append([]float32(nil), x...)
		for i := range rows {
			softmaxRow(y[i*cols:(i+1)*cols], simd)
		}
		checkSoftmax(t, simd, x, y, rows, cols)
	}
	// Rows with NaN or +Inf become NaN on every path, as in PyTorch.
	for _, simd := range simdPaths(t) {
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
			for _, at := range []int{0, 5, 20} {
				row := randSlice(r, 21)
				row[at] = bad
				softmaxRow(row, simd)
				for j, v := range row {
					if v == v {
						t.Fatalf("simd=%v: %g at %d: y[%d] = %g, want NaN", simd, bad, at, j, v)
					}
				}
			}
		}
	}
}

// checkSoftmax compares rows of y = softmax(x) with a float64 reference.
func checkSoftmax(t *testing.T, simd bool, x, y []float32, rows, cols int) {
	t.Helper()
	for i := range rows {
		if i == 3 {
			for j := range cols {
				if v := y[3*cols+j]; v == v {
					t.Fatalf("simd=%v: fully masked row: y[%d] = %g, want NaN", simd, j, v)
				}
			}
			continue
		}
		row := x[i*cols : (i+1)*cols]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = max(mx, float64(v))
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v) - mx)
		}
		var total float64
		for j, v := range row {
			want := math.Exp(float64(v)-mx) / sum
			got := float64(y[i*cols+j])
			total += got
			if d := math.Abs(got - want); d > 4e-7*want+1e-12 {
				t.Fatalf("simd=%v: row %d: y[%d] = %g, want %g", simd, i, j, got, want)
			}
		}
		if math.Abs(total-1) > 1e-5 {
			t.Errorf("simd=%v: row %d sums to %g", simd, i, total)
		}
	}
}

// simdPaths lists the implementations to test: pure Go always, the AVX2
// kernels where this CPU has them.
func simdPaths(t *testing.T) []bool {
	if !hasAVX2FMA {
		t.Log("no AVX2+FMA here: testing the pure-Go path only")
		return []bool{false}
	}
	return []bool{false, true}
}

// TestGELU checks both GELU paths against x·(1+erf(x/√2))/2 in float64, on
// lengths that leave a tail for the scalar loop, and NaN/Inf.
func TestGELU(t *testing.T) {
	var xs []float32
	for x := float32(-12); x <= 12; x += 1.0 / 256 {
		xs = append(xs, x)
	}
	xs = append(xs, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0, float32(math.Copysign(0, -1)), 1e-30, 3)
	for _, simd := range simdPaths(t) {
		y := append([]float32(nil), xs...)
		if simd {
			GELU(y)
		} else {
			geluGeneric(y)
		}
		for i, x := range xs {
			want := 0.5 * float64(x) * (1 + math.Erf(float64(x)/math.Sqrt2))
			switch {
			case math.IsInf(float64(x), 1):
				want = float64(x)
			case math.IsInf(float64(x), -1):
				want = math.NaN() // -Inf·0, as PyTorch
			case x <= -4*math.Sqrt2:
				if y[i] != 0 {
					t.Errorf("simd=%v: GELU(%g) = %g, want 0 (erf saturated, as PyTorch)", simd, x, y[i])
				}
			}
			if math.IsNaN(want) {
				if y[i] == y[i] {
					t.Errorf("simd=%v: GELU(%g) = %g, want NaN", simd, x, y[i])
				}
				continue
			}
			if d := math.Abs(float64(y[i]) - want); float64(y[i]) != want && (d > 2*ulp32(float32(want))+1e-7*math.Abs(float64(x)) || d != d) {
				t.Fatalf("simd=%v: GELU(%g) = %g, want %g", simd, x, y[i], want)
			}
		}
	}
}

// TestRowPanics checks that shape mistakes panic with a message naming the op.
func TestRowPanics(t *testing.T) {
	for _, tc := range []struct {
		op string
		f  func()
	}{
		{"LayerNorm", func() { LayerNorm(make([]float32, 9), make([]float32, 9), 3, make([]float32, 2), nil, 1e-5) }},
		{"LayerNorm", func() { LayerNorm(make([]float32, 6), make([]float32, 9), 3, nil, nil, 1e-5) }},
		{"LayerNorm", func() { LayerNorm(nil, nil, 0, nil, nil, 1e-5) }},
	} {
		if msg := panicMessage(tc.f); !strings.HasPrefix(msg, "linalg: "+tc.op+":") {
			t.Errorf("%s: panic %q", tc.op, msg)
		}
	}
}

// erf32 is erf64 rounded to float32, as GELU uses it.
func erf32(x float32) float32 { return float32(erf64(float64(x))) }

// softmaxRow is the softmax that vision's attention computes with ExpSum:
// exp(v - max) and its sum in one pass, then the division (here in place).
// A NaN anywhere makes the row NaN through the sum, as in PyTorch.
func softmaxRow(r []float32, simd bool) {
	mx := r[0]
	for _, v := range r {
		mx = max(mx, v) // max propagates NaN
	}
	f := float32(1 / expSum(r, mx, simd))
	for i := range r {
		r[i] *= f
	}
}

// softmaxRows is softmaxRow over every row of x on the default path.
func softmaxRows(x []float32, cols int) {
	for i := range len(x) / cols {
		softmaxRow(x[i*cols:(i+1)*cols], hasAVX2FMA)
	}
}
