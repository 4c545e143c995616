package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/batch"
	"github.com/xraygpt-go/xraygpt/engine/enginetest"
	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// runWithin runs the CLI like run, failing the test if it has not returned
// after d (the command is then stuck, e.g. opening a named pipe; its
// goroutine is left behind).
func runWithin(t *testing.T, d time.Duration, args ...string) (string, error, int) {
	t.Helper()
	type res struct {
		out  string
		err  error
		code int
	}
	done := make(chan res, 1)
	go func() {
		out, err, code := run(t, args...)
		done <- res{out, err, code}
	}()
	select {
	case r := <-done:
		return r.out, r.err, r.code
	case <-time.After(d):
		t.Fatalf("%v: still running after %v (blocked?)", args, d)
		return "", nil, 0
	}
}

func mkfifo(t *testing.T, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	return path
}

// TestNonRegularInputs gives a named pipe, a device and a folder wherever a
// command reads a file: each is refused at once with an error naming the
// file and what it is, and nothing hangs.
func TestNonRegularInputs(t *testing.T) {
	dir := t.TempDir()
	fifoPNG := mkfifo(t, filepath.Join(dir, "pipe.png"))
	fifoGGUF := mkfifo(t, filepath.Join(dir, "pipe.gguf"))
	fifoJSONL := mkfifo(t, filepath.Join(dir, "pipe.jsonl"))
	fifoPth := mkfifo(t, filepath.Join(dir, "pipe.pth"))
	folder := filepath.Join(dir, "folder.png")
	os.Mkdir(folder, 0o755)
	// A model folder whose language model is a pipe; an LLM folder whose config is one.
	modelDir := filepath.Join(dir, "models")
	os.Mkdir(modelDir, 0o755)
	mkfifo(t, filepath.Join(modelDir, "llm.gguf"))
	os.Symlink(visionPath, filepath.Join(modelDir, "x-vision.gguf"))
	hfDir := filepath.Join(dir, "hf")
	os.Mkdir(hfDir, 0o755)
	mkfifo(t, filepath.Join(hfDir, "config.json"))
	good := filepath.Join(dir, "good.jsonl")
	os.WriteFile(good, []byte(`{"id":"a","summary":"clear lungs","reference":"clear lungs"}`+"\n"), 0o644)
	out := filepath.Join(dir, "out")

	cases := []struct {
		args []string
		want string // in the error, besides the path
		path string
	}{
		{[]string{"summarize", "-m", llmPath, "--vision", visionPath, "-t", "1", "-n", "2", "--json", fifoPNG}, "named pipe", fifoPNG},
		{[]string{"summarize", "-m", llmPath, "--vision", visionPath, "-t", "1", "-n", "2", "--json", "/dev/zero"}, "device", "/dev/zero"},
		{[]string{"summarize", "-m", llmPath, "--vision", visionPath, "-t", "1", "-n", "2", "--json", folder}, "folder", folder},
		{[]string{"chat", "-m", llmPath, "--vision", visionPath, "-t", "1", fifoPNG}, "named pipe", fifoPNG},
		{[]string{"summarize", "-m", fifoGGUF, "--vision", visionPath, enginetest.Image()}, "named pipe", fifoGGUF},
		{[]string{"summarize", "-m", "/dev/zero", "--vision", visionPath, enginetest.Image()}, "device", "/dev/zero"},
		{[]string{"summarize", "-m", llmPath, "--vision", fifoGGUF, enginetest.Image()}, "named pipe", fifoGGUF},
		{[]string{"summarize", "--model-dir", modelDir, enginetest.Image()}, "named pipe", "llm.gguf"},
		{[]string{"batch", "-m", llmPath, "--vision", visionPath, "-o", out + ".jsonl", fifoJSONL}, "named pipe", fifoJSONL},
		{[]string{"batch", "-m", llmPath, "--vision", visionPath, "-o", fifoJSONL, enginetest.Image()}, "named pipe", fifoJSONL},
		{[]string{"quantize", fifoGGUF, out + ".gguf", "Q8_0"}, "named pipe", fifoGGUF},
		{[]string{"quantize", "/dev/zero", out + ".gguf", "Q8_0"}, "device", "/dev/zero"},
		{[]string{"eval", fifoJSONL}, "named pipe", fifoJSONL},
		{[]string{"eval", good, fifoJSONL}, "named pipe", fifoJSONL},
		{[]string{"eval", folder}, "folder", folder},
		{[]string{"embed", "--vision", fifoGGUF, "--image", enginetest.Image(), "-o", out + ".npy"}, "named pipe", fifoGGUF},
		{[]string{"embed", "--vision", visionPath, "--image", fifoPNG, "-o", out + ".npy"}, "named pipe", fifoPNG},
		{[]string{"convert", "vision", "--eva", fifoPth, "--qformer", fifoPth, "-o", out + ".gguf"}, "named pipe", fifoPth},
		{[]string{"convert", "llm", hfDir, "-o", out + ".gguf"}, "named pipe", "config.json"},
	}
	for _, c := range cases {
		out, err, code := runWithin(t, 30*time.Second, c.args...)
		if err != nil {
			out += err.Error() // summarize --json reports an image's error on stdout
		}
		if code == 0 || err == nil || !strings.Contains(out, c.want) || !strings.Contains(out, c.path) {
			t.Errorf("%v: exit %d, %v; want an error naming %s and %q", c.args, code, err, c.path, c.want)
		}
	}
	for _, ext := range []string{".jsonl", ".gguf", ".npy"} {
		if _, err := os.Stat(out + ext); !os.IsNotExist(err) {
			t.Errorf("a failed command left %s: %v", out+ext, err)
		}
	}
}

