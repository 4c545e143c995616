package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/batch"
	"github.com/xraygpt-go/xraygpt/engine/enginetest"
)

// clearSchedulerEnv runs the test as if outside any Slurm or Kubernetes job.
func clearSchedulerEnv(t *testing.T) {
	for _, v := range []string{batch.EnvSlurmTaskID, batch.EnvSlurmTaskMin, batch.EnvSlurmTaskStep, batch.EnvSlurmTaskCount, batch.EnvJobIndex} {
		t.Setenv(v, "")
	}
}

// TestBatchShardsMergeEval: a run split into shards (by flags and by the
// Slurm and Kubernetes variables) merges into what one run writes; merge
// lists what is missing; eval reads several shard files.
func TestBatchShardsMergeEval(t *testing.T) {
	clearSchedulerEnv(t)
	dir := t.TempDir()
	img, _ := os.ReadFile(enginetest.Image())
	var lines, ids []string
	for i := range 6 {
		id := fmt.Sprintf("study-%d", i)
		ids = append(ids, id)
		os.WriteFile(filepath.Join(dir, id+".png"), img, 0o644)
		lines = append(lines, fmt.Sprintf(`{"id":%q,"image":"%s.png","report":"The lungs are clear. No effusion number %d."}`, id, id, i))
	}
	manifest := filepath.Join(dir, "m.jsonl")
	os.WriteFile(manifest, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	gen := []string{"--temp", "0", "-n", "4"}
	batchArgs := func(out string, extra ...string) []string {
		return append(append(append(append([]string{"batch"}, models()...), gen...), "-o", out, manifest), extra...)
	}

	whole := filepath.Join(dir, "whole.jsonl")
	if _, err, code := run(t, batchArgs(whole)...); code != 0 {
		t.Fatalf("whole run: exit %d, %v", code, err)
	}
	out := filepath.Join(dir, "out.jsonl")
	if _, err, code := run(t, batchArgs(out, "--shard-count", "3", "--shard-index", "0")...); code != 0 {
		t.Fatalf("shard 0: exit %d, %v", code, err)
	}
	// Shard 1 from a Slurm array task --array=5-7, shard 2 from a
	// Kubernetes pod's completion index.
	t.Setenv(batch.EnvSlurmTaskID, "6")
	t.Setenv(batch.EnvSlurmTaskMin, "5")
	t.Setenv(batch.EnvSlurmTaskCount, "3")
	if _, err, code := run(t, batchArgs(out)...); code != 0 {
		t.Fatalf("shard 1 (Slurm): exit %d, %v", code, err)
	}
	clearSchedulerEnv(t)
	t.Setenv(batch.EnvJobIndex, "2")
	if _, err, code := run(t, batchArgs(out, "--shard-count", "3")...); code != 0 {
		t.Fatalf("shard 2 (Kubernetes): exit %d, %v", code, err)
	}
	clearSchedulerEnv(t)
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a sharded run wrote %s itself", out)
	}
	var shardFiles []string
	for i := range 3 {
		path := filepath.Join(dir, fmt.Sprintf("out.shard-%05d-of-00003.jsonl", i))
		rs, err := batch.ReadResults(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if batch.ShardOf(r.ID, 3) != i {
				t.Errorf("%s holds %s", path, r.ID)
			}
		}
		shardFiles = append(shardFiles, path)
	}

	merged := filepath.Join(dir, "all.jsonl")
	if stdout, err, code := run(t, "merge", "-o", merged, "--manifest", manifest, filepath.Join(dir, "out.shard-*-of-00003.jsonl")); code != 0 || stdout != "" {
		t.Fatalf("merge: exit %d, %v, stdout %q", code, err, stdout)
	}
	want, got := summariesByID(t, whole), summariesByID(t, merged)
	if len(want) != len(ids) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("merged shards:\n%v\none run:\n%v", got, want)
	}

	// Without shard 1, merge lists its ids and exits 1.
	var missing []string
	for _, id := range ids {
		if batch.ShardOf(id, 3) == 1 {
			missing = append(missing, id)
		}
	}
	stdout, err, code := run(t, "merge", "-o", merged, "--manifest", manifest, shardFiles[0], shardFiles[2])
	if code != 1 || strings.Join(strings.Fields(stdout), ",") != strings.Join(missing, ",") || !strings.Contains(fmt.Sprint(err), "have no result yet") {
		t.Errorf("merge without shard 1: exit %d, %v, stdout %q; want %v", code, err, stdout, missing)
	}

	// eval over the shard files, with and without a references file.
	stdout, err, code = run(t, "eval", "--json", shardFiles[0], shardFiles[1], shardFiles[2])
	if code != 0 || itemCount(t, stdout) != len(ids) {
		t.Errorf("eval of 3 shard files: exit %d, %v\n%s", code, err, stdout)
	}
	stdout, err, code = run(t, "eval", "--json", filepath.Join(dir, "out.shard-*.jsonl"), "--references", manifest)
	if code != 0 || itemCount(t, stdout) != len(ids) {
		t.Errorf("eval of a glob with --references: exit %d, %v\n%s", code, err, stdout)
	}
	stdout, err, code = run(t, "eval", "--json", whole, manifest) // the two-file form
	if code != 0 || itemCount(t, stdout) != len(ids) {
		t.Errorf("eval PREDICTIONS REFERENCES: exit %d, %v\n%s", code, err, stdout)
	}
	if _, err, _ := run(t, "eval", whole, merged); err == nil || !strings.Contains(err.Error(), "duplicate id") {
		t.Errorf("eval of two files with the same ids: %v", err)
	}
}

