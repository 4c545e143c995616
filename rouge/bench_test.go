package rouge

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
)

// reportPairs builds n (target, prediction) pairs from the IU X-ray reports in
// ../shared/data, pairing each report with another study's report and with
// its own impression; it skips the benchmark when ../shared is absent.
func reportPairs(b *testing.B, n int) [][2]string {
	f, err := os.Open(sharedtest.Path(b, "iu_xray_samples/reports.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var reps []struct{ Report, Impression string }
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct{ Report, Impression string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			b.Fatal(err)
		}
		reps = append(reps, r)
	}
	if len(reps) == 0 {
		b.Skip("no reports")
	}
	pairs := make([][2]string, n)
	for i := range pairs {
		a := reps[i%len(reps)]
		if i%2 == 0 {
			pairs[i] = [2]string{a.Report, reps[(i*7+3)%len(reps)].Report}
		} else {
			pairs[i] = [2]string{a.Report, a.Impression + " " + reps[(i+1)%len(reps)].Report}
		}
	}
	return pairs
}

// BenchmarkScore1000 scores 1,000 report pairs (ROUGE-1/2/L/Lsum) per
// iteration; run with `go test -bench Score1000 ./rouge/`.
func BenchmarkScore1000(b *testing.B) {
	pairs := reportPairs(b, 1000)
	for _, bc := range []struct {
		name string
		s    Scorer
	}{{"plain", Scorer{}}, {"stemmed", Scorer{Stem: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				for _, p := range pairs {
					bc.s.Score(p[0], p[1])
				}
			}
			b.ReportMetric(float64(b.N*len(pairs))/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// BenchmarkStem stems a radiology vocabulary.
func BenchmarkStem(b *testing.B) {
	words := []string{"cardiomediastinal", "opacities", "consolidation", "effusions",
		"pneumothorax", "degenerative", "visualized", "unremarkable", "calcified", "granulomas"}
	for b.Loop() {
		for _, w := range words {
			Stem(w)
		}
	}
	b.ReportMetric(float64(b.N*len(words))/b.Elapsed().Seconds(), "words/s")
}
