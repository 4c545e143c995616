package vision

import (
	"math"
	"testing"

	"github.com/xraygpt-go/xraygpt/linalg"
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

// TestGeluSoftmaxMatchFloat64 checks gelu (linalg.GELU over blocks) and
// expRows against float64.
func TestGeluSoftmaxMatchFloat64(t *testing.T) {
	x := make([]float32, 100003)
	for i := range x {
		x[i] = float32(i)/5000 - 10
	}
	x = append(x, 8, -8, 7.9999995, -7.9999995, 1e30, -1e30, 0)
	y := append([]float32(nil), x...)
	gelu(linalg.Exec{Threads: 3}, y)
	for i, v := range x {
		want := 0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2))
		if d := math.Abs(float64(y[i]) - want); d > 5e-7+2e-7*math.Abs(want) {
			t.Fatalf("gelu(%v) = %v, want %v", v, y[i], want)
		}
	}
	nan := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	gelu(linalg.Exec{Threads: 1}, nan)
	if !math.IsNaN(float64(nan[0])) || !math.IsInf(float64(nan[1]), 1) || !math.IsNaN(float64(nan[2])) {
		t.Errorf("gelu(NaN, +Inf, -Inf) = %v, want NaN, +Inf, NaN as PyTorch", nan)
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
