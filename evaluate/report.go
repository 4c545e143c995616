package evaluate

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/xraygpt-go/xraygpt/rouge"
)

// maxListedIDs bounds how many ids of a missing list the table prints.
const maxListedIDs = 10

// WriteTable writes the means as a table for a terminal, followed by the
// counts (and first ids) of missing and failed items.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "ROUGE: plain mean of per-item scores over %d items\n\n", len(r.Items))
	type run struct {
		name string
		s    *Summary
	}
	var runs []run
	if r.Plain != nil {
		runs = append(runs, run{"no stemming", r.Plain})
	}
	if r.Stemmed != nil {
		runs = append(runs, run{"Porter stemming", r.Stemmed})
	}
	for _, rn := range runs {
		fmt.Fprintf(&b, "%-16s %7s %7s %7s\n", rn.name, "P", "R", "F1")
		for _, m := range []struct {
			name string
			sc   rouge.Score
		}{
			{"ROUGE-1", rn.s.Rouge1},
			{"ROUGE-2", rn.s.Rouge2},
			{"ROUGE-L", rn.s.RougeL},
			{"ROUGE-Lsum", rn.s.RougeLsum},
		} {
			fmt.Fprintf(&b, "  %-14s %7.4f %7.4f %7.4f\n", m.name, m.sc.Precision, m.sc.Recall, m.sc.F1)
		}
		b.WriteString("\n")
	}
	writeIDs(&b, "missing references (predictions without a reference)", r.MissingReferences)
	writeIDs(&b, "missing predictions (references without a prediction)", r.MissingPredictions)
	writeIDs(&b, "failed (prediction rows with an error)", r.Failed)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeIDs(b *strings.Builder, what string, ids []string) {
	fmt.Fprintf(b, "%s: %d", what, len(ids))
	if len(ids) > 0 {
		shown := ids[:min(len(ids), maxListedIDs)]
		fmt.Fprintf(b, " (%s", strings.Join(shown, ", "))
		if len(ids) > len(shown) {
			fmt.Fprintf(b, ", ... %d more", len(ids)-len(shown))
		}
		b.WriteString(")")
	}
	b.WriteString("\n")
}

// WriteJSON writes the whole result (items, means, missing lists) as one
// indented JSON document.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
