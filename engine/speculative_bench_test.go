package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
)

var (
	benchDraft   = flag.Int("engine.draft", 6, "draft tokens per step for BenchmarkSpeculative")
	benchThreads = flag.Int("engine.threads", 1, "language model threads for BenchmarkSpeculative")
)

// specItem is one shared IU X-ray with the draft corpus it is summarized
// with: every report of iu_xray_samples/reports.jsonl but its own.
type specItem struct {
	img    *Image
	corpus []string
}

// specItems encodes the X-rays of iu_xray_samples/pairs.jsonl and builds
// each one's corpus, leaving out the reports of the same study (same uid)
// and any report with the same text.
func specItems(b *testing.B, e *Engine) []specItem {
	dir := sharedtest.Path(b, "iu_xray_samples")
	type record struct {
		Image, Report string
		UID           int
	}
	read := func(name string) []record {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		var out []record
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			out = append(out, r)
		}
		if err := sc.Err(); err != nil {
			b.Fatal(err)
		}
		return out
	}
	reports := read("reports.jsonl")
	var items []specItem
	for _, p := range read("pairs.jsonl") {
		img, err := e.EncodeFile(context.Background(), filepath.Join(dir, p.Image))
		if err != nil {
			b.Fatal(err)
		}
		it := specItem{img: img}
		for _, r := range reports {
			if r.UID != p.UID && r.Report != p.Report {
				it.corpus = append(it.corpus, r.Report)
			}
		}
		items = append(items, it)
	}
	return items
}

// BenchmarkSpeculative summarizes the shared IU X-rays greedily with the
// demo model, each through its own one-slot scheduler, without drafts and
// with up to -engine.draft draft tokens per step from the other reports
// (the item's own is left out) and the conversation; it reports the
// generation speed both ways, their ratio and the share of drafts accepted.
// The texts must be the same. bench/speculative.sh runs it:
//
//	go test -run '^$' -bench Speculative -benchtime 5x ./engine/
func BenchmarkSpeculative(b *testing.B) {
	e, err := Open(context.Background(), Options{ModelPath: demoLLM, VisionPath: demoVision, ContextSize: 1024, Threads: *benchThreads})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	items := specItems(b, e)
	gen := GenerateOptions{MaxTokens: 200, Temperature: 0}
	// run summarizes item it with draft tokens per step and returns the
	// answer.
	run := func(it specItem, draft int) *Answer {
		s, err := e.NewScheduler(SchedulerOptions{Slots: 1, ContextSize: 1024, Draft: draft, DraftCorpus: it.corpus})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		a, err := s.Do(context.Background(), Request{Image: it.img, Turns: []Turn{{Question: DefaultQuestion}}, Gen: gen})
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	var plainT, specT time.Duration
	var plainN, specN, proposed, accepted int
	b.ResetTimer()
	for range b.N {
		for _, it := range items {
			p, s := run(it, 0), run(it, *benchDraft)
			if !slices.Equal(p.Tokens, s.Tokens) {
				b.Fatalf("%s: with drafts %q, without %q", it.img.Path, s.Text, p.Text)
			}
			plainT += p.Timings.Generate
			specT += s.Timings.Generate
			plainN += p.Timings.GeneratedTokens
			specN += s.Timings.GeneratedTokens
			proposed += s.Timings.DraftTokens
			accepted += s.Timings.DraftAccepted
		}
	}
	plain := float64(plainN) / plainT.Seconds()
	spec := float64(specN) / specT.Seconds()
	b.ReportMetric(plain, "plain-tok/s")
	b.ReportMetric(spec, "draft-tok/s")
	b.ReportMetric(spec/plain, "speedup")
	if proposed > 0 {
		b.ReportMetric(float64(accepted)/float64(proposed), "accepted/proposed")
	}
	b.Logf("%d images x %d: %d tokens; drafts: %d proposed, %d accepted", len(items), b.N, specN, proposed, accepted)
}
