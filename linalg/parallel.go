package linalg

import (
	"runtime"
	"sync"
)

// ParallelFor splits [0, n) into at most workers contiguous chunks of nearly
// equal size and calls body(lo, hi) for each on its own goroutine, returning
// when all are done. workers <= 0 means GOMAXPROCS. With one chunk, body runs
// on the calling goroutine. The split depends only on n and workers, so
// results that depend on it (sums per chunk) are reproducible.
func ParallelFor(n, workers int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, n)
	if workers == 1 {
		body(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(lo, hi)
		}()
	}
	body(0, n/workers)
	wg.Wait()
}
