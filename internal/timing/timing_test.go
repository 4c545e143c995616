package timing

import (
	"testing"
	"time"
)

func TestMS(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want float64
	}{
		{0, 0},
		{time.Millisecond, 1},
		{1500 * time.Microsecond, 1.5},
		{2 * time.Second, 2000},
		{-3 * time.Millisecond, -3},
	} {
		if got := MS(c.d); got != c.want {
			t.Errorf("MS(%v) = %v, want %v", c.d, got, c.want)
		}
	}
}

func TestPerSecond(t *testing.T) {
	for _, c := range []struct {
		n    int
		d    time.Duration
		want float64
	}{
		{10, time.Second, 10},
		{5, 500 * time.Millisecond, 10},
		{3, 2 * time.Second, 1.5},
		{7, 0, 0},
		{7, -time.Second, 0},
		{0, time.Second, 0},
	} {
		if got := PerSecond(c.n, c.d); got != c.want {
			t.Errorf("PerSecond(%d, %v) = %v, want %v", c.n, c.d, got, c.want)
		}
	}
}
