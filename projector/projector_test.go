package projector

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// TestForwardMatchesLoop checks the GEMM against a plain float64 loop.
func TestForwardMatchesLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const rows, in, out = 5, 7, 3
	w := make([]float32, out*in)
	b := make([]float32, out)
	x := make([]float32, rows*in)
	for _, s := range [][]float32{w, b, x} {
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
	}
	for _, bias := range [][]float32{b, nil} {
		l, err := New(in, out, w, bias, nil)
		if err != nil {
			t.Fatal(err)
		}
		y, err := l.Apply(x, rows)
		if err != nil {
			t.Fatal(err)
		}
		for r := 0; r < rows; r++ {
			for o := 0; o < out; o++ {
				var want float64
				if bias != nil {
					want = float64(bias[o])
				}
				for i := 0; i < in; i++ {
					want += float64(x[r*in+i]) * float64(w[o*in+i])
				}
				if d := math.Abs(float64(y[r*out+o]) - want); d > 1e-5 {
					t.Errorf("row %d out %d: %v, want %v", r, o, y[r*out+o], want)
				}
			}
		}
	}
}

func TestShapeErrors(t *testing.T) {
	if _, err := New(3, 2, make([]float32, 5), nil, nil); !errors.Is(err, ErrShape) {
		t.Errorf("short weight: %v", err)
	}
	if _, err := New(3, 2, make([]float32, 6), make([]float32, 3), nil); !errors.Is(err, ErrShape) {
		t.Errorf("long bias: %v", err)
	}
	l, _ := New(3, 2, make([]float32, 6), nil, nil)
	if err := l.Forward(make([]float32, 3), make([]float32, 6), 2); !errors.Is(err, ErrShape) {
		t.Errorf("short dst: %v", err)
	}
}
