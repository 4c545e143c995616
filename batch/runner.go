package batch

import (
	"context"
	"fmt"
	"time"
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

// Runner summarizes items with two stages. While Generate works on one
// image, Encode already works on the next ones, up to Queue images ahead.
type Runner struct {
	// Encode runs the vision stage for an item.
	Encode func(ctx context.Context, it Item) (Encoded, error)
	// Generate runs the language stage on an encoded item.
	Generate func(ctx context.Context, it Item, enc Encoded) (Generated, error)
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
	n := s.Succeeded + s.Failed
	if n == 0 || s.Elapsed <= 0 {
		return 0
	}
	return float64(n) / s.Elapsed.Hours()
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	record := func(e encodedItem) error {
		res := r.finish(ctx, e)
		if ctx.Err() != nil {
			return ctx.Err() // an interrupted item is not recorded: it runs again next time
		}
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
	var err error
	if r.Queue < 0 {
		for _, it := range todo {
			if err = record(r.encode(ctx, it)); err != nil {
				break
			}
		}
	} else {
		for e := range r.encodeAhead(ctx, todo) {
			if err = record(e); err != nil {
				break
			}
		}
	}
	if err != nil && ctx.Err() == nil {
		return stats, err
	}
	stats.Elapsed = time.Since(start)
	if r.Progress != nil {
		r.Progress.Finish(stats)
	}
	return stats, ctx.Err()
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
	res.Timings.VisionMS = ms(e.enc.Vision)
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
		res.Timings.TotalMS = vision + ms(time.Since(t))
	}
	if r.Decorate != nil {
		r.Decorate(&res)
	}
	return res
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
