package evaluate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
)

// BenchmarkEvaluateFiles1000 reads 1,000 predictions and 1,000 references
// (IU X-ray report text from ../shared) from JSONL files and scores them with
// and without stemming; run with `go test -bench EvaluateFiles ./evaluate/`.
func BenchmarkEvaluateFiles1000(b *testing.B) {
	recs, err := ReadFile(sharedtest.Path(b, iuReports), FormatJSONL, Fields{Prediction: "impression"})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	pf, _ := os.Create(filepath.Join(dir, "pred.jsonl"))
	rf, _ := os.Create(filepath.Join(dir, "ref.jsonl"))
	pe, re := json.NewEncoder(pf), json.NewEncoder(rf)
	const n = 1000
	for i := range n {
		a, c := recs[i%len(recs)], recs[(i*7+3)%len(recs)]
		id := fmt.Sprintf("item%04d", i)
		pe.Encode(map[string]string{"id": id, "summary": a.Prediction + " " + c.Reference})
		re.Encode(map[string]string{"id": id, "reference": a.Reference})
	}
	pf.Close()
	rf.Close()
	for b.Loop() {
		res, err := EvaluateFiles(context.Background(), pf.Name(), rf.Name(), Options{})
		if err != nil || len(res.Items) != n {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "items/s")
}
