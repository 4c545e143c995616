package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/batch"
	"github.com/xraygpt-go/xraygpt/engine/enginetest"
	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
	"github.com/xraygpt-go/xraygpt/vision/npy"
)

var llmPath, visionPath string

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) == "1" { // serve_test.go runs this binary as the command
		main()
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "xraygpt-cli-test")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache")) // the prompt cache's default folder
	llmPath, visionPath, err = enginetest.Convert(context.Background(), dir)
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs the CLI in-process and returns stdout, the error and the exit code.
func run(t *testing.T, args ...string) (string, error, int) {
	t.Helper()
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	app.ErrWriter = &out
	err := app.RunContext(context.Background(), interspersed(app, append([]string{"xraygpt"}, args...)))
	code := 0
	if err != nil {
		code = 1
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
	}
	return out.String(), err, code
}

func models() []string { return []string{"-m", llmPath, "--vision", visionPath, "-t", "1"} }

func TestSummarizeJSON(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "report.png")
	os.WriteFile(bad, []byte("not an image at all"), 0o644)
	args := append(models(), "--json", "--temp", "0", "-n", "8", enginetest.Image(), bad)
	out, err, code := run(t, append([]string{"summarize"}, args...)...)
	if code != 1 || err == nil || !strings.Contains(err.Error(), "1 of 2 images failed") {
		t.Errorf("exit %d, err %v", code, err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines, got:\n%s", out)
	}
	var ok, failed summaryJSON
	if err := json.Unmarshal([]byte(lines[0]), &ok); err != nil || ok.Summary == "" || ok.Timings == nil || ok.Timings.GeneratedTokens == 0 {
		t.Errorf("first line: %v %+v", err, ok)
	}
	// The "timings" keys scripts read: a batch result's plus load_ms.
	var raw struct{ Timings map[string]any }
	json.Unmarshal([]byte(lines[0]), &raw)
	var keys []string
	for k := range raw.Timings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if got, want := strings.Join(keys, " "), "generate_ms generated_tokens load_ms prompt_ms prompt_tokens total_ms vision_ms"; got != want {
		t.Errorf("timings keys %q, want %q", got, want)
	}
	if tm := ok.Timings; tm != nil && (tm.TotalMS < tm.VisionMS+tm.PromptMS+tm.GenerateMS || tm.LoadMS <= 0) {
		t.Errorf("timings %+v: total below its parts or no load time", *tm)
	}
	if err := json.Unmarshal([]byte(lines[1]), &failed); err != nil || !strings.Contains(failed.Error, "report.png") || failed.Summary != "" {
		t.Errorf("second line: %v %+v", err, failed)
	}
	// Greedy decoding is reproducible.
	out2, _, _ := run(t, append([]string{"summarize"}, append(models(), "--json", "--temp", "0", "-n", "8", enginetest.Image())...)...)
	var again summaryJSON
	json.Unmarshal([]byte(strings.TrimSpace(out2)), &again)
	if again.Summary != ok.Summary {
		t.Errorf("greedy runs differ: %q vs %q", ok.Summary, again.Summary)
	}
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"summarize"}, 2, "no image given"},
		{append(append([]string{"summarize"}, models()...), "--prompt", " ", enginetest.Image()), 2, "--prompt is empty"},
		{[]string{"summarize", "-m", filepath.Join(t.TempDir(), "nope.gguf"), "--vision", visionPath, enginetest.Image()}, 1, "xraygpt convert llm"},
		{[]string{"summarize", "-m", visionPath, "--vision", visionPath, enginetest.Image()}, 1, "language model"},
		{[]string{"summarize", "-m", llmPath, "--vision", llmPath, enginetest.Image()}, 1, "vision"},
		{[]string{"chat"}, 2, "exactly one image"},
		{[]string{"eval"}, 2, "usage"},
		{[]string{"eval", "--stem", "sometimes", "a.jsonl"}, 2, "--stem"},
		{[]string{"quantize", "a", "b"}, 2, "usage"},
		{append(append([]string{"summarize"}, models()...), "--mmap", "maybe", enginetest.Image()), 2, "--mmap"},
		{append(append([]string{"batch"}, models()...), "--vision-threads", "-1", "-o", filepath.Join(t.TempDir(), "o.jsonl"), enginetest.Image()), 2, "--vision-threads -1"},
		{[]string{"quantize", llmPath, filepath.Join(t.TempDir(), "q.gguf"), "Q9_X"}, 2, "Q9_X"},
		{[]string{"convert", "vision", "-o", "x.gguf"}, 2, "--eva and --qformer"},
		{[]string{"convert", "llm", t.TempDir(), "-o", filepath.Join(t.TempDir(), "x.gguf")}, 1, "config.json"},
		{[]string{"embed", "--vision", visionPath, "--image", enginetest.Image(), "-o", filepath.Join(t.TempDir(), "x.npy"), "--stage", "nope"}, 2, "no stage"},
	}
	for _, c := range cases {
		_, err, code := run(t, c.args...)
		if code != c.code || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: exit %d, err %v; want exit %d and %q", c.args, code, err, c.code, c.want)
		}
	}
}

