package linalg

import (
	"sync"
	"sync/atomic"
)

// ParallelFor calls body over [0, n) split into contiguous pieces, on at
// most workers goroutines (<= 0: GOMAXPROCS), and returns when all are done.
// There are a few pieces per goroutine, handed out as goroutines finish, so
// one that the OS descheduled does not hold the others back; with one
// worker, body(0, n) runs on the calling goroutine. The pieces depend only
// on n and workers, so results that depend on them (sums per piece) are
// reproducible.
func ParallelFor(n, workers int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers = min(workerCount(workers), n)
	if workers == 1 {
		body(0, n)
		return
	}
	pieces := min(n, workers*piecesPerWorker)
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func() {
		for {
			p := int(next.Add(1) - 1)
			if p >= pieces {
				return
			}
			body(p*n/pieces, (p+1)*n/pieces)
		}
	}
	for range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}

// piecesPerWorker is how finely ParallelFor splits the work.
const piecesPerWorker = 4
