package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The serve tests run the test binary itself as the xraygpt command (see
// TestMain's cliEnv hook): real processes, real signals, the demo model.
const (
	cliEnv      = "XRAYGPT_TEST_AS_CLI"
	demoImage   = "../../demo/example-xray.png"
	sharedXray  = "../../../shared/data/iu_xray_samples/images/CXR1900_IM-0584-1001.png"
	sharedDICOM = "../../../shared/data/dicom/siim_chest_pa_jpeg_baseline.dcm"
	followUp    = "Is the heart enlarged?"
)

func cliCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	return cmd
}

// demoArgs run the demo model; --no-prompt-cache keeps the tests out of the user cache folder.
func demoArgs() []string {
	return []string{"-m", demoLLM, "--vision", demoVision, "-t", "1", "--no-prompt-cache"}
}

// cliSummary is what `xraygpt summarize --temp 0 IMAGE` prints.
func cliSummary(t *testing.T, image string) string {
	t.Helper()
	out, err := cliCommand(append(append([]string{"summarize"}, demoArgs()...), "--temp", "0", image)...).Output()
	if err != nil {
		t.Fatalf("summarize %s: %v", image, err)
	}
	return strings.TrimSpace(string(out))
}

// cliChat is what `xraygpt chat --temp 0 IMAGE` answers to the default
// question and then followUp.
func cliChat(t *testing.T, image string) []string {
	t.Helper()
	cmd := cliCommand(append(append([]string{"chat"}, demoArgs()...), "--temp", "0", image)...)
	cmd.Stdin = strings.NewReader("Describe the given chest x-ray image in detail.\n" + followUp + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chat %s: %v", image, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("chat printed %q", out)
	}
	return lines
}

// needTool skips without the tool, except under CI=true where it must run.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is needed (build/install-deps.sh installs it): %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// serveProc is a running `xraygpt serve`.
type serveProc struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs bytes.Buffer
}

func (p *serveProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{cmd: cliCommand(append(append([]string{"serve"}, demoArgs()...), args...)...)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`ready: .* on (http://\S+)`)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
		}
		close(ready)
	}()
	select {
	case url, ok := <-ready:
		if !ok {
			t.Fatalf("serve exited:\n%s", p.log())
		}
		p.url = url
	case <-time.After(60 * time.Second):
		t.Fatalf("serve not ready in 60 s:\n%s", p.log())
	}
	return p
}

func imageBody(t *testing.T, path, mediaType string, stream bool) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"model": "radllama-demo-q8_0", "temperature": 0, "stream": stream,
		"messages": []any{map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:" + mediaType + ";base64," + base64.StdEncoding.EncodeToString(data)}},
			map[string]any{"type": "text", "text": "Describe the given chest x-ray image in detail."},
		}}},
	})
	return b
}