// TestBatchSkipsPipesInFolders: a folder or pattern holding a named pipe
// with an image's name runs without blocking; the pipe is no image.
func TestBatchPipeInFolderOrPattern(t *testing.T) {
	dir := t.TempDir()
	img, _ := os.ReadFile(enginetest.Image())
	os.WriteFile(filepath.Join(dir, "a.png"), img, 0o644)
	fifo := mkfifo(t, filepath.Join(dir, "b.png"))
	out := filepath.Join(t.TempDir(), "out.jsonl")
	runWithin(t, 60*time.Second, append(append([]string{"batch"}, models()...), "-n", "2", "--temp", "0", "-o", out, dir)...)
	runWithin(t, 60*time.Second, append(append([]string{"batch"}, models()...), "-n", "2", "--temp", "0", "-o", out, filepath.Join(dir, "*.png"))...)
	results, err := batch.ReadResults(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Image == fifo && (r.Error == "" || !strings.Contains(r.Error, "named pipe")) {
			t.Errorf("the pipe's result: %+v", r)
		}
		if r.Image != fifo && r.Error != "" {
			t.Errorf("%s: %s", r.Image, r.Error)
		}
	}
}

// TestModelFileKinds gives model files to the wrong flag: the error says
// what the file is and where it belongs, before llama.cpp sees it.
func TestModelFileKinds(t *testing.T) {
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes.gguf")
	os.WriteFile(notes, []byte("these are my notes, not a model\n"), 0o644)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"summarize", "-m", visionPath, "--vision", visionPath, enginetest.Image()}, []string{"is a vision model", "--vision", visionPath}},
		{[]string{"summarize", "-m", "../../demo/xraygpt-demo-vision.gguf", "--vision", visionPath, enginetest.Image()}, []string{"is a vision model", "--vision"}},
		{[]string{"summarize", "-m", llmPath, "--vision", llmPath, enginetest.Image()}, []string{"is a language model", "-m/--model", llmPath}},
		{[]string{"embed", "--vision", llmPath, "--image", enginetest.Image(), "-o", filepath.Join(dir, "x.npy")}, []string{"is a language model", "-m/--model"}},
		{[]string{"summarize", "-m", notes, "--vision", visionPath, enginetest.Image()}, []string{"not a GGUF file", notes}},
		{[]string{"summarize", "-m", llmPath, "--vision", notes, enginetest.Image()}, []string{"not a GGUF file", notes}},
		{[]string{"quantize", visionPath, filepath.Join(dir, "q.gguf"), "Q8_0"}, []string{"is a vision model", "quantize"}},
		{[]string{"quantize", "../../demo/xraygpt-demo-vision.gguf", filepath.Join(dir, "q.gguf"), "Q8_0"}, []string{"is a vision model"}},
		{[]string{"quantize", notes, filepath.Join(dir, "q.gguf"), "Q8_0"}, []string{"not a GGUF file"}},
	}
	for _, c := range cases {
		_, err, code := runWithin(t, 60*time.Second, c.args...)
		if code == 0 || err == nil {
			t.Errorf("%v: accepted", c.args)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v; want %q in it", c.args, err, w)
			}
		}
		if strings.Contains(err.Error(), "too long") {
			t.Errorf("%v: llama.cpp's message reached the user: %v", c.args, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "q.gguf")); !os.IsNotExist(err) {
		t.Errorf("a refused quantize left its output: %v", err)
	}
}

