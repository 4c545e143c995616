package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/batch"
	"github.com/xraygpt-go/xraygpt/engine/enginetest"
	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
)

const (
	demoLLM    = "../../demo/radllama-demo-q8_0.gguf"
	demoVision = "../../demo/xraygpt-demo-vision.gguf"
)

// xrays returns the X-rays the CLI tests summarize: the PNG, JPEG and DICOM
// X-rays of ../shared/data or, when it is absent (outside CI, where that
// fails), five committed ones from the engine's, imaging's and dicom's
// testdata, so the tests' checks run either way.
func xrays(t *testing.T) []string {
	t.Helper()
	if _, ok := sharedtest.Find(t, "."); ok {
		return sharedtest.Glob(t, "*/*/*.png", "*/*/*.jpg", "*/*.dcm")
	}
	return []string{
		enginetest.Image(),
		"../../imaging/testdata/in/xray_gray.png",
		"../../imaging/testdata/in/xray16.png",
		"../../imaging/testdata/in/xray_420.jpg",
		"../../dicom/testdata/cr_small.dcm",
	}
}

// TestBatchParallelGivesSameText: batch with 4 images answered at once
// writes the same summaries as one at a time (the demo model, greedy).
func TestBatchParallelGivesSameText(t *testing.T) {
	images := xrays(t)
	dir := t.TempDir()
	summaries := map[int]map[string]string{}
	for _, n := range []int{1, 4} {
		out := filepath.Join(dir, "out"+string(rune('0'+n))+".jsonl")
		args := append([]string{"batch", "-m", demoLLM, "--vision", demoVision, "-t", "1", "--temp", "0", "-n", "64",
			"--parallel", string(rune('0' + n)), "-o", out}, images...)
		if _, err, code := run(t, args...); err != nil {
			t.Fatalf("--parallel %d: exit %d: %v", n, code, err)
		}
		results, err := batch.ReadResults(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != len(images) {
			t.Fatalf("--parallel %d: %d results for %d images", n, len(results), len(images))
		}
		summaries[n] = map[string]string{}
		for _, r := range results {
			if r.Error != "" || r.Summary == "" {
				t.Errorf("--parallel %d, %s: error %q, summary %q", n, r.ID, r.Error, r.Summary)
			}
			summaries[n][r.ID] = r.Summary
		}
	}
	for id, s := range summaries[1] {
		if summaries[4][id] != s {
			t.Errorf("%s: --parallel 4 wrote %q, --parallel 1 %q", id, summaries[4][id], s)
		}
	}
}

// TestSummarizeStreamEqualsJSON: the text streamed to stdout is the text
// summarize --json returns, for four X-rays.
func TestSummarizeStreamEqualsJSON(t *testing.T) {
	images := xrays(t)[:4]
	common := []string{"-m", demoLLM, "--vision", demoVision, "-t", "1", "--temp", "0"}
	for _, img := range images {
		streamed, err, _ := run(t, append(append([]string{"summarize"}, common...), img)...)
		if err != nil {
			t.Fatal(err)
		}
		out, err, _ := run(t, append(append([]string{"summarize", "--json"}, common...), img)...)
		if err != nil {
			t.Fatal(err)
		}
		var js summaryJSON
		if err := json.Unmarshal([]byte(out), &js); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(streamed, "\n"); got != js.Summary {
			t.Errorf("%s: streamed %q, --json %q", img, got, js.Summary)
		}
	}
}