func apiPost(t *testing.T, url, key string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestServe(t *testing.T) {
	const key = "test-key-0123456789"
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(key+"\n"), 0o600)
	// --temp 0: the generation flags are the defaults of requests.
	p := startServe(t, "--port", "0", "--parallel", "2", "--api-key-file", keyFile, "--temp", "0", "--max-body", "4MB")
	if !strings.Contains(p.url, "127.0.0.1:") {
		t.Errorf("default bind: %s", p.url)
	}

	t.Run("SameAsSummarize", func(t *testing.T) {
		for _, c := range []struct{ path, mediaType string }{{demoImage, "image/png"}, {sharedDICOM, "application/dicom"}} {
			want := cliSummary(t, c.path)
			resp := apiPost(t, p.url, key, imageBody(t, c.path, c.mediaType, false))
			var out completionJSON
			json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode != 200 || len(out.Choices) != 1 || out.Choices[0].Message.Content != want {
				t.Errorf("%s: %d %+v, want %q", c.path, resp.StatusCode, out, want)
			}
		}
		// Without "temperature" the server's --temp 0 applies.
		var body map[string]any
		json.Unmarshal(imageBody(t, demoImage, "image/png", false), &body)
		delete(body, "temperature")
		b, _ := json.Marshal(body)
		resp := apiPost(t, p.url, key, b)
		var out completionJSON
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if want := cliSummary(t, demoImage); len(out.Choices) != 1 || out.Choices[0].Message.Content != want {
			t.Errorf("with the server's default temperature: %+v, want %q", out, want)
		}
		// --max-body 4MB: a larger body is refused with 413.
		resp = apiPost(t, p.url, key, bytes.Repeat([]byte(" "), 4<<20+1))
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("a body over --max-body: %d", resp.StatusCode)
		}
	})

	t.Run("OpenAIClient", func(t *testing.T) {
		node := needTool(t, "node")
		clientDir, _ := filepath.Abs("../../server/testdata/openai-client")
		if _, err := os.Stat(filepath.Join(clientDir, "node_modules", "openai")); err != nil {
			npm := needTool(t, "npm")
			cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
			cmd.Dir = clientDir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("npm ci: %v\n%s", err, out)
			}
		}
		wantChat := cliChat(t, demoImage)
		want := cliSummary(t, demoImage)
		if wantChat[0] != want {
			t.Fatalf("chat and summarize differ: %q vs %q", wantChat[0], want)
		}
		img, _ := filepath.Abs(demoImage)
		cmd := exec.Command(node, "check.mjs")
		cmd.Dir = clientDir
		cmd.Env = append(os.Environ(), "XRAYGPT_URL="+p.url+"/v1", "XRAYGPT_KEY="+key, "IMAGE="+img, "FOLLOWUP="+followUp)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node check.mjs: %v\n%s", err, stderr.String())
		}
		var got struct {
			Model, Plain, Finish, Streamed, Followup, WrongKey, BadImage, RemoteImage string
			Chunks                                                                    int
			Usage                                                                     struct{ Prompt_tokens, Completion_tokens int }
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if got.Model != "radllama-demo-q8_0" || got.Plain != want || got.Finish != "stop" || got.Usage.Completion_tokens < 1 {
			t.Errorf("non-streaming: %+v, want %q", got, want)
		}
		if got.Streamed != want || got.Chunks < 3 {
			t.Errorf("streaming: %q in %d chunks, want %q", got.Streamed, got.Chunks, want)
		}
		if got.Followup != wantChat[1] {
			t.Errorf("follow-up: %q, want chat's %q", got.Followup, wantChat[1])
		}
		if got.WrongKey != "AuthenticationError 401" || got.BadImage != "BadRequestError 400" || got.RemoteImage != "BadRequestError 400" {
			t.Errorf("errors: wrong key %q, bad image %q, remote image %q", got.WrongKey, got.BadImage, got.RemoteImage)
		}
	})

	t.Run("Browser", func(t *testing.T) { testBrowser(t, p.url, key) })

	t.Run("DrainOnSIGTERM", func(t *testing.T) {
		// A long sampled answer (about a second on the demo model) is in
		// flight when SIGTERM comes; the same request answered before gives
		// the text it must still get in full.
		// The first seed whose sampled answer is long enough to be still
		// streaming when the signal comes (the text depends on the model's
		// exact numerics, so the seed is searched, not fixed).
		var body map[string]any
		var ref completionJSON
		for seed := 1; seed <= 64; seed++ {
			body = nil
			json.Unmarshal(imageBody(t, demoImage, "image/png", false), &body)
			body["temperature"], body["top_p"], body["seed"], body["max_tokens"] = 2, 1, seed, 1000
			plain, _ := json.Marshal(body)
			resp := apiPost(t, p.url, key, plain)
			ref = completionJSON{}
			json.NewDecoder(resp.Body).Decode(&ref)
			resp.Body.Close()
			if len(ref.Choices) == 1 && len(ref.Choices[0].Message.Content) >= 400 {
				break
			}
		}
		if len(ref.Choices) != 1 || len(ref.Choices[0].Message.Content) < 400 {
			t.Fatalf("no seed in 1..64 gave a long answer; last: %+v", ref)
		}
		want := ref.Choices[0].Message.Content
		body["stream"] = true
		streamed, _ := json.Marshal(body)
		resp := apiPost(t, p.url, key, streamed)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
			t.Fatalf("first event %q %v", line, err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(br)
		if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
			t.Errorf("the stream in flight was cut: %q", rest)
		}
		var text strings.Builder
		for _, line := range strings.Split(string(rest), "\n") {
			var ev struct {
				Choices []struct{ Delta struct{ Content string } }
			}
			if d, ok := strings.CutPrefix(line, "data: "); ok && json.Unmarshal([]byte(d), &ev) == nil && len(ev.Choices) > 0 {
				text.WriteString(ev.Choices[0].Delta.Content)
			}
		}
		if text.String() != want {
			t.Errorf("drained answer %q, want %q", text.String(), want)
		}
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("exit after SIGTERM: %v\n%s", err, p.log())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("serve did not exit after SIGTERM:\n%s", p.log())
		}
		// The streamed request's access line comes after the shutdown began.
		logs := p.log()
		_, after, ok := strings.Cut(logs, "shutting down")
		if !ok || !strings.Contains(after, "POST /v1/chat/completions 200") || !strings.Contains(after, "stopped") {
			t.Errorf("the request did not finish during the drain:\n%s", logs)
		}
		// The access log has one line per request and no content.
		if strings.Contains(logs, "heart") || strings.Contains(logs, "base64") || strings.Contains(logs, key) {
			t.Errorf("request content or key in the log:\n%s", logs)
		}
	})
}