// TestOutputsNeverOverwriteInputs: an output naming an input (directly,
// through a symbolic link or a hard link) is refused and the input kept.
func TestOutputsNeverOverwriteInputs(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.gguf")
	data, _ := os.ReadFile(llmPath)
	os.WriteFile(model, data, 0o644)
	sym, hard := filepath.Join(dir, "sym.gguf"), filepath.Join(dir, "hard.gguf")
	os.Symlink(model, sym)
	os.Link(model, hard)
	img := filepath.Join(dir, "x.png")
	imgData, _ := os.ReadFile(enginetest.Image())
	os.WriteFile(img, imgData, 0o644)
	manifest := filepath.Join(dir, "m.jsonl")
	manifestData := `{"id":"a","image":"x.png"}` + "\n"
	os.WriteFile(manifest, []byte(manifestData), 0o644)
	for _, args := range [][]string{
		{"quantize", model, model, "f16"},
		{"quantize", model, sym, "f16"},
		{"quantize", sym, hard, "f16"},
		{"embed", "--vision", visionPath, "--image", img, "-o", img},
		{"convert", "vision", "--eva", img, "--qformer", manifest, "-o", manifest},
		{"batch", "-m", model, "--vision", visionPath, "-o", manifest, manifest},
		{"batch", "-m", model, "--vision", visionPath, "-o", img, manifest},
		{"batch", "-m", model, "--vision", visionPath, "-o", sym, manifest},
		{"batch", "-m", model, "--vision", visionPath, "-o", filepath.Join(dir, "o.jsonl"), "--csv", manifest, manifest},
		{"quantize", model, dir, "f16"},
		{"embed", "--vision", visionPath, "--image", img, "-o", dir},
	} {
		_, err, code := runWithin(t, 60*time.Second, args...)
		if code != 2 || err == nil || !errors.Is(err, fileio.ErrOutputIsInput) && !strings.Contains(err.Error(), "input") && !strings.Contains(err.Error(), "folder") {
			t.Errorf("%v: exit %d, %v; want a usage error saying the output is an input (or a folder)", args, code, err)
		}
	}
	if got, _ := os.ReadFile(model); string(got) != string(data) {
		t.Error("the model file changed")
	}
	if got, _ := os.ReadFile(img); string(got) != string(imgData) {
		t.Error("the image changed")
	}
	if got, _ := os.ReadFile(manifest); string(got) != manifestData {
		t.Error("the manifest changed")
	}
}

// TestBatchOutputSafety: batch -o only resumes its own results files, locks
// them, and leaves no file behind when it cannot start.
func TestBatchOutputSafety(t *testing.T) {
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("my notes\n"), 0o644)
	_, err, code := runWithin(t, 60*time.Second, append(append([]string{"batch"}, models()...), "-o", notes, enginetest.Image())...)
	if code == 0 || !errors.Is(err, batch.ErrNotResults) || !strings.Contains(err.Error(), notes) {
		t.Errorf("-o notes: exit %d, %v", code, err)
	}
	if got, _ := os.ReadFile(notes); string(got) != "my notes\n" {
		t.Errorf("notes changed to %q", got)
	}

	// A run that cannot load its models leaves no output.
	out := filepath.Join(dir, "out.jsonl")
	_, err, code = runWithin(t, 60*time.Second, "batch", "-m", filepath.Join(dir, "none.gguf"), "--vision", visionPath, "-o", out, enginetest.Image())
	if code == 0 {
		t.Errorf("missing model: exit 0")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a batch that did not start left %s: %v", out, err)
	}

	// A second writer is refused, naming the holder.
	lock, err := fileio.Lock(out)
	if err != nil {
		t.Fatal(err)
	}
	_, err, code = runWithin(t, 60*time.Second, append(append([]string{"batch"}, models()...), "-n", "2", "-o", out, enginetest.Image())...)
	lock.Unlock()
	if code == 0 || !errors.Is(err, fileio.ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("second writer: exit %d, %v", code, err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the refused run created %s", out)
	}
}

// TestOutputModes: quantize and embed outputs get 0644 less the umask.
func TestOutputModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	q, npy := filepath.Join(dir, "q.gguf"), filepath.Join(dir, "t.npy")
	if _, err, _ := run(t, "quantize", llmPath, q, "f16"); err != nil {
		t.Fatal(err)
	}
	if _, err, _ := run(t, "embed", "--vision", visionPath, "--image", enginetest.Image(), "-o", npy); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{q, npy} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v (%v), want 0644", p, st.Mode(), err)
		}
	}
}

// TestSecondSignalExits runs exitOnSecondSignal in a child process (this
// test binary) that then blocks forever: the first SIGINT only cancels, the
// second ends the process with status 130.
func TestSecondSignalExits(t *testing.T) {
	if os.Getenv("XRAYGPT_SIGNAL_CHILD") == "1" {
		go exitOnSecondSignal(false)
		os.Stdout.WriteString("ready\n")
		select {}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondSignalExits$")
	cmd.Env = append(os.Environ(), "XRAYGPT_SIGNAL_CHILD=1")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 6)
	if _, err := stdout.Read(buf); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // signal.Notify is called before "ready" is written; let the goroutine run
	cmd.Process.Signal(os.Interrupt)
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 130 {
			t.Errorf("child ended with %v, want exit status 130", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("two SIGINTs did not end the process")
	}
}
