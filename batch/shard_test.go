package batch

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The expected shards were computed independently with Python:
// int.from_bytes(hashlib.sha256(id.encode()).digest()[:8], "big") % n.
func TestShardOfReference(t *testing.T) {
	cases := []struct {
		id            string
		n4, n7, n1000 int
	}{
		{"CXR1900_IM-0584-1001", 2, 2, 834},
		{"img1", 3, 4, 371},
		{"a", 2, 4, 250},
		{"", 0, 1, 652},
		{"patient/0001/study-2", 1, 0, 149},
	}
	for _, c := range cases {
		if got := [3]int{ShardOf(c.id, 4), ShardOf(c.id, 7), ShardOf(c.id, 1000)}; got != [3]int{c.n4, c.n7, c.n1000} {
			t.Errorf("ShardOf(%q) = %v, want %v", c.id, got, [3]int{c.n4, c.n7, c.n1000})
		}
	}
}

func TestShardsPartition(t *testing.T) {
	ids := make([]string, 5000)
	for i := range ids {
		ids[i] = fmt.Sprintf("p%05d/s%d/view-%d", i/3, i%7, i%3)
	}
	for _, n := range []int{1, 2, 3, 4, 7, 16, 100} {
		sizes := make([]int, n)
		for _, id := range ids {
			in := 0
			for i := 0; i < n; i++ {
				if (Shard{Index: i, Count: n}).Contains(id) {
					in++
					sizes[i]++
				}
			}
			if in != 1 {
				t.Fatalf("%d shards: %q is in %d shards", n, id, in)
			}
		}
		// A hash spreads the ids evenly: within 5 standard deviations
		// of the binomial count (deterministic: the ids are fixed).
		want := float64(len(ids)) / float64(n)
		for i, s := range sizes {
			if math.Abs(float64(s)-want) > 5*math.Sqrt(want) {
				t.Errorf("%d shards: shard %d holds %d ids, expected about %.0f", n, i, s, want)
			}
		}
	}
	if !(Shard{}).Contains("anything") {
		t.Error("the zero Shard does not hold everything")
	}
}

// Adding items to a manifest (anywhere in it) moves no existing item to
// another shard, and each shard's items keep their manifest order.
func TestShardsStableWhenItemsAdded(t *testing.T) {
	dir := t.TempDir()
	var before, after []string
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		line := fmt.Sprintf(`{"id":"old%03d","image":"x%03d.png"}`, i, i)
		before = append(before, line)
		after = append(after, line)
		if rng.IntN(2) == 0 {
			after = append(after, fmt.Sprintf(`{"id":"new%03d","image":"y%03d.png"}`, i, i))
		}
	}
	writeFile(t, filepath.Join(dir, "before.jsonl"), strings.Join(before, "\n")+"\n")
	writeFile(t, filepath.Join(dir, "after.jsonl"), strings.Join(after, "\n")+"\n")
	for _, n := range []int{2, 5, 8} {
		for i := 0; i < n; i++ {
			s := Shard{Index: i, Count: n}
			a, err := CollectShard([]string{filepath.Join(dir, "before.jsonl")}, s)
			if err != nil {
				t.Fatal(err)
			}
			b, err := CollectShard([]string{filepath.Join(dir, "after.jsonl")}, s)
			if err != nil {
				t.Fatal(err)
			}
			var old []string
			for _, it := range b {
				if strings.HasPrefix(it.ID, "old") {
					old = append(old, it.ID)
				}
			}
			if fmt.Sprint(ids(a)) != fmt.Sprint(old) {
				t.Errorf("%v: before %v, after (old items) %v", s, ids(a), old)
			}
		}
	}
}

