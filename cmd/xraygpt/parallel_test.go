package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/batch"
)

const (
	demoLLM    = "../../demo/radllama-demo-q8_0.gguf"
	demoVision = "../../demo/xraygpt-demo-vision.gguf"
)

// sharedXrays returns the PNG and JPEG X-rays of ../shared/data.
func sharedXrays(t *testing.T) []string {
	t.Helper()
	var paths []string
	for _, pat := range []string{"*/*/*.png", "*/*/*.jpg", "*/*.dcm"} {
		m, _ := filepath.Glob(filepath.Join("../../../shared/data", pat))
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("no X-rays in ../shared/data")
		}
		t.Skip("no X-rays in ../shared/data")
	}
	sort.Strings(paths)
	return paths
}

// TestBatchParallelGivesSameText: batch with 4 images answered at once
// writes the same summaries as one at a time (the demo model, greedy).
func TestBatchParallelGivesSameText(t *testing.T) {
	images := sharedXrays(t)
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
// summarize --json returns, for every shared X-ray.
func TestSummarizeStreamEqualsJSON(t *testing.T) {
	images := sharedXrays(t)[:4]
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
