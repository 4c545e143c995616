// Package evaluate scores generated summaries against reference reports with
// ROUGE (package rouge): it reads predictions and references from JSONL or
// CSV, joins them by id, reports what is missing on either side, and gives
// per-item scores and their plain means, with and without Porter stemming,
// as a terminal table or JSON.
//
// The means are plain means of per-item scores, as XrayGPT's paper reports
// ROUGE; rouge-score's BootstrapAggregator (and Hugging Face evaluate) report
// a bootstrap estimate instead. ROUGE-Lsum takes sentences to be lines, as
// rouge-score does by default, so a report written on one line gets the same
// ROUGE-Lsum as ROUGE-L.
package evaluate

import (
	"context"
	"fmt"

	"github.com/xraygpt-go/xraygpt/rouge"
)

// Stemming selects which scorings to run.
type Stemming int

const (
	// StemBoth scores with and without the Porter stemmer (the default).
	StemBoth Stemming = iota
	// StemOff scores without stemming only (rouge-score's default).
	StemOff
	// StemOn scores with stemming only.
	StemOn
)

func (s Stemming) plain() bool   { return s != StemOn }
func (s Stemming) stemmed() bool { return s != StemOff }

// Options configures Evaluate and EvaluateFiles. The zero value scores with
// and without stemming, reads files by extension, and uses the default field
// names.
type Options struct {
	Stemming Stemming
	// Fields names the id, prediction and reference keys or columns.
	Fields Fields
	// PredictionFormat and ReferenceFormat override format detection.
	PredictionFormat Format
	ReferenceFormat  Format
}

// Item is one scored id.
type Item struct {
	ID string `json:"id"`
	// Plain holds the scores without stemming; nil when not computed.
	Plain *rouge.Scores `json:"plain,omitempty"`
	// Stemmed holds the scores with stemming; nil when not computed.
	Stemmed *rouge.Scores `json:"stemmed,omitempty"`
}

// Summary is the plain mean of per-item precision, recall and F1.
type Summary struct {
	Items int `json:"items"`
	rouge.Scores
}

// Result is an evaluation's outcome.
type Result struct {
	// Items are the scored ids, in the predictions' order.
	Items []Item `json:"items"`
	// Plain and Stemmed are the means; nil when not computed.
	Plain   *Summary `json:"plain,omitempty"`
	Stemmed *Summary `json:"stemmed,omitempty"`
	// MissingReferences lists prediction ids with no reference.
	MissingReferences []string `json:"missing_references"`
	// MissingPredictions lists reference ids with no prediction.
	MissingPredictions []string `json:"missing_predictions"`
	// Failed lists ids whose prediction row carries an error (a failed
	// batch item); they are not scored.
	Failed []string `json:"failed"`
}

// EvaluateFiles reads predictions from predPath and references from refPath
// and evaluates them. With refPath empty, the references are the
// predictions file's own reference column ("reference" or "report" by
// default). With a references file, only its references are used.
func EvaluateFiles(ctx context.Context, predPath, refPath string, opts Options) (*Result, error) {
	return EvaluateFileSet(ctx, []string{predPath}, refPath, opts)
}

// EvaluateFileSet is EvaluateFiles with the predictions spread over
// several files (the shards of a batch), read in order as one list: a
// failed row in one file gives way to a success in another, and two
// successes for one id are ErrDuplicateID naming both places.
func EvaluateFileSet(ctx context.Context, predPaths []string, refPath string, opts Options) (*Result, error) {
	var preds []Record
	for _, p := range predPaths {
		recs, err := ReadFile(p, opts.PredictionFormat, opts.Fields)
		if err != nil {
			return nil, fmt.Errorf("read predictions: %w", err)
		}
		preds = append(preds, recs...)
	}
	var refs []Record
	if refPath != "" {
		var err error
		refs, err = ReadFile(refPath, opts.ReferenceFormat, opts.Fields)
		if err != nil {
			return nil, fmt.Errorf("read references: %w", err)
		}
		if refs == nil {
			refs = []Record{}
		}
	}
	return Evaluate(ctx, preds, refs, opts)
}

