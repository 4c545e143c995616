package vision

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"
)

func TestErf32(t *testing.T) {
	worst := 0.0
	for x := -6.0; x <= 6.0; x += 1e-3 {
		d := math.Abs(float64(erf32(float32(x))) - math.Erf(x))
		worst = math.Max(worst, d)
	}
	if worst > 5e-7 {
		t.Errorf("erf32 max abs error %.3g", worst)
	}
}

func TestExp32(t *testing.T) {
	worst := 0.0
	for x := -87.0; x <= 10; x += 1e-3 {
		want := math.Exp(float64(float32(x)))
		d := math.Abs(float64(exp32(float32(x)))-want) / want
		worst = math.Max(worst, d)
	}
	if worst > 5e-7 {
		t.Errorf("exp32 max relative error %.3g", worst)
	}
	if exp32(-100) != 0 || !math.IsInf(float64(exp32(100)), 1) {
		t.Error("exp32 range ends")
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
	for _, sz := range [][3]int{{40, 300, 200}, {3000, 96, 96}, {257, 70, 130}} {
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
