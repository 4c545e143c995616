package vision

import (
	"math"
	"testing"
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
