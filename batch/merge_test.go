package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var testModels = []ModelFile{{Role: "llm", Name: "radllama.gguf", SHA256: "90c93e35b0e6"}, {Role: "vision", Name: "vision.gguf", SHA256: "03e8b7a8ed3a"}}

func testSettings() map[string]any {
	return map[string]any{"temperature": 0.0, "max_tokens": 300.0, "seed": 0.0}
}

func result(id, summary, errText string) Result {
	return Result{ID: id, Image: id + ".png", Summary: summary, Error: errText, Models: testModels, Settings: testSettings()}
}

func writeResults(t *testing.T, path string, results ...Result) {
	t.Helper()
	var b strings.Builder
	for _, r := range results {
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	writeFile(t, path, b.String())
}

func readMerged(t *testing.T, path string) map[string]Result {
	t.Helper()
	results, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Result{}
	for _, r := range results {
		if _, dup := byID[r.ID]; dup {
			t.Errorf("%s: id %s twice", path, r.ID)
		}
		byID[r.ID] = r
	}
	return byID
}

func TestMergeOneLinePerID(t *testing.T) {
	dir := t.TempDir()
	s0, s1, s2 := filepath.Join(dir, "o.shard-00000-of-00003.jsonl"), filepath.Join(dir, "o.shard-00001-of-00003.jsonl"), filepath.Join(dir, "o.shard-00002-of-00003.jsonl")
	writeResults(t, s0, result("a", "", "vision: broken"), result("b", "B first", ""), result("c", "", "generate: first"))
	writeResults(t, s1, result("a", "A", ""), result("b", "B second", ""), result("c", "", "generate: second"), result("d", "D", ""))
	writeResults(t, s2, result("e", "", "vision: x"), result("a", "", "vision: later failure"))
	// A task killed mid-write leaves a torn last line.
	f, _ := os.OpenFile(s2, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"f","summ`)
	f.Close()

	out := filepath.Join(dir, "all.jsonl")
	m, err := Merge(out, []string{s0, s1, s2, s1}) // s1 twice: read once
	if err != nil {
		t.Fatal(err)
	}
	got := readMerged(t, out)
	want := map[string]string{"a": "A", "b": "B first", "c": "error generate: second", "d": "D", "e": "error vision: x"}
	for id, w := range want {
		r, ok := got[id]
		text := r.Summary
		if r.Error != "" {
			text = "error " + r.Error
		}
		if !ok || text != w {
			t.Errorf("%s: %q, want %q", id, text, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("merged ids %v", keys(got))
	}
	if len(m.Files) != 3 || m.Lines != 9 || m.Duplicates != 4 || m.Torn != 1 || m.Succeeded != 3 || m.Failed != 2 || len(m.MissingShards) != 0 {
		t.Errorf("stats %+v", *m)
	}

	// --manifest: the ids without any result, in manifest order.
	manifest := filepath.Join(dir, "m.jsonl")
	writeFile(t, manifest, `{"id":"z","image":"z.png"}`+"\n"+`{"id":"a","image":"a.png"}`+"\n"+`{"id":"e","image":"e.png"}`+"\n"+`{"id":"f","image":"f.png"}`+"\n")
	missing, total, err := m.Missing([]string{manifest})
	if err != nil || total != 4 || fmt.Sprint(missing) != "[z f]" {
		t.Errorf("missing %v of %d, %v", missing, total, err)
	}

	// A shard missing from a set named as shards is reported.
	m, err = Merge(out, []string{s0, s2})
	if err != nil || fmt.Sprint(m.MissingShards) != "[1]" {
		t.Errorf("missing shards %v, %v", m.MissingShards, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for id := range m {
		k = append(k, id)
	}
	sort.Strings(k)
	return k
}

func TestMergeRefuses(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.jsonl")
	writeResults(t, a, result("1", "one", ""), result("2", "two", ""))
	out := filepath.Join(dir, "all.jsonl")
	writeResults(t, out, result("old", "old", ""))
	before, _ := os.ReadFile(out)

	otherModel := result("3", "three", "")
	otherModel.Models = []ModelFile{testModels[0], {Role: "vision", Name: "vision-f16.gguf", SHA256: "77aa00000000"}}
	otherSettings := result("3", "three", "")
	otherSettings.Settings["temperature"] = 0.7
	for name, r := range map[string]Result{"model": otherModel, "settings": otherSettings} {
		b := filepath.Join(dir, name+".jsonl")
		writeResults(t, b, result("4", "four", ""), r)
		_, err := Merge(out, []string{a, b})
		if !errors.Is(err, ErrDifferentRuns) || !strings.Contains(err.Error(), b+":2") || !strings.Contains(err.Error(), a+":1") {
			t.Errorf("%s: %v", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if err := func() error { _, err := Merge(out, []string{a, filepath.Join(dir, "settings.jsonl")}); return err }(); err == nil || !strings.Contains(err.Error(), "temperature 0 vs 0.7") {
		t.Errorf("the message does not say which setting differs: %v", err)
	}

	garbage := filepath.Join(dir, "garbage.jsonl")
	good, _ := json.Marshal(result("1", "one", ""))
	writeFile(t, garbage, string(good)+"\nnot json\n"+`{"id":"2"}`+"\n")
	if _, err := Merge(out, []string{garbage}); err == nil || !strings.Contains(err.Error(), garbage+":2") {
		t.Errorf("garbage: %v", err)
	}
	if _, err := Merge(a, []string{a}); err == nil || !strings.Contains(err.Error(), "also an input") {
		t.Errorf("output is an input: %v", err)
	}
	notes := filepath.Join(dir, "notes.txt")
	writeFile(t, notes, "my notes\n")
	if _, err := Merge(notes, []string{a}); err == nil || !strings.Contains(err.Error(), "not a results file") {
		t.Errorf("notes as output: %v", err)
	}
	if data, _ := os.ReadFile(notes); string(data) != "my notes\n" {
		t.Errorf("notes changed: %q", data)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Errorf("a refused merge changed the output")
	}
	if _, err := Merge(out, nil); err == nil {
		t.Error("no input: no error")
	}
}

// Shards written by Output for several counts merge back into the whole
// run, each id once.
func TestMergeShardOutputs(t *testing.T) {
	dir := t.TempDir()
	var all []string
	for i := 0; i < 60; i++ {
		all = append(all, fmt.Sprintf("id-%02d", i))
	}
	for _, n := range []int{1, 4, 7} {
		var files []string
		for i := 0; i < n; i++ {
			s := Shard{Index: i, Count: n}
			o, err := OpenOutput(s.Path(filepath.Join(dir, fmt.Sprintf("run%d.jsonl", n))))
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range all {
				if s.Contains(id) {
					o.Write(result(id, "summary of "+id, ""))
				}
			}
			o.Close()
			files = append(files, o.Path())
		}
		out := filepath.Join(dir, fmt.Sprintf("merged%d.jsonl", n))
		if _, err := Merge(out, files); err != nil {
			t.Fatal(err)
		}
		got := readMerged(t, out)
		if len(got) != len(all) {
			t.Errorf("%d shards: merged %d ids, want %d", n, len(got), len(all))
		}
		for _, id := range all {
			if got[id].Summary != "summary of "+id {
				t.Errorf("%d shards: %s: %q", n, id, got[id].Summary)
			}
		}
	}
}

// FuzzMerge: any results file merges into one line per id, or is refused
// with an error naming it.
func FuzzMerge(f *testing.F) {
	f.Add([]byte(`{"id":"a","summary":"x"}` + "\n" + `{"id":"a","error":"e"}` + "\n" + `{"id":"b","error":"e"}` + "\n" + `{"id":"c","su`))
	f.Add([]byte(`{"id":"a","settings":{"t":1}}` + "\n" + `{"id":"b","settings":{"t":2}}` + "\n"))
	f.Add([]byte("\n\n{}\n"))
	f.Add([]byte(`{"id":"a","models":[{"role":"llm","sha256":"1"}]}` + "\n" + `{"id":"b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		in := filepath.Join(dir, "in.jsonl")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out.jsonl")
		m, err := Merge(out, []string{in})
		if err != nil {
			if !strings.Contains(err.Error(), in) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		got := readMerged(t, out)
		if len(got) != m.Succeeded+m.Failed {
			t.Fatalf("%d ids written, stats %+v", len(got), *m)
		}
	})
}
