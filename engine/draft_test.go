package engine

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
	"github.com/xraygpt-go/xraygpt/llama"
)

func TestDraftFollow(t *testing.T) {
	d := &drafter{corpus: [][]llama.Token{{1, 2, 3, 4, 5, 6}, {7, 8, 9}}}
	cases := []struct {
		ctx  []llama.Token
		k    int
		want []llama.Token
	}{
		{[]llama.Token{9, 2, 3}, 2, []llama.Token{4, 5}},          // corpus, bigram
		{[]llama.Token{1, 2, 3, 4}, 9, []llama.Token{5, 6}},       // up to the end of the source
		{[]llama.Token{5, 1, 1, 5, 1}, 2, []llama.Token{1, 5}},    // the conversation itself first
		{[]llama.Token{4, 4, 8}, 3, nil},                          // a unigram is not enough
		{[]llama.Token{6}, 3, nil},                                // too short
		{[]llama.Token{2, 7, 8}, 3, []llama.Token{9}},             // another report
		{[]llama.Token{3, 7, 8, 9, 1, 7, 8}, 1, []llama.Token{9}}, // latest occurrence
	}
	for _, c := range cases {
		if got := d.draft(c.ctx, c.k); !slices.Equal(got, c.want) {
			t.Errorf("draft(%v, %d) = %v, want %v", c.ctx, c.k, got, c.want)
		}
	}
	d.remember([]llama.Token{11, 12, 13, 14})
	if got := d.draft([]llama.Token{11, 12}, 2); !slices.Equal(got, []llama.Token{13, 14}) {
		t.Errorf("draft from an earlier answer = %v", got)
	}
}

// TestSpeculativeGreedyIsIdentical summarizes the shared X-rays greedily
// with and without draft tokens (from the IU X-ray reports and earlier
// answers): the texts and tokens must be the same, and drafts must have
// been accepted.
func TestSpeculativeGreedyIsIdentical(t *testing.T) {
	paths := sharedImages(t)
	corpus, err := ReadDraftCorpus(sharedtest.Path(t, "iu_xray_samples/reports.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	e := openDemo(t)
	var images []*Image
	for _, p := range paths {
		img, err := e.EncodeFile(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, img)
	}
	gen := GenerateOptions{MaxTokens: 120, Temperature: 0, RepeatPenalty: 1.1}
	run := func(draft int) ([]*Answer, SchedulerStats, time.Duration) {
		s, err := e.NewScheduler(SchedulerOptions{Slots: 1, Draft: draft, DraftCorpus: corpus})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var out []*Answer
		start := time.Now()
		for _, img := range images {
			a, err := s.Do(context.Background(), Request{Image: img, Turns: []Turn{{Question: DefaultQuestion}}, Gen: gen})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
		var gen time.Duration
		for _, a := range out {
			gen += a.Timings.Generate
		}
		t.Logf("draft %d: %v in all, generation %v", draft, time.Since(start), gen)
		return out, s.Stats(), time.Since(start)
	}
	plain, _, tPlain := run(0)
	spec, st, tSpec := run(6)
	for i := range plain {
		if !slices.Equal(plain[i].Tokens, spec[i].Tokens) || plain[i].Text != spec[i].Text {
			t.Errorf("%s: with drafts %q, without %q", paths[i], spec[i].Text, plain[i].Text)
		}
	}
	if st.DraftAccepted == 0 {
		t.Errorf("no draft token accepted (%d proposed)", st.DraftTokens)
	}
	t.Logf("drafts: %d proposed, %d accepted; %d steps for %d tokens; %v vs %v without", st.DraftTokens, st.DraftAccepted, st.Steps, st.GeneratedTokens, tSpec, tPlain)
}
