package linalg

import (
	"sync"
	"testing"
)

// TestParallelFor checks that every index is visited exactly once in
// contiguous chunks, for more workers than items, defaults and n == 0.
func TestParallelFor(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 257, 1000} {
		for _, workers := range []int{-1, 0, 1, 2, 3, 16, 2000} {
			seen := make([]int32, n)
			var mu sync.Mutex
			calls := 0
			ParallelFor(n, workers, func(lo, hi int) {
				if lo >= hi || lo < 0 || hi > n {
					t.Errorf("n=%d workers=%d: chunk [%d,%d)", n, workers, lo, hi)
					return
				}
				for i := lo; i < hi; i++ {
					seen[i]++ // chunks are disjoint: no race
				}
				mu.Lock()
				calls++
				mu.Unlock()
			})
			for i, c := range seen {
				if c != 1 {
					t.Fatalf("n=%d workers=%d: index %d visited %d times", n, workers, i, c)
				}
			}
			if workers > 0 && calls > workers*piecesPerWorker {
				t.Errorf("n=%d workers=%d: %d chunks", n, workers, calls)
			}
		}
	}
}
