package batch

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Progress reports a batch's advance: a redrawn bar with rate and ETA on a
// terminal, plain lines at most every Interval otherwise.
type Progress struct {
	W        io.Writer
	Terminal bool
	// Interval between plain lines; 0 means 10 seconds.
	Interval time.Duration

	total, skipped, done, failed int
	start, last                  time.Time
	now                          func() time.Time
}

// Start begins a run of total items after skipped ones already done.
func (p *Progress) Start(total, skipped int) {
	if p.now == nil {
		p.now = time.Now
	}
	p.total, p.skipped = total, skipped
	p.start = p.now()
	p.last = p.start
	if skipped > 0 {
		fmt.Fprintf(p.W, "resuming: %d done before, %d to go\n", skipped, total)
	}
}

// Done records one finished result.
func (p *Progress) Done(r Result) {
	p.done++
	if r.Error != "" {
		p.failed++
		if !p.Terminal {
			fmt.Fprintf(p.W, "error: %s: %s\n", r.ID, r.Error)
		}
	}
	interval := p.Interval
	if interval == 0 {
		interval = 10 * time.Second
	}
	now := p.now()
	switch {
	case p.Terminal:
		fmt.Fprintf(p.W, "\r%s", p.line(now, true))
	case now.Sub(p.last) >= interval || p.done == p.total:
		p.last = now
		fmt.Fprintln(p.W, p.line(now, false))
	}
}

// line renders "[####....] 12/200 (1 failed) 3.2 img/min ETA 58m".
func (p *Progress) line(now time.Time, bar bool) string {
	var b strings.Builder
	if bar {
		const width = 24
		filled := 0
		if p.total > 0 {
			filled = width * p.done / p.total
		}
		b.WriteString("[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "] ")
	}
	fmt.Fprintf(&b, "%d/%d", p.done, p.total)
	if p.failed > 0 {
		fmt.Fprintf(&b, " (%d failed)", p.failed)
	}
	elapsed := now.Sub(p.start)
	if p.done > 0 && elapsed > 0 {
		rate := float64(p.done) / elapsed.Minutes()
		eta := time.Duration(float64(elapsed) / float64(p.done) * float64(p.total-p.done))
		fmt.Fprintf(&b, " %.1f img/min ETA %s", rate, eta.Round(time.Second))
	}
	return b.String()
}

// Finish prints the run's summary line.
func (p *Progress) Finish(s Stats) {
	if p.Terminal && p.done > 0 {
		fmt.Fprintln(p.W)
	}
	fmt.Fprintf(p.W, "done: %d succeeded, %d failed, %d skipped in %.2fs (%.0f images/hour)\n",
		s.Succeeded, s.Failed, s.Skipped, s.Elapsed.Seconds(), s.ImagesPerHour())
}