// Evaluate joins preds and refs by id and scores every pair. A nil refs
// takes the references from preds' own Reference fields.
//
// Within preds, a row with an Error never replaces one without; a later
// error row replaces an earlier one; two rows without errors for one id are
// ErrDuplicateID, as are two references for one id. Rows with an error are
// listed in Failed; prediction rows without a prediction field count as
// missing predictions; reference rows without a reference field count as
// missing references. When nothing can be scored, Evaluate returns the
// Result (with its missing lists) and an error wrapping ErrNoItems.
func Evaluate(ctx context.Context, preds, refs []Record, opts Options) (*Result, error) {
	inline := refs == nil
	if inline {
		refs = preds
	}
	refByID := make(map[string]Record, len(refs))
	for _, r := range refs {
		if !r.HasReference {
			continue
		}
		if prev, dup := refByID[r.ID]; dup && !inline {
			return nil, fmt.Errorf("%s: %w %q (first at %s)", r.Pos, ErrDuplicateID, r.ID, prev.Pos)
		}
		refByID[r.ID] = r
	}

	// Deduplicate predictions, keeping the first position of each id.
	var order []string
	predByID := make(map[string]Record, len(preds))
	for _, p := range preds {
		prev, dup := predByID[p.ID]
		switch {
		case !dup:
			order = append(order, p.ID)
		case p.Error != "" && prev.Error == "":
			continue
		case p.Error == "" && prev.Error == "" && prev.HasPrediction && p.HasPrediction:
			return nil, fmt.Errorf("%s: %w %q (first at %s)", p.Pos, ErrDuplicateID, p.ID, prev.Pos)
		case !p.HasPrediction && p.Error == "":
			continue
		}
		predByID[p.ID] = p
	}

	res := &Result{MissingReferences: []string{}, MissingPredictions: []string{}, Failed: []string{}}
	plain, stemmed := rouge.Scorer{}, rouge.Scorer{Stem: true}
	for _, id := range order {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := predByID[id]
		ref, hasRef := refByID[id]
		switch {
		case p.Error != "":
			res.Failed = append(res.Failed, id)
			continue
		case !p.HasPrediction:
			res.MissingPredictions = append(res.MissingPredictions, id)
			continue
		case !hasRef:
			res.MissingReferences = append(res.MissingReferences, id)
			continue
		}
		it := Item{ID: id}
		if opts.Stemming.plain() {
			s := plain.Score(ref.Reference, p.Prediction)
			it.Plain = &s
		}
		if opts.Stemming.stemmed() {
			s := stemmed.Score(ref.Reference, p.Prediction)
			it.Stemmed = &s
		}
		res.Items = append(res.Items, it)
	}
	if !inline {
		for _, r := range refs {
			if _, ok := predByID[r.ID]; !ok && r.HasReference {
				res.MissingPredictions = append(res.MissingPredictions, r.ID)
			}
		}
	}
	if len(res.Items) == 0 {
		return res, fmt.Errorf("%w (%d predictions, %d references)", ErrNoItems, len(predByID), len(refByID))
	}
	if opts.Stemming.plain() {
		res.Plain = mean(res.Items, func(it Item) *rouge.Scores { return it.Plain })
	}
	if opts.Stemming.stemmed() {
		res.Stemmed = mean(res.Items, func(it Item) *rouge.Scores { return it.Stemmed })
	}
	return res, nil
}

// mean averages the selected scores of items.
func mean(items []Item, get func(Item) *rouge.Scores) *Summary {
	var sum rouge.Scores
	add := func(dst *rouge.Score, s rouge.Score) {
		dst.Precision += s.Precision
		dst.Recall += s.Recall
		dst.F1 += s.F1
	}
	for _, it := range items {
		s := get(it)
		add(&sum.Rouge1, s.Rouge1)
		add(&sum.Rouge2, s.Rouge2)
		add(&sum.RougeL, s.RougeL)
		add(&sum.RougeLsum, s.RougeLsum)
	}
	n := float64(len(items))
	div := func(s *rouge.Score) {
		s.Precision /= n
		s.Recall /= n
		s.F1 /= n
	}
	div(&sum.Rouge1)
	div(&sum.Rouge2)
	div(&sum.RougeL)
	div(&sum.RougeLsum)
	return &Summary{Items: len(items), Scores: sum}
}
