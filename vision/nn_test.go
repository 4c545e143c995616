package vision

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"
)

func TestSoftmaxWideRange(t *testing.T) {
	// One row spanning exp's whole useful range: e^(x-max) for x-max in [-90, 0].
	const n = 9001
	row := make([]float32, n)
	for i := range row {
		row[i] = float32(-90 + 0.01*float64(i))
	}
	want := make([]float64, n)
	var z float64
	for i, v := range row {
		want[i] = math.Exp(float64(v) - float64(row[n-1]))
		z += want[i]
	}
	inv := make([]float32, 1)
	expRows(row, 1, n, 1, nil, nil, inv)
	for i := range row {
		row[i] *= inv[0]
	}
	for i := range row {
		w := want[i] / z
		if d := math.Abs(float64(row[i]) - w); d > 2e-6*w+1e-30 && w > 1e-37 {
			t.Fatalf("element %d: %g, want %g (rel %.2g)", i, row[i], w, d/w)
		}
	}
}

func TestParallelForCoversRange(t *testing.T) {
	for _, n := range []int{0, 1, 5, 17} {
		for _, th := range []int{0, 1, 2, 8} {
			seen := make([]int32, n)
			parallelFor(n, th, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					seen[i]++
				}
			})
			for i, s := range seen {
				if s != 1 {
					t.Fatalf("n=%d threads=%d: index %d seen %d times", n, th, i, s)
				}
			}
		}
	}
}

// TestLinearSplitsMatch checks the column- and row-split products (used
// only above minSplitWork, so not by the tiny goldens) against one call.
func TestLinearSplitsMatch(t *testing.T) {
	bl := gonum.Implementation{}
	rs := &randSource{state: 3}
	for _, sz := range [][3]int{{40, 300, 200}, {3000, 96, 96}, {257, 70, 130}, {500, 40, 400}} {
		rows, in, out := sz[0], sz[1], sz[2]
		if rows*in*out < minSplitWork {
			t.Fatalf("%v below the split threshold", sz)
		}
		x, _ := rs.tensor("x", []int{rows, in})
		w, _ := rs.tensor("w", []int{out, in})
		b, _ := rs.tensor("b", []int{out})
		for _, acc := range []bool{false, true} {
			want := make([]float32, rows*out)
			got := make([]float32, rows*out)
			for i := range want {
				want[i] = float32(i % 7)
				got[i] = want[i]
			}
			linear(bl, want, x, rows, in, out, w, b, acc, 1)
			linear(bl, got, x, rows, in, out, w, b, acc, 3)
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > 1e-5 {
					t.Fatalf("%v accumulate=%v: element %d: %v, want %v", sz, acc, i, got[i], want[i])
				}
			}
		}
	}
}

// TestGeluSoftmaxMatchFloat64 checks the written-out loops against float64.
func TestGeluSoftmaxMatchFloat64(t *testing.T) {
	x := make([]float32, 100003)
	for i := range x {
		x[i] = float32(i)/5000 - 10
	}
	x = append(x, 8, -8, 7.9999995, -7.9999995, 1e30, -1e30, 0)
	y := append([]float32(nil), x...)
	gelu(y, 3)
	for i, v := range x {
		want := 0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2))
		if d := math.Abs(float64(y[i]) - want); d > 5e-7+2e-7*math.Abs(want) {
			t.Fatalf("gelu(%v) = %v, want %v", v, y[i], want)
		}
	}
	nan := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	gelu(nan, 1)
	if !math.IsNaN(float64(nan[0])) || !math.IsInf(float64(nan[1]), 1) || nan[2] != 0 {
		t.Errorf("gelu(NaN, +Inf, -Inf) = %v", nan)
	}
	s := []float32{1, 2, 3, -100, 0.25, 0.25, 0.5, 0.5}
	bias := []float32{0, 0, 0, 0, 0.25, 0.25, 0, 0}
	mask := []float32{0, 0, 0, 0, 0, 0, 0, 0}
	inv := make([]float32, 2)
	expRows(s, 2, 4, 1, bias, mask, inv)
	for i := range s {
		s[i] *= inv[i/4]
	}
	for r := 0; r < 2; r++ {
		var z float64
		row := []float64{1, 2, 3, -100}
		if r == 1 {
			row = []float64{0.5, 0.5, 0.5, 0.5}
		}
		for _, v := range row {
			z += math.Exp(v - 3)
		}
		for i, v := range row {
			want := math.Exp(v-3) / z
			if d := math.Abs(float64(s[r*4+i]) - want); d > 1e-6 {
				t.Errorf("softmax row %d col %d: %v, want %v", r, i, s[r*4+i], want)
			}
		}
	}
}
