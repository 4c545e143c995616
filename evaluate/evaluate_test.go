package evaluate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
	"github.com/xraygpt-go/xraygpt/rouge"
)

// iuReports is the IU X-ray reports file of the shared data set.
const iuReports = "iu_xray_samples/reports.jsonl"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type goldenRun struct {
	Items []struct {
		ID      string               `json:"id"`
		Plain   map[string][]float64 `json:"plain"`
		Stemmed map[string][]float64 `json:"stemmed"`
	} `json:"items"`
	Means map[string]map[string][]float64 `json:"means"`
}

func scoresMap(s rouge.Scores) map[string]rouge.Score {
	return map[string]rouge.Score{"rouge1": s.Rouge1, "rouge2": s.Rouge2, "rougeL": s.RougeL, "rougeLsum": s.RougeLsum}
}

// maxDev returns the largest |got - want| over P, R, F1 of the four types.
func maxDev(t *testing.T, got rouge.Scores, want map[string][]float64) float64 {
	t.Helper()
	d := 0.0
	for typ, sc := range scoresMap(got) {
		w := want[typ]
		if len(w) != 3 {
			t.Fatalf("golden lacks %s", typ)
		}
		d = max(d, math.Abs(sc.Precision-w[0]), math.Abs(sc.Recall-w[1]), math.Abs(sc.F1-w[2]))
	}
	return d
}