func ids(items []Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func TestShardPath(t *testing.T) {
	cases := map[string]string{
		"out.jsonl":          "out.shard-00002-of-00004.jsonl",
		"/a/b.v2/results":    "/a/b.v2/results.shard-00002-of-00004",
		"runs/x.y.jsonl":     "runs/x.y.shard-00002-of-00004.jsonl",
		"mimic/all.ndjson":   "mimic/all.shard-00002-of-00004.ndjson",
		"out.shard-test.csv": "out.shard-test.shard-00002-of-00004.csv",
	}
	for in, want := range cases {
		if got := (Shard{Index: 2, Count: 4}).Path(in); got != want {
			t.Errorf("Path(%q) = %q, want %q", in, got, want)
		}
	}
	if got := (Shard{Index: 123456, Count: 200000}).Path("o.jsonl"); got != "o.shard-123456-of-200000.jsonl" {
		t.Errorf("wide: %q", got)
	}
	if got := (Shard{}).Path("out.jsonl"); got != "out.jsonl" {
		t.Errorf("whole run: %q", got)
	}
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// TestShardEnvironment is the contract with the schedulers: Slurm job
// arrays set SLURM_ARRAY_TASK_ID/MIN/STEP/COUNT in each task, Kubernetes
// Indexed Jobs set JOB_COMPLETION_INDEX (and no count).
func TestShardEnvironment(t *testing.T) {
	const none = -1
	cases := []struct {
		name         string
		index, count int
		env          func(string) string
		want         Shard
		err          string // substring of the error; "" for none
	}{
		{"slurm 0-3", none, none, env("SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_COUNT", "4"), Shard{2, 4}, ""},
		{"slurm 5-8", none, none, env("SLURM_ARRAY_TASK_ID", "8", "SLURM_ARRAY_TASK_MIN", "5", "SLURM_ARRAY_TASK_COUNT", "4", "SLURM_ARRAY_TASK_STEP", "1"), Shard{3, 4}, ""},
		{"slurm stepped 0-15:4", none, none, env("SLURM_ARRAY_TASK_ID", "12", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_COUNT", "4", "SLURM_ARRAY_TASK_STEP", "4"), Shard{3, 4}, ""},
		{"slurm count flag wins", none, 8, env("SLURM_ARRAY_TASK_ID", "6", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_COUNT", "4"), Shard{6, 8}, ""},
		{"index flag wins", 1, 4, env("SLURM_ARRAY_TASK_ID", "3", "SLURM_ARRAY_TASK_MIN", "0", "JOB_COMPLETION_INDEX", "2"), Shard{1, 4}, ""},
		{"kubernetes", none, 4, env("JOB_COMPLETION_INDEX", "3"), Shard{3, 4}, ""},
		{"slurm before kubernetes", none, 4, env("JOB_COMPLETION_INDEX", "3", "SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_MIN", "0"), Shard{1, 4}, ""},
		{"flags only", 0, 1, env(), Shard{0, 1}, ""},

		{"kubernetes without count", none, none, env("JOB_COMPLETION_INDEX", "3"), Shard{}, "give --shard-count"},
		{"no index", none, 4, env(), Shard{}, "shard index unknown"},
		{"kubernetes index out of range", none, 4, env("JOB_COMPLETION_INDEX", "4"), Shard{}, "JOB_COMPLETION_INDEX=4) is out of range for 4 shards"},
		{"negative kubernetes index", none, 4, env("JOB_COMPLETION_INDEX", "-1"), Shard{}, "out of range"},
		{"slurm list array", none, none, env("SLURM_ARRAY_TASK_ID", "7", "SLURM_ARRAY_TASK_MIN", "1", "SLURM_ARRAY_TASK_COUNT", "3"), Shard{}, "SLURM_ARRAY_TASK_ID=7 - SLURM_ARRAY_TASK_MIN=1) is out of range for 3 shards"},
		{"slurm below min", none, none, env("SLURM_ARRAY_TASK_ID", "0", "SLURM_ARRAY_TASK_MIN", "1", "SLURM_ARRAY_TASK_COUNT", "3"), Shard{}, "out of range"},
		{"slurm without min", none, none, env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_COUNT", "3"), Shard{}, "SLURM_ARRAY_TASK_MIN is not"},
		{"slurm off step", none, none, env("SLURM_ARRAY_TASK_ID", "5", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_COUNT", "4", "SLURM_ARRAY_TASK_STEP", "4"), Shard{}, "not a step of 4"},
		{"slurm bad step", none, none, env("SLURM_ARRAY_TASK_ID", "5", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_COUNT", "4", "SLURM_ARRAY_TASK_STEP", "0"), Shard{}, "SLURM_ARRAY_TASK_STEP=0"},
		{"malformed count", none, none, env("SLURM_ARRAY_TASK_ID", "0", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_COUNT", "four"), Shard{}, `SLURM_ARRAY_TASK_COUNT="four" is not a whole number`},
		{"zero count", none, none, env("SLURM_ARRAY_TASK_COUNT", "0", "SLURM_ARRAY_TASK_ID", "0", "SLURM_ARRAY_TASK_MIN", "0"), Shard{}, "want 1 or more"},
		{"malformed index", none, 4, env("JOB_COMPLETION_INDEX", "3x"), Shard{}, `JOB_COMPLETION_INDEX="3x"`},
		{"index flag out of range", 4, 4, env(), Shard{}, "shard index 4 (from --shard-index) is out of range for 4 shards (from --shard-count): want 0 to 3"},
	}
	for _, c := range cases {
		f := ShardFlags{Index: c.index, Count: c.count}
		got, err := f.Resolve(c.env)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err == "" && got != c.want:
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.err)
		}
	}

	if (ShardFlags{-1, -1}).Sharded(env("JOB_COMPLETION_INDEX", "2")) {
		t.Error("a Kubernetes index alone (no count) turned sharding on")
	}
	if !(ShardFlags{-1, -1}).Sharded(env("SLURM_ARRAY_TASK_COUNT", "4")) {
		t.Error("a Slurm array task is not sharded")
	}
	if (ShardFlags{-1, -1}).Sharded(os.Getenv) && os.Getenv("SLURM_ARRAY_TASK_COUNT") == "" {
		t.Error("sharded without flags or a Slurm array")
	}
	if !(ShardFlags{-1, 4}).Sharded(env()) || !(ShardFlags{0, -1}).Sharded(env()) {
		t.Error("a shard flag does not turn sharding on")
	}
}

// FuzzShardEnvironment: any environment gives a shard in range or an error.
func FuzzShardEnvironment(f *testing.F) {
	f.Add("2", "0", "1", "4", "", -1, -1)
	f.Add("12", "0", "4", "4", "", -1, -1)
	f.Add("", "", "", "", "3", -1, 4)
	f.Add("9223372036854775807", "-9223372036854775808", "", "1", "", -1, -1)
	f.Fuzz(func(t *testing.T, id, lo, step, count, job string, index, n int) {
		s, err := ShardFlags{Index: index, Count: n}.Resolve(env("SLURM_ARRAY_TASK_ID", id, "SLURM_ARRAY_TASK_MIN", lo,
			"SLURM_ARRAY_TASK_STEP", step, "SLURM_ARRAY_TASK_COUNT", count, "JOB_COMPLETION_INDEX", job))
		if err == nil && (s.Count < 1 || s.Index < 0 || s.Index >= s.Count) {
			t.Fatalf("got %+v without an error", s)
		}
	})
}
