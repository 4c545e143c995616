package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/llama"
)

// Draft tokens for speculative decoding come from n-gram matches: the
// longest ending of the text so far (n tokens, n from draftMaxN down to
// draftMinN) that appears earlier in the conversation itself (prompt
// lookup), in the answers the scheduler already wrote, or in a corpus of
// reports, proposes the tokens that followed it there. Radiology reports
// are formulaic ("No acute cardiopulmonary abnormality"), so such drafts
// are often right; the model verifies all of them in one decode step.
const (
	draftMaxN = 4
	draftMinN = 2
	// draftHistory bounds the answers kept as a draft source.
	draftHistory = 256
)

// drafter finds draft tokens. It is used by the scheduler's goroutine only.
type drafter struct {
	corpus  [][]llama.Token // tokenized reports
	answers [][]llama.Token // recent answers, oldest first
}

// draft returns up to k tokens that may follow ctx.
func (d *drafter) draft(ctx []llama.Token, k int) []llama.Token {
	for n := min(draftMaxN, len(ctx)); n >= draftMinN; n-- {
		suffix := ctx[len(ctx)-n:]
		// The conversation itself: the latest earlier occurrence.
		if got := follow(ctx[:len(ctx)-1], suffix, k); got != nil {
			return got
		}
		for i := len(d.answers) - 1; i >= 0; i-- {
			if got := follow(d.answers[i], suffix, k); got != nil {
				return got
			}
		}
		for _, r := range d.corpus {
			if got := follow(r, suffix, k); got != nil {
				return got
			}
		}
	}
	return nil
}

// follow finds the last occurrence of suffix in src that has tokens after
// it and returns up to k of them.
func follow(src, suffix []llama.Token, k int) []llama.Token {
	n := len(suffix)
	for i := len(src) - n - 1; i >= 0; i-- {
		if src[i+n-1] != suffix[n-1] || src[i] != suffix[0] {
			continue
		}
		match := true
		for j := 1; j < n-1; j++ {
			if src[i+j] != suffix[j] {
				match = false
				break
			}
		}
		if match {
			end := min(i+n+k, len(src))
			return src[i+n : end]
		}
	}
	return nil
}

// speculate is the accept/reject rule of speculative decoding for the
// deterministic drafts d, whose positions the model has computed: at each
// position i, next(i) draws the model's token from its own distribution p
// there (the whole sampler chain, as without drafts: greedy, or penalties,
// top-k, top-p, min-p, temperature and the seeded random draw) and it is
// emitted; d[i] is accepted when it is that token, and the first draft
// that is not ends the step. It returns the number of drafts accepted.
//
// This is the speculative sampling rule (Leviathan et al. 2023, Chen et al.
// 2023) for a draft distribution q that is a point mass on d[i]: that rule
// accepts d[i] with probability min(1, p(d[i])/q(d[i])) = p(d[i]) and on
// rejection draws from max(0, p-q) normalized, i.e. p without d[i]; drawing
// t from p and accepting when t == d[i] gives each token the same
// probability (p(d[i]) for d[i], p(t) for any other t, then rejecting) and
// uses one random draw per emitted token, as decoding without drafts does.
// So the text has the distribution it has without drafts, and a seeded
// request writes the same text with and without them. next reports false
// when the answer has ended, which ends the step too.
func speculate(d []llama.Token, next func(i int) (llama.Token, bool)) int {
	for i := 0; ; i++ {
		t, more := next(i)
		if !more || i == len(d) || t != d[i] {
			return i
		}
	}
}

// remember adds a finished answer to the draft sources.
func (d *drafter) remember(answer []llama.Token) {
	if len(answer) < draftMinN+1 {
		return
	}
	if len(d.answers) == draftHistory {
		d.answers = d.answers[1:]
	}
	d.answers = append(d.answers, answer)
}

// ReadDraftCorpus reads reports for speculative decoding from a file: one
// report per line of plain text, or JSONL objects whose "report" (else
// "findings" and "impression") field holds it.
func ReadDraftCorpus(path string) ([]string, error) {
	f, err := fileio.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("draft corpus: %w", err)
	}
	defer f.Close()
	var reports []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "{") {
			var r struct{ Report, Findings, Impression string }
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return nil, fmt.Errorf("draft corpus %s, line %d: %w", path, n, err)
			}
			line = r.Report
			if line == "" {
				line = strings.TrimSpace(r.Findings + " " + r.Impression)
			}
		}
		if line != "" {
			reports = append(reports, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("draft corpus %s: %w", path, err)
	}
	return reports, nil
}