func summariesByID(t *testing.T, path string) map[string]string {
	rs, err := batch.ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, r := range rs {
		if r.Error != "" {
			t.Errorf("%s: %s failed: %s", path, r.ID, r.Error)
		}
		m[r.ID] = r.Summary
	}
	return m
}

func itemCount(t *testing.T, report string) int {
	var r struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal([]byte(report), &r); err != nil {
		return -1
	}
	return len(r.Items)
}

func TestShardUsageErrors(t *testing.T) {
	clearSchedulerEnv(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "o.jsonl")
	base := append(append([]string{"batch"}, models()...), "-o", out, enginetest.Image())
	cases := []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--shard-count", "0"}, nil, "--shard-count 0: out of range; want 1 to"},
		{[]string{"--shard-count", "4", "--shard-index", "4"}, nil, "out of range for 4 shards"},
		{[]string{"--shard-index", "-1", "--shard-count", "4"}, nil, "--shard-index -1"},
		{[]string{"--shard-count", "4"}, nil, "shard index unknown"},
		{[]string{"--shard-index", "1"}, nil, "give --shard-count"},
		{nil, []string{batch.EnvSlurmTaskCount, "4", batch.EnvSlurmTaskID, "9", batch.EnvSlurmTaskMin, "0"}, "out of range for 4 shards"},
		{[]string{"--shard-count", "4"}, []string{batch.EnvJobIndex, "x"}, `JOB_COMPLETION_INDEX="x" is not a whole number`},
	}
	for _, c := range cases {
		clearSchedulerEnv(t)
		for i := 0; i < len(c.env); i += 2 {
			t.Setenv(c.env[i], c.env[i+1])
		}
		_, err, code := run(t, append(append([]string{}, base...), c.args...)...)
		if code != 2 || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: exit %d, %v; want exit 2 and %q", c.args, c.env, code, err, c.want)
		}
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*")); len(matches) > 0 {
		t.Errorf("usage errors left files: %v", matches)
	}
	clearSchedulerEnv(t)
	for _, args := range [][]string{{"merge", "-o", out}, {"merge", "-o", out, filepath.Join(dir, "none-*.jsonl")}} {
		if _, err, code := run(t, args...); code == 0 || err == nil {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}

// A "random" prompt depends on the seed and the item's id only, so a shard
// asks each image what the whole run would.
func TestRandomPromptsPerID(t *testing.T) {
	var all []batch.Item
	for i := range 40 {
		all = append(all, batch.Item{ID: fmt.Sprintf("img%d", i)})
	}
	assignPrompts(all, "random", 7)
	distinct := map[string]bool{}
	for _, it := range all {
		distinct[it.Prompt] = true
	}
	if len(distinct) < 5 {
		t.Errorf("40 items got %d distinct prompts", len(distinct))
	}
	for s := range 3 {
		var part []batch.Item
		for _, it := range all {
			if batch.ShardOf(it.ID, 3) == s {
				part = append(part, batch.Item{ID: it.ID})
			}
		}
		assignPrompts(part, "random", 7)
		for _, it := range part {
			for _, w := range all {
				if w.ID == it.ID && w.Prompt != it.Prompt {
					t.Errorf("shard %d: %s asks %q, the whole run %q", s, it.ID, it.Prompt, w.Prompt)
				}
			}
		}
	}
}