func TestBatchResumeAndEval(t *testing.T) {
	dir := t.TempDir()
	img, _ := os.ReadFile(enginetest.Image())
	os.WriteFile(filepath.Join(dir, "a.png"), img, 0o644)
	os.WriteFile(filepath.Join(dir, "b.png"), []byte("broken"), 0o644)
	manifest := filepath.Join(dir, "manifest.jsonl")
	os.WriteFile(manifest, []byte(`{"id":"a","image":"a.png","reference":"The lungs are clear. No effusion."}
{"id":"b","image":"b.png","reference":"Normal chest."}
`), 0o644)
	out := filepath.Join(dir, "out.jsonl")
	args := append(append([]string{"batch"}, models()...), "--temp", "0", "-n", "6", "-o", out, "--csv", filepath.Join(dir, "out.csv"), "--eval", manifest)
	stdout, err, code := run(t, args...)
	if code != 1 || err == nil {
		t.Errorf("a failed image: exit %d, err %v", code, err)
	}
	if !strings.Contains(stdout, "rouge1") && !strings.Contains(stdout, "ROUGE") && !strings.Contains(stdout, "R-1") {
		t.Errorf("no ROUGE report on stdout:\n%s", stdout)
	}
	results, err := batch.ReadResults(out)
	if err != nil || len(results) != 2 {
		t.Fatalf("results: %v %+v", err, results)
	}
	// Lines are in completion order: the broken image fails first.
	slices.SortFunc(results, func(x, y batch.Result) int { return strings.Compare(x.ID, y.ID) })
	if results[0].ID != "a" || results[0].Summary == "" || len(results[0].Models) != 2 || results[0].Models[0].SHA256 == "" {
		t.Errorf("result a: %+v", results[0])
	}
	if results[1].Error == "" || !strings.Contains(results[1].Error, "b.png") {
		t.Errorf("result b: %+v", results[1])
	}
	if csv, err := os.ReadFile(filepath.Join(dir, "out.csv")); err != nil || !strings.HasPrefix(string(csv), "id,image,prompt,summary") {
		t.Errorf("csv: %v %q", err, csv)
	}
	// Fix the broken image and rerun: only b runs again.
	os.WriteFile(filepath.Join(dir, "b.png"), img, 0o644)
	_, err, code = run(t, args...)
	if code != 0 {
		t.Errorf("rerun: exit %d, %v", code, err)
	}
	results, _ = batch.ReadResults(out)
	if len(results) != 2 || results[0].ID != "a" || results[1].ID != "b" || results[1].Error != "" {
		t.Errorf("after rerun: %+v", results)
	}
}

