package batch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/timing"
)

// Encoded is what the vision stage hands to the language stage.
type Encoded struct {
	// Value is the stage's output (soft tokens), opaque to the runner.
	Value any
	// Vision is the time the vision stage took.
	Vision time.Duration
	// Warnings are the image decoder's, recorded in the result.
	Warnings []string
}

// Generated is what the language stage returns for one image.
type Generated struct {
	Summary string
	Timings Timings
}

// Runner summarizes items with two stages. While Generate works on
// Parallel images at once, Encode already works on the next ones, up to
// Queue images ahead. Results are written as items finish, one whole line
// each.
type Runner struct {
	// Encode runs the vision stage for an item.
	Encode func(ctx context.Context, it Item) (Encoded, error)
	// Generate runs the language stage on an encoded item. It is called
	// from Parallel goroutines at once.
	Generate func(ctx context.Context, it Item, enc Encoded) (Generated, error)
	// Parallel is how many items are in the language stage at once; 0: 1.
	Parallel int
	// Queue is how many encoded images may wait for the language stage;
	// 0 means 2. A negative value runs the stages one after the other.
	Queue int
	// Decorate, when set, completes each result (model files, settings).
	Decorate func(*Result)
	// Progress, when set, is told about every finished item.
	Progress *Progress
}

// Stats summarizes a run.
type Stats struct {
	Total, Skipped, Succeeded, Failed int
	Elapsed                           time.Duration
}

// ImagesPerHour is the throughput of the items processed in this run.
func (s Stats) ImagesPerHour() float64 {
	return timing.PerSecond(s.Succeeded+s.Failed, s.Elapsed) * 3600
}

type encodedItem struct {
	it  Item
	enc Encoded
	err error
}

// Run processes the items not yet done in out and appends their results. A
// failing image is recorded as a result with Error set and the run goes on;
// Run returns an error only when the output cannot be written or ctx ends.
func (r *Runner) Run(ctx context.Context, items []Item, out *Output) (Stats, error) {
	start := time.Now()
	stats := Stats{Total: len(items)}
	var todo []Item
	for _, it := range items {
		if out.Done(it.ID) {
			stats.Skipped++
		} else {
			todo = append(todo, it)
		}
	}
	if r.Progress != nil {
		r.Progress.Start(len(todo), stats.Skipped)
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	record := func(res Result) error {
		if err := out.Write(res); err != nil {
			return err
		}
		if res.Error == "" {
			stats.Succeeded++
		} else {
			stats.Failed++
		}
		if r.Progress != nil {
			r.Progress.Done(res)
		}
		return nil
	}
	var next func() (encodedItem, bool)
	if r.Queue < 0 { // each worker encodes its next item itself
		var mu sync.Mutex
		next = func() (encodedItem, bool) {
			mu.Lock()
			if len(todo) == 0 || ctx.Err() != nil {
				mu.Unlock()
				return encodedItem{}, false
			}
			it := todo[0]
			todo = todo[1:]
			mu.Unlock()
			return r.encode(ctx, it), true
		}
	} else {
		ch := r.encodeAhead(ctx, todo)
		next = func() (encodedItem, bool) {
			e, ok := <-ch
			return e, ok
		}
	}
	var err error
	for res := range r.generate(ctx, next) {
		if err != nil {
			continue // drain: the workers end as ctx is cancelled
		}
		if err = record(res); err != nil {
			cancel()
		}
	}
	if err != nil && parent.Err() == nil {
		return stats, err // the output could not be written
	}
	stats.Elapsed = time.Since(start)
	if r.Progress != nil {
		r.Progress.Finish(stats)
	}
	return stats, parent.Err()
}

// encodeAhead runs the vision stage in a goroutine ahead of the consumer.
// The channel holds Queue items and the encoder holds one more in hand, so at
// most Queue+2 encoded images are in memory, counting the one in generation.
func (r *Runner) encodeAhead(ctx context.Context, todo []Item) <-chan encodedItem {
	queue := r.Queue
	if queue == 0 {
		queue = 2
	}
	ch := make(chan encodedItem, queue)
	go func() {
		defer close(ch)
		for _, it := range todo {
			e := r.encode(ctx, it)
			select {
			case ch <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// generate runs the language stage on Parallel items at once and sends
// each result as it is done, in completion order.
func (r *Runner) generate(ctx context.Context, next func() (encodedItem, bool)) <-chan Result {
	n := max(r.Parallel, 1)
	out := make(chan Result)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				e, ok := next()
				if !ok {
					return
				}
				res := r.finish(ctx, e)
				if res.Error != "" && ctx.Err() != nil {
					return // interrupted, not failed: it runs again next time
				}
				select {
				case out <- res:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out
}

func (r *Runner) encode(ctx context.Context, it Item) encodedItem {
	if ctx.Err() != nil {
		return encodedItem{it: it, err: ctx.Err()}
	}
	t := time.Now()
	enc, err := r.Encode(ctx, it)
	if enc.Vision == 0 {
		enc.Vision = time.Since(t)
	}
	return encodedItem{it: it, enc: enc, err: err}
}

func (r *Runner) finish(ctx context.Context, e encodedItem) Result {
	res := Result{ID: e.it.ID, Image: e.it.Image, Prompt: e.it.Prompt, Reference: e.it.Reference}
	res.Timings.VisionMS = timing.MS(e.enc.Vision)
	res.Warnings = e.enc.Warnings
	if e.err != nil {
		res.Error = fmt.Sprintf("vision: %v", e.err)
	} else {
		t := time.Now()
		g, err := r.Generate(ctx, e.it, e.enc)
		if err != nil {
			res.Error = fmt.Sprintf("generate: %v", err)
		}
		res.Summary = g.Summary
		vision := res.Timings.VisionMS
		res.Timings = g.Timings
		res.Timings.VisionMS = vision
		res.Timings.TotalMS = vision + timing.MS(time.Since(t))
	}
	if r.Decorate != nil {
		r.Decorate(&res)
	}
	return res
}