// TestIUXrayGolden scores the 200 IU X-ray reports' findings and impression
// fields against their R2Gen reference ("report") and compares every item and
// the means with evaluate/testdata/iu_golden.json, computed by
// rouge/testdata/gen_golden.py (regenerate from the repo root with
// /usr/bin/python3 rouge/testdata/gen_golden.py). Skipped when ../shared is
// absent, except under CI.
func TestIUXrayGolden(t *testing.T) {
	reports := sharedtest.Path(t, iuReports)
	b, err := os.ReadFile("testdata/iu_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden map[string]goldenRun
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"findings", "impression"} {
		g := golden[field]
		res, err := EvaluateFiles(context.Background(), reports, "", Options{Fields: Fields{Prediction: field, Reference: "report"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 200 || len(g.Items) != 200 {
			t.Fatalf("%s: %d items, golden %d; want 200", field, len(res.Items), len(g.Items))
		}
		dev := 0.0
		for i, it := range res.Items {
			if it.ID != g.Items[i].ID {
				t.Fatalf("%s: item %d id %q, golden %q", field, i, it.ID, g.Items[i].ID)
			}
			dev = max(dev, maxDev(t, *it.Plain, g.Items[i].Plain), maxDev(t, *it.Stemmed, g.Items[i].Stemmed))
		}
		dev = max(dev, maxDev(t, res.Plain.Scores, g.Means["plain"]), maxDev(t, res.Stemmed.Scores, g.Means["stemmed"]))
		if dev > 1e-12 {
			t.Errorf("%s: max deviation from golden %.3g", field, dev)
		}
		t.Logf("%s vs report: R-1 F1 %.4f/%.4f (plain/stemmed), R-2 %.4f, R-L %.4f; max deviation %.3g",
			field, res.Plain.Rouge1.F1, res.Stemmed.Rouge1.F1, res.Plain.Rouge2.F1, res.Plain.RougeL.F1, dev)
	}
}

// TestHandWorked checks a small evaluation worked out by hand.
//
// a: ref "the heart is normal", pred "heart is normal": R-1 P=3/3 R=3/4
// F=6/7; R-2 bigrams ref {the heart, heart is, is normal}, pred {heart is,
// is normal}: P=1 R=2/3 F=0.8; R-L LCS=3 as R-1.
// b: ref "no effusion", pred "effusions noted": plain R-1 0 (effusion !=
// effusions); stemmed both become "effus": P=1/2 R=1/2 F=1/2.
func TestHandWorked(t *testing.T) {
	preds := writeFile(t, "p.jsonl", `{"id":"a","summary":"Heart is normal."}
{"id":"b","summary":"Effusions noted"}
{"id":"c","summary":"extra"}
`)
	refs := writeFile(t, "r.csv", "id,report\na,The heart is normal\nb,\"No effusion\"\nd,unused\n")
	res, err := EvaluateFiles(context.Background(), preds, refs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 2 {
		t.Fatalf("items %d", len(res.Items))
	}
	a, bb := res.Items[0], res.Items[1]
	check := func(name string, got rouge.Score, p, r, f float64) {
		t.Helper()
		if math.Abs(got.Precision-p) > 1e-12 || math.Abs(got.Recall-r) > 1e-12 || math.Abs(got.F1-f) > 1e-12 {
			t.Errorf("%s = %+v, want P=%v R=%v F=%v", name, got, p, r, f)
		}
	}
	check("a R-1", a.Plain.Rouge1, 1, 0.75, 6.0/7)
	check("a R-2", a.Plain.Rouge2, 1, 2.0/3, 0.8)
	check("a R-L", a.Plain.RougeL, 1, 0.75, 6.0/7)
	check("a R-Lsum", a.Plain.RougeLsum, 1, 0.75, 6.0/7)
	check("b R-1 plain", bb.Plain.Rouge1, 0, 0, 0)
	check("b R-1 stemmed", bb.Stemmed.Rouge1, 0.5, 0.5, 0.5)
	check("mean R-1 plain", res.Plain.Rouge1, 0.5, 0.375, 3.0/7)
	check("mean R-1 stemmed", res.Stemmed.Rouge1, 0.75, 0.625, (6.0/7+0.5)/2)
	if !slices.Equal(res.MissingReferences, []string{"c"}) || !slices.Equal(res.MissingPredictions, []string{"d"}) {
		t.Errorf("missing refs %v preds %v; want [c] [d]", res.MissingReferences, res.MissingPredictions)
	}

	var tbl bytes.Buffer
	if err := res.WriteTable(&tbl); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"over 2 items", "no stemming", "Porter stemming", "ROUGE-Lsum", "0.4286", "0.7500",
		"missing references (predictions without a reference): 1 (c)", "missing predictions (references without a prediction): 1 (d)"} {
		if !strings.Contains(tbl.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tbl.String())
		}
	}
	var js bytes.Buffer
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Plain.Rouge1 != res.Plain.Rouge1 || back.Stemmed.Items != 2 || len(back.Items) != 2 || back.Items[1].Stemmed.Rouge1.F1 != 0.5 {
		t.Errorf("JSON round trip: %s", js.String())
	}
}

func TestStemmingOption(t *testing.T) {
	preds := []Record{{ID: "1", Prediction: "effusions", HasPrediction: true, Reference: "effusion", HasReference: true}}
	for _, c := range []struct {
		s              Stemming
		plain, stemmed bool
	}{{StemBoth, true, true}, {StemOff, true, false}, {StemOn, false, true}} {
		res, err := Evaluate(context.Background(), preds, nil, Options{Stemming: c.s})
		if err != nil {
			t.Fatal(err)
		}
		if (res.Plain != nil) != c.plain || (res.Stemmed != nil) != c.stemmed || (res.Items[0].Plain != nil) != c.plain {
			t.Errorf("Stemming %d: plain %v stemmed %v", c.s, res.Plain != nil, res.Stemmed != nil)
		}
	}
}

func TestJoinRules(t *testing.T) {
	p := func(id, pred, errText string) Record {
		return Record{ID: id, Prediction: pred, HasPrediction: errText == "", Error: errText, Pos: "p:" + id}
	}
	r := func(id, ref string) Record { return Record{ID: id, Reference: ref, HasReference: true, Pos: "r:" + id} }
	preds := []Record{
		p("1", "", "out of memory"), p("1", "lungs clear", ""), // retry succeeded
		p("2", "heart normal", ""), p("2", "", "late error"), // error never replaces success
		p("3", "", "decode failed"),
		{ID: "4", Pos: "p:4"}, // no prediction field at all
		p("5", "", ""),        // empty prediction: scored, 0
	}
	refs := []Record{r("1", "lungs are clear"), r("2", "normal heart"), r("3", "x"), r("4", "y"), r("5", "z"), r("6", "w")}
	res, err := Evaluate(context.Background(), preds, refs, Options{Stemming: StemOff})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range res.Items {
		ids = append(ids, it.ID)
	}
	if !slices.Equal(ids, []string{"1", "2", "5"}) {
		t.Errorf("scored %v, want [1 2 5]", ids)
	}
	if res.Items[0].Plain.Rouge1.F1 != 0.8 || res.Items[2].Plain.Rouge1.F1 != 0 {
		t.Errorf("scores %+v %+v", res.Items[0].Plain.Rouge1, res.Items[2].Plain.Rouge1)
	}
	if !slices.Equal(res.Failed, []string{"3"}) || !slices.Equal(res.MissingPredictions, []string{"4", "6"}) || len(res.MissingReferences) != 0 {
		t.Errorf("failed %v missing preds %v missing refs %v", res.Failed, res.MissingPredictions, res.MissingReferences)
	}

	_, err = Evaluate(context.Background(), []Record{p("1", "a", ""), p("1", "b", "")}, refs, Options{})
	if !errors.Is(err, ErrDuplicateID) || !strings.Contains(err.Error(), "p:1") {
		t.Errorf("duplicate prediction: %v", err)
	}
	_, err = Evaluate(context.Background(), preds, []Record{r("1", "a"), r("1", "b")}, Options{})
	if !errors.Is(err, ErrDuplicateID) {
		t.Errorf("duplicate reference: %v", err)
	}
	res, err = Evaluate(context.Background(), []Record{p("9", "a", "")}, refs, Options{})
	if !errors.Is(err, ErrNoItems) || res == nil || !slices.Equal(res.MissingReferences, []string{"9"}) {
		t.Errorf("no items: %v %+v", err, res)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Evaluate(ctx, preds, refs, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestReadFormats(t *testing.T) {
	want := []Record{
		{ID: "CXR1", Prediction: "no acute disease", HasPrediction: true, Reference: "normal chest", HasReference: true},
		{ID: "42", Prediction: "line1\nline2", HasPrediction: true},
	}
	inputs := map[string]string{
		"a.jsonl": "\ufeff{\"id\": \"CXR1\", \"prediction\": \"no acute disease\", \"reference\": \"normal chest\"}\r\n\n" +
			`{"id": 42, "summary": "line1\nline2", "reference": null, "other": [1,2]}` + "\n",
		"a.csv": "\ufeffid,summary,report\r\nCXR1,no acute disease,normal chest\r\n42,\"line1\nline2\",\r\n",
		"noext": `  {"id":"CXR1","prediction":"no acute disease","report":"normal chest"}` + "\n" + `{"id":42,"prediction":"line1` + `\n` + `line2"}`,
	}
	for name, in := range inputs {
		got, err := ReadFile(writeFile(t, name, in), FormatAuto, Fields{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != 2 {
			t.Fatalf("%s: %d records", name, len(got))
		}
		for i := range got {
			g, w := got[i], want[i]
			if name == "a.csv" && i == 1 {
				w.HasReference = true // an empty CSV cell is present
			}
			if g.ID != w.ID || g.Prediction != w.Prediction || g.HasPrediction != w.HasPrediction ||
				g.Reference != w.Reference || g.HasReference != w.HasReference {
				t.Errorf("%s record %d = %+v, want %+v", name, i, g, w)
			}
		}
	}
	// A custom field name.
	got, err := Read(strings.NewReader(`{"uid":7,"findings":"f","report":"r"}`), "x", FormatJSONL, Fields{ID: "uid", Prediction: "findings"})
	if err != nil || len(got) != 1 || got[0].ID != "7" || got[0].Prediction != "f" || got[0].Reference != "r" {
		t.Errorf("custom fields: %+v %v", got, err)
	}
}

func TestReadErrors(t *testing.T) {
	for _, c := range []struct {
		name, in string
		format   Format
		want     error
		pos      string
	}{
		{"bad.jsonl", "{\"id\":\"a\",\"summary\":\"x\"}\n{\"id\": \"b\", \"summary\": \n", FormatJSONL, ErrSyntax, "bad.jsonl:2"},
		{"arr.jsonl", "[1,2]\n", FormatJSONL, ErrSyntax, "arr.jsonl:1"},
		{"null.jsonl", "\n\nnull\n", FormatJSONL, ErrSyntax, "null.jsonl:3"},
		{"noid.jsonl", `{"summary":"x"}`, FormatJSONL, ErrMissingID, "noid.jsonl:1"},
		{"emptyid.jsonl", `{"id":"","summary":"x"}`, FormatJSONL, ErrMissingID, "emptyid.jsonl:1"},
		{"objid.jsonl", `{"id":{},"summary":"x"}`, FormatJSONL, ErrMissingID, "objid.jsonl:1"},
		{"type.jsonl", `{"id":"a","summary":3}`, FormatJSONL, ErrFieldType, "type.jsonl:1"},
		{"errtype.jsonl", `{"id":"a","error":true}`, FormatJSONL, ErrFieldType, "errtype.jsonl:1"},
		{"nocol.csv", "name,summary\na,b\n", FormatCSV, ErrMissingID, "nocol.csv:1"},
		{"ragged.csv", "id,summary\na,b\nc,d,e\n", FormatCSV, ErrSyntax, "line 3"},
		{"quote.csv", "id,summary\na,\"b\n", FormatCSV, ErrSyntax, "nocol"},
		{"emptyid.csv", "id,summary\n,b\n", FormatCSV, ErrMissingID, "emptyid.csv:2"},
	} {
		_, err := Read(strings.NewReader(c.in), c.name, c.format, Fields{})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
			continue
		}
		if c.pos != "nocol" && !strings.Contains(err.Error(), c.pos) {
			t.Errorf("%s: error %q does not name %q", c.name, err, c.pos)
		}
		if !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: error %q does not name the file", c.name, err)
		}
	}
	if _, err := EvaluateFiles(context.Background(), filepath.Join(t.TempDir(), "absent.jsonl"), "", Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}

func checkRecords(t *testing.T, recs []Record) {
	for _, r := range recs {
		if r.ID == "" {
			t.Fatalf("record with empty id: %+v", r)
		}
	}
}

func FuzzReadJSONL(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","summary":"x","reference":"y"}`,
		"{\"id\":1}\n\n{\"id\":2.5e3,\"prediction\":null,\"error\":\"e\"}",
		`{"id":"a"`, "\ufeff{}", "[]", "null", `{"id":"\u00e9","report":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := Read(bytes.NewReader(b), "fuzz", FormatJSONL, Fields{})
		if err == nil {
			checkRecords(t, recs)
			if len(recs) > 0 {
				_, _ = Evaluate(context.Background(), recs, nil, Options{})
			}
		}
	})
}

func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"id,summary,reference\na,x,y\n", "id\n\n", "id,summary\n\"a\"\"b\",\"x\ny\"\n", "\ufeffid,error\na,boom\n", "id,id\n1,2\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := Read(bytes.NewReader(b), "fuzz", FormatCSV, Fields{})
		if err == nil {
			checkRecords(t, recs)
			if len(recs) > 0 {
				_, _ = Evaluate(context.Background(), recs, nil, Options{})
			}
		}
		// Auto-detection must not panic either.
		_, _ = Read(bytes.NewReader(b), "fuzz", FormatAuto, Fields{})
	})
}
