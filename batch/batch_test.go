package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCollect(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a.png", "sub/b.JPG", "sub/deep/c.dcm", "notes.txt", ".hidden/d.png"} {
		writeFile(t, filepath.Join(dir, p), "x")
	}
	items, err := Collect([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	if got := strings.Join(ids, ","); got != "a,sub/b,sub/deep/c" {
		t.Errorf("folder ids %s", got)
	}

	items, err = Collect([]string{filepath.Join(dir, "sub", "*.JPG")})
	if err != nil || len(items) != 1 || items[0].Image != filepath.Join(dir, "sub", "b.JPG") {
		t.Errorf("glob: %v %+v", err, items)
	}

	writeFile(t, filepath.Join(dir, "m.jsonl"), `{"id":"p1","image":"a.png","prompt":"Any effusion?","report":"No effusion."}`+"\n\n"+`{"image":"/abs/x.png"}`+"\n")
	items, err = Collect([]string{filepath.Join(dir, "m.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{ID: "p1", Image: filepath.Join(dir, "a.png"), Prompt: "Any effusion?", Reference: "No effusion."}, {ID: "/abs/x", Image: "/abs/x.png"}}
	if fmt.Sprint(items) != fmt.Sprint(want) {
		t.Errorf("jsonl manifest:\n got %+v\nwant %+v", items, want)
	}

	writeFile(t, filepath.Join(dir, "m.csv"), "\ufeffid,image,reference\nq1,sub/b.JPG,\"Heart normal, lungs clear.\"\n")
	items, err = Collect([]string{filepath.Join(dir, "m.csv")})
	if err != nil || len(items) != 1 || items[0].Reference != "Heart normal, lungs clear." || items[0].ID != "q1" {
		t.Errorf("csv manifest: %v %+v", err, items)
	}

	for name, content := range map[string]string{
		"noimage.csv": "id,prompt\n1,x\n",
		"bad.jsonl":   "{\"id\":\"1\",\"image\":\"a.png\"}\n{oops\n",
		"empty.jsonl": "{\"id\":\"1\"}\n",
	} {
		writeFile(t, filepath.Join(dir, name), content)
		if _, err := Collect([]string{filepath.Join(dir, name)}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	if _, err := Collect([]string{dir, filepath.Join(dir, "a.png")}); err == nil || !strings.Contains(err.Error(), "duplicate id") {
		t.Errorf("duplicate ids: %v", err)
	}
	if _, err := Collect([]string{filepath.Join(dir, "nope", "*.png")}); err == nil {
		t.Error("empty glob: no error")
	}
}

func TestOutputResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	out, err := OpenOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []Result{{ID: "a", Summary: "ok"}, {ID: "b", Error: "vision: broken"}, {ID: "c", Summary: "ok"}} {
		if err := out.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	out.Close()
	out.Close() // idempotent
	// A crash in the middle of a line.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"d","summ`)
	f.Close()

	out, err = OpenOutput(path)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Done("a") || out.Done("b") || !out.Done("c") || out.Done("d") {
		t.Errorf("done: a=%v b=%v c=%v d=%v", out.Done("a"), out.Done("b"), out.Done("c"), out.Done("d"))
	}
	// The file is repaired when the first new result is written.
	if err := out.Write(Result{ID: "b", Summary: "ok now"}); err != nil {
		t.Fatal(err)
	}
	out.Close()
	results, err := ReadResults(path)
	if err != nil {
		t.Fatalf("repaired file does not parse: %v", err)
	}
	if len(results) != 3 || results[0].ID != "a" || results[1].ID != "c" || results[2].ID != "b" {
		t.Errorf("repaired file holds %+v", results)
	}
}

// fakeStages records when each stage runs.
type fakeStages struct {
	mu                 sync.Mutex
	events             []string
	encodeT, generateT time.Duration
	outstanding, peak  atomic.Int32
}

func (f *fakeStages) log(s string) {
	f.mu.Lock()
	f.events = append(f.events, s)
	f.mu.Unlock()
}

func (f *fakeStages) runner(queue int) *Runner {
	return &Runner{
		Queue: queue,
		Encode: func(ctx context.Context, it Item) (Encoded, error) {
			f.log("enc+" + it.ID)
			time.Sleep(f.encodeT)
			f.log("enc-" + it.ID)
			if it.ID == "bad" {
				return Encoded{}, errors.New("not an image")
			}
			if n := f.outstanding.Add(1); n > f.peak.Load() {
				f.peak.Store(n)
			}
			return Encoded{Value: it.ID + "-tokens"}, nil
		},
		Generate: func(ctx context.Context, it Item, enc Encoded) (Generated, error) {
			f.log("gen+" + it.ID)
			time.Sleep(f.generateT)
			f.log("gen-" + it.ID)
			f.outstanding.Add(-1)
			return Generated{Summary: "summary of " + enc.Value.(string)}, nil
		},
	}
}

func TestRunnerOverlapsStages(t *testing.T) {
	items := []Item{{ID: "1"}, {ID: "2"}, {ID: "bad"}, {ID: "4"}, {ID: "5"}, {ID: "6"}}
	f := &fakeStages{encodeT: 5 * time.Millisecond, generateT: 20 * time.Millisecond}
	path := filepath.Join(t.TempDir(), "out.jsonl")
	out, _ := OpenOutput(path)
	var log bytes.Buffer
	r := f.runner(1)
	r.Progress = &Progress{W: &log}
	// Generation of image 1 waits until image 2 is encoded: that only
	// happens if the stages overlap.
	encoded2 := make(chan struct{})
	enc, gen := r.Encode, r.Generate
	r.Encode = func(ctx context.Context, it Item) (Encoded, error) {
		e, err := enc(ctx, it)
		if it.ID == "2" {
			close(encoded2)
		}
		return e, err
	}
	overlapped := true
	r.Generate = func(ctx context.Context, it Item, e Encoded) (Generated, error) {
		if it.ID == "1" {
			select {
			case <-encoded2:
			case <-time.After(10 * time.Second):
				overlapped = false
			}
		}
		return gen(ctx, it, e)
	}
	stats, err := r.Run(context.Background(), items, out)
	out.Close()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Succeeded != 5 || stats.Failed != 1 {
		t.Errorf("stats %+v", stats)
	}
	if !overlapped {
		t.Errorf("image 2 was not encoded while image 1 was generated: %v", f.events)
	}
	// With a queue of 1, at most 3 encoded images are alive: one being
	// generated, one queued, one just encoded.
	if p := f.peak.Load(); p > 3 {
		t.Errorf("%d encoded images alive, bound is 3", p)
	}
	results, _ := ReadResults(path)
	if len(results) != 6 || results[2].Error == "" || !strings.Contains(results[2].Error, "not an image") || results[5].Summary != "summary of 6-tokens" {
		t.Errorf("results %+v", results)
	}
	if !strings.Contains(log.String(), "error: bad: vision: not an image") || !strings.Contains(log.String(), "5 succeeded, 1 failed") {
		t.Errorf("progress log:\n%s", log.String())
	}

	// Rerun: the failed item runs again, the others are skipped.
	f2 := &fakeStages{}
	out, _ = OpenOutput(path)
	stats, err = f2.runner(0).Run(context.Background(), items, out)
	out.Close()
	if err != nil || stats.Skipped != 5 || stats.Failed != 1 || len(f2.events) != 2 {
		t.Errorf("rerun: %v %+v %v", err, stats, f2.events)
	}
	results, _ = ReadResults(path)
	if len(results) != 6 {
		t.Errorf("rerun left %d lines, want 6", len(results))
	}
}

func TestRunnerSequential(t *testing.T) {
	f := &fakeStages{encodeT: time.Millisecond, generateT: 3 * time.Millisecond}
	out, _ := OpenOutput(filepath.Join(t.TempDir(), "out.jsonl"))
	defer out.Close()
	if _, err := f.runner(-1).Run(context.Background(), []Item{{ID: "1"}, {ID: "2"}, {ID: "3"}}, out); err != nil {
		t.Fatal(err)
	}
	want := "enc+1 enc-1 gen+1 gen-1 enc+2 enc-2 gen+2 gen-2 enc+3 enc-3 gen+3 gen-3"
	if got := strings.Join(f.events, " "); got != want {
		t.Errorf("sequential order:\n got %s\nwant %s", got, want)
	}
}

func TestRunnerCancel(t *testing.T) {
	f := &fakeStages{generateT: 50 * time.Millisecond}
	path := filepath.Join(t.TempDir(), "out.jsonl")
	out, _ := OpenOutput(path)
	defer out.Close()
	ctx, cancel := context.WithCancel(context.Background())
	r := f.runner(2)
	gen := r.Generate
	r.Generate = func(ctx context.Context, it Item, enc Encoded) (Generated, error) {
		if it.ID == "2" {
			cancel()
			return Generated{}, ctx.Err()
		}
		return gen(ctx, it, enc)
	}
	items := []Item{{ID: "1"}, {ID: "2"}, {ID: "3"}}
	start := time.Now()
	_, err := r.Run(ctx, items, out)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("cancel was not prompt")
	}
	results, _ := ReadResults(path)
	if len(results) != 1 || results[0].ID != "1" {
		t.Errorf("after cancel the output holds %+v; want only item 1", results)
	}
}

// TestKillNineLeavesWholeLines kills a writer process at random moments and
// checks that every line left is a whole result and none repeats.
func TestKillNineLeavesWholeLines(t *testing.T) {
	if os.Getenv("BATCH_KILL_CHILD") != "" {
		out, err := OpenOutput(os.Getenv("BATCH_KILL_CHILD"))
		if err != nil {
			os.Exit(3)
		}
		for i := 0; ; i++ {
			id := fmt.Sprintf("item-%06d", i)
			if out.Done(id) {
				continue
			}
			out.Write(Result{ID: id, Summary: strings.Repeat("The lungs are clear. ", 200)})
		}
	}
	path := filepath.Join(t.TempDir(), "out.jsonl")
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillNineLeavesWholeLines$")
		cmd.Env = append(os.Environ(), "BATCH_KILL_CHILD="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+70*round) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		out, err := OpenOutput(path) // repairs a torn tail, as a rerun would
		if err != nil {
			t.Fatal(err)
		}
		out.Close()
		results, err := ReadResults(path)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		seen := map[string]bool{}
		for i, r := range results {
			if seen[r.ID] || r.ID != fmt.Sprintf("item-%06d", i) {
				t.Fatalf("round %d: line %d is %s (duplicate or out of order)", round, i, r.ID)
			}
			seen[r.ID] = true
		}
		if len(results) == 0 {
			t.Fatalf("round %d: the child wrote nothing", round)
		}
	}
}

func TestProgressPlainLines(t *testing.T) {
	var b bytes.Buffer
	clock := time.Unix(0, 0)
	p := &Progress{W: &b, Interval: time.Minute, now: func() time.Time { return clock }}
	p.Start(4, 1)
	for i := 0; i < 4; i++ {
		clock = clock.Add(30 * time.Second)
		p.Done(Result{ID: fmt.Sprint(i)})
	}
	got := b.String()
	want := "resuming: 1 done before, 4 to go\n2/4 2.0 img/min ETA 1m0s\n4/4 2.0 img/min ETA 0s\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestRunnerParallel runs the language stage on three items at once: all
// three are in Generate together, and every item is written exactly once.
func TestRunnerParallel(t *testing.T) {
	f := &fakeStages{generateT: 30 * time.Millisecond}
	path := filepath.Join(t.TempDir(), "out.jsonl")
	out, _ := OpenOutput(path)
	r := f.runner(4)
	r.Parallel = 3
	var inGen, peak atomic.Int32
	all3 := make(chan struct{})
	var once sync.Once
	gen := r.Generate
	r.Generate = func(ctx context.Context, it Item, enc Encoded) (Generated, error) {
		n := inGen.Add(1)
		defer inGen.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if n == 3 {
			once.Do(func() { close(all3) })
		}
		select { // the first items wait until three run at once
		case <-all3:
		case <-time.After(5 * time.Second):
		}
		return gen(ctx, it, enc)
	}
	var items []Item
	for i := range 10 {
		items = append(items, Item{ID: fmt.Sprint(i)})
	}
	stats, err := r.Run(context.Background(), items, out)
	out.Close()
	if err != nil || stats.Succeeded != 10 {
		t.Fatalf("%v %+v", err, stats)
	}
	if p := peak.Load(); p != 3 {
		t.Errorf("%d items generated at once, want 3", p)
	}
	results, _ := ReadResults(path)
	seen := map[string]int{}
	for _, res := range results {
		seen[res.ID]++
	}
	if len(results) != 10 || len(seen) != 10 {
		t.Errorf("%d lines for %d ids: %v", len(results), len(seen), seen)
	}
}

// TestImagesPerHour: succeeded and failed items both count; no time, no rate.
func TestImagesPerHour(t *testing.T) {
	for _, c := range []struct {
		s    Stats
		want float64
	}{
		{Stats{Succeeded: 3, Failed: 1, Skipped: 5, Elapsed: 2 * time.Hour}, 2},
		{Stats{Succeeded: 1, Elapsed: 30 * time.Second}, 120},
		{Stats{Succeeded: 4}, 0},
		{Stats{Elapsed: time.Minute}, 0},
	} {
		if got := c.s.ImagesPerHour(); got != c.want {
			t.Errorf("%+v: %v images/h, want %v", c.s, got, c.want)
		}
	}
}