// completionJSON is the part of a chat.completion the tests read.
type completionJSON struct {
	Choices []struct {
		Message struct{ Content string }
	}
}

// artifactDir is where tests leave files for people to look at:
// $XRAYGPT_TEST_ARTIFACTS, or build/out/test-artifacts.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("XRAYGPT_TEST_ARTIFACTS")
	if dir == "" {
		dir, _ = filepath.Abs("../../build/out/test-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testBrowser drives Debian's chromium through the page: a shared X-ray,
// the streamed summary, a follow-up typed with the keyboard, a file that is
// not an image, then a DICOM file.
func testBrowser(t *testing.T, url, key string) {
	chromium := needTool(t, "chromium")
	wantPNG := cliChat(t, sharedXray)
	wantDICOM := cliSummary(t, sharedDICOM)
	xray, _ := filepath.Abs(sharedXray)
	dcm := sharedDICOM
	junk := filepath.Join(t.TempDir(), "notes.png")
	os.WriteFile(junk, []byte("not an image"), 0o644)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Headless,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	browser, cancel := chromedp.NewContext(alloc)
	defer cancel()
	// The first call starts the browser, which lives as long as its context:
	// no timeout on that one; each later step gets its own.
	if err := chromedp.Do(browser, chromedp.Navigate(url+"/")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("page: %s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 60*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("page: text of %s: %v", sel, err)
		}
		return s
	}
	screenshot := func(name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 60*time.Second)
		defer cancel()
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		path := filepath.Join(artifactDir(t), name)
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Error(err)
		}
		t.Logf("screenshot: %s", path)
	}
	done := func(n int) string { return fmt.Sprintf("#log li:nth-child(%d).done .text", n) }

	step("load", chromedp.WaitVisible("#drop"))
	notice, models := text(".notice"), text(".models")
	if !strings.Contains(notice, "not a diagnosis") || !strings.Contains(models, "radllama-demo-q8_0") || !strings.Contains(models, "xraygpt-demo-vision") {
		t.Errorf("notice %q, models %q", notice, models)
	}
	step("upload the X-ray",
		chromedp.SetValue("#api-key", key),
		chromedp.SetUploadFiles("#file", []string{xray}),
		chromedp.WaitVisible("#preview"),
		chromedp.Click("#summarize"),
		chromedp.WaitVisible(done(2)),
	)
	summary := text(done(2))
	step("follow-up from the keyboard",
		chromedp.Focus("#question"),
		chromedp.SendKeys("#question", followUp+kb.Enter),
		chromedp.WaitVisible(done(4)),
	)
	answer := text(done(4))
	screenshot("serve-page.png")
	// Copy report puts the summary on the clipboard.
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(browser, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: url})
		if err != nil {
			t.Fatalf("clipboard permission: %v", err)
		}
	}
	step("copy the report", chromedp.Click("#copy"))
	var copied string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(browser, 10*time.Second)
		copied, err = chromedp.Run(ctx, chromedp.Evaluate[string]("navigator.clipboard.readText()", chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && copied == summary {
			break
		}
	}
	if err != nil || copied != summary {
		t.Errorf("clipboard %q (%v), want the summary %q", copied, err, summary)
	}
	if summary != wantPNG[0] || answer != wantPNG[1] {
		t.Errorf("page: summary %q, follow-up %q; chat CLI: %q, %q", summary, answer, wantPNG[0], wantPNG[1])
	}
	step("a file that is not an image",
		chromedp.Click("#reset"),
		chromedp.SetUploadFiles("#file", []string{junk}),
		chromedp.WaitVisible("#error"),
	)
	if errText := text("#error"); !strings.Contains(errText, "Cannot use this image") || !strings.Contains(errText, "400") {
		t.Errorf("error shown: %q", errText)
	}
	// The DICOM file is dropped on the page, and Summarize pressed with the keyboard.
	dcmBytes, err := os.ReadFile(dcm)
	if err != nil {
		t.Fatal(err)
	}
	drop := fmt.Sprintf(`(() => {
		const b = atob(%q), u = new Uint8Array(b.length);
		for (let i = 0; i < b.length; i++) u[i] = b.charCodeAt(i);
		const dt = new DataTransfer();
		dt.items.add(new File([u], "chest.dcm"));
		return document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
	})()`, base64.StdEncoding.EncodeToString(dcmBytes))
	step("drop the DICOM file",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](drop)(ctx, tg)
			return err
		}),
		chromedp.WaitVisible("#preview"),
		chromedp.WaitEnabled("#summarize"),
		chromedp.Focus("#summarize"),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(done(2)),
	)
	dicomSummary := text(done(2))
	screenshot("serve-page-dicom.png")
	if dicomSummary != wantDICOM {
		t.Errorf("DICOM summary %q, summarize: %q", dicomSummary, wantDICOM)
	}
}

func TestServeUsageErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve", "x.png"}, 2, "takes no arguments"},
		{[]string{"serve", "--max-body", "12XB"}, 2, "--max-body"},
		{[]string{"serve", "--max-body", "0"}, 2, "--max-body"},
		{[]string{"serve", "--parallel", "300"}, 2, "--parallel 300"},
		{[]string{"serve", "--max-queue", "-1"}, 2, "--max-queue -1"},
		{[]string{"serve", "--shutdown-timeout", "-1s"}, 2, "--shutdown-timeout"},
		{[]string{"serve", "--port", "70000"}, 2, "--port 70000"},
		{[]string{"serve", "--max-tokens-cap", "0"}, 2, "--max-tokens-cap"},
		{[]string{"serve", "--api-key", "a", "--api-key-file", empty}, 2, "not both"},
		{[]string{"serve", "--api-key-file", empty}, 2, "first line is empty"},
		{[]string{"serve", "--api-key-file", filepath.Join(dir, "missing")}, 1, "missing"},
		{[]string{"serve", "--api-key", "two words"}, 2, "white space"},
	}
	for _, c := range cases {
		_, err, code := run(t, c.args...)
		if code != c.code || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: exit %d, err %v; want exit %d and %q", c.args, code, err, c.code, c.want)
		}
	}
	for in, want := range map[string]int64{"32MB": 32 << 20, "512kb": 512 << 10, "1GiB": 1 << 30, "1000": 1000, " 2 M ": 2 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