func TestBatchRecordsDecoderWarnings(t *testing.T) {
	dir := t.TempDir()
	dcm, err := os.ReadFile(filepath.Join("..", "..", "dicom", "testdata", "multiframe_u16.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "film.dcm"), dcm, 0o644)
	out := filepath.Join(dir, "out.jsonl")
	if _, err, code := run(t, append(append([]string{"batch"}, models()...), "--temp", "0", "-n", "2", "-o", out, dir)...); code != 0 {
		t.Fatalf("batch: exit %d, %v", code, err)
	}
	results, err := batch.ReadResults(out)
	if err != nil || len(results) != 1 {
		t.Fatalf("results: %v %+v", err, results)
	}
	if w := results[0].Warnings; len(w) != 1 || !strings.Contains(w[0], "multi-frame") {
		t.Errorf("warnings %q, want the multi-frame warning", w)
	}
}

func TestInterspersedFlags(t *testing.T) {
	app := newApp()
	got := strings.Join(interspersed(app, []string{"xraygpt", "convert", "llm", "DIR", "-o", "OUT", "--dtype=f32", "--", "-x"}), " ")
	if want := "xraygpt convert llm -o OUT --dtype=f32 DIR -- -x"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	got = strings.Join(interspersed(app, []string{"xraygpt", "summarize", "a.png", "--json", "b.png", "-n", "5"}), " ")
	if want := "xraygpt summarize --json -n 5 a.png b.png"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestEmbed(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tokens.npy")
	if _, err, _ := run(t, "embed", "--vision", visionPath, "--image", enginetest.Image(), "-o", out); err != nil {
		t.Fatal(err)
	}
	data, shape, err := npy.ReadFile(out)
	if err != nil || len(shape) != 2 || shape[0]*shape[1] != len(data) || shape[1] != 64 {
		t.Errorf("npy: %v shape %v, %d values", err, shape, len(data))
	}
}

func TestQuantizeAndDevices(t *testing.T) {
	q := filepath.Join(t.TempDir(), "q8.gguf")
	// The tiny model's FFN width (176) is no multiple of Q8_0's block of 32;
	// the llama package's tests quantize to Q8_0 and Q4_K_M.
	if _, err, _ := run(t, "quantize", llmPath, q, "f16"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(q); err != nil || st.Size() == 0 {
		t.Errorf("quantized file: %v", err)
	}
	out, err, _ := run(t, "devices")
	if err != nil || !strings.Contains(out, "CPU") {
		t.Errorf("devices: %v %q", err, out)
	}
}

// TestBatchEvalDemoIUXray runs batch + ROUGE in one go with the demo model
// over the IU X-ray image-report pairs of ../shared/data (a manifest whose
// "report" field is the reference).
func TestBatchEvalDemoIUXray(t *testing.T) {
	pairs := sharedtest.Path(t, "iu_xray_samples/pairs.jsonl")
	out := filepath.Join(t.TempDir(), "iu.jsonl")
	stdout, err, code := run(t, "batch", "-m", "../../demo/radllama-demo-q8_0.gguf", "--vision", "../../demo/xraygpt-demo-vision.gguf",
		"-t", "1", "--temp", "0", "-n", "48", "-o", out, "--eval", "--json", pairs)
	if err != nil || code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	results, err := batch.ReadResults(out)
	if err != nil || len(results) != 5 {
		t.Fatalf("results: %v, %d lines", err, len(results))
	}
	for _, r := range results {
		if r.Summary == "" || r.Reference == "" || r.Error != "" {
			t.Errorf("%s: summary %q, reference %q, error %q", r.ID, r.Summary, r.Reference, r.Error)
		}
	}
	var report struct {
		Items []json.RawMessage `json:"items"`
		Plain *struct {
			Rouge1 struct{ F1 float64 } `json:"rouge1"`
		} `json:"plain"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil || len(report.Items) != 5 || report.Plain == nil {
		t.Fatalf("ROUGE report: %v\n%s", err, stdout)
	}
	// The toy model writes report-like text: some unigram overlap, far from all.
	if f := report.Plain.Rouge1.F1; f <= 0.05 || f >= 0.95 {
		t.Errorf("mean ROUGE-1 F1 %.3f", f)
	}
	t.Logf("demo model on 5 IU X-ray pairs: mean ROUGE-1 F1 %.4f", report.Plain.Rouge1.F1)
}
