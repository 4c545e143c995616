package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/engine"
	"github.com/xraygpt-go/xraygpt/imaging"
)

// The tests run the real demo model (demo/, a tiny LLaMA and vision model).
const (
	demoModel  = "../demo/radllama-demo-q8_0.gguf"
	demoVision = "../demo/xraygpt-demo-vision.gguf"
	demoImage  = "../demo/example-xray.png"
	dicomFile  = "../dicom/testdata/cr_small.dcm"
	modelID    = "radllama-demo-q8_0"
)

var testEngine *engine.Engine

func TestMain(m *testing.M) {
	e, err := engine.Open(context.Background(), engine.Options{ModelPath: demoModel, VisionPath: demoVision, Threads: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testEngine = e
	code := m.Run()
	e.Close()
	os.Exit(code)
}

// logBuffer collects the access log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestServer serves the demo model; wrap, when set, wraps its generator.
func newTestServer(t *testing.T, opts Options, sched engine.SchedulerOptions, wrap func(generator) generator) (*Server, *httptest.Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts.Log = log.New(logs, "", 0)
	if opts.Model == "" {
		opts.Model = modelID
	}
	s := New(opts)
	if err := s.SetEngine(testEngine, sched); err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		s.gen = wrap(s.gen)
	}
	ts := httptest.NewServer(s.handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts, logs
}

func dataURL(t *testing.T, path, mediaType string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return "data:" + mediaType + ";base64," + base64.StdEncoding.EncodeToString(b)
}

func imagePart(url string) map[string]any {
	return map[string]any{"type": "image_url", "image_url": map[string]any{"url": url}}
}

func textPart(s string) map[string]any { return map[string]any{"type": "text", "text": s} }

// post sends a JSON body with optional headers and returns the response.
func post(t *testing.T, url string, body any, hdr ...string) *http.Response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest("POST", url, r)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

type completionJSON struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func complete(t *testing.T, url string, body any, hdr ...string) completionJSON {
	t.Helper()
	resp := post(t, url+"/v1/chat/completions", body, hdr...)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var c completionJSON
	if err := json.Unmarshal(b, &c); err != nil || len(c.Choices) != 1 {
		t.Fatalf("bad completion %s: %v", b, err)
	}
	return c
}

// reference answers through the engine's own Chat, as `xraygpt chat` does:
// the first question, then each follow-up.
func reference(t *testing.T, imagePath string, maxTokens int, questions ...string) []string {
	t.Helper()
	chat, err := testEngine.NewChat()
	if err != nil {
		t.Fatal(err)
	}
	defer chat.Close()
	img, err := testEngine.EncodeFile(context.Background(), imagePath)
	if err != nil {
		t.Fatal(err)
	}
	chat.SetImage(img)
	gen := engine.DefaultGenerateOptions()
	gen.Temperature, gen.MaxTokens = 0, maxTokens
	var out []string
	for _, q := range questions {
		ans, err := chat.Ask(context.Background(), q, gen, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ans.Text)
	}
	return out
}

func TestChatCompletionMatchesEngineChat(t *testing.T) {
	_, ts, logs := newTestServer(t, Options{}, engine.SchedulerOptions{}, nil)
	img := dataURL(t, demoImage, "image/png")
	want := reference(t, demoImage, 300, engine.DefaultQuestion, "Is the heart enlarged?")
	if want[0] == "" {
		t.Fatal("empty reference")
	}
	// The image's place among the parts and messages does not matter.
	bodies := []map[string]any{
		{"model": modelID, "temperature": 0, "messages": []any{map[string]any{"role": "user", "content": []any{imagePart(img), textPart(engine.DefaultQuestion)}}}},
		{"model": modelID, "temperature": 0, "messages": []any{map[string]any{"role": "user", "content": []any{textPart(engine.DefaultQuestion), imagePart(img)}}}},
		{"temperature": 0, "messages": []any{
			map[string]any{"role": "user", "content": []any{map[string]any{"type": "image_url", "image_url": img}}},
			map[string]any{"role": "user", "content": engine.DefaultQuestion},
		}},
	}
	for i, b := range bodies {
		c := complete(t, ts.URL, b)
		got := c.Choices[0]
		if got.Message.Content != want[0] || got.Message.Role != "assistant" || got.FinishReason != "stop" || c.Object != "chat.completion" || c.Model != modelID {
			t.Errorf("body %d: got %+v, want text %q", i, c, want[0])
		}
		if c.Usage.CompletionTokens < 1 || c.Usage.PromptTokens < 100 || c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens {
			t.Errorf("body %d: usage %+v", i, c.Usage)
		}
	}
	// A follow-up replays the first answer.
	c := complete(t, ts.URL, map[string]any{"model": modelID, "temperature": 0, "messages": []any{
		map[string]any{"role": "user", "content": []any{imagePart(img), textPart(engine.DefaultQuestion)}},
		map[string]any{"role": "assistant", "content": want[0]},
		map[string]any{"role": "user", "content": "Is the heart enlarged?"},
	}})
	if got := c.Choices[0].Message.Content; got != want[1] {
		t.Errorf("follow-up: %q, want %q", got, want[1])
	}
	// max_tokens cuts the answer: finish_reason "length".
	c = complete(t, ts.URL, map[string]any{"model": modelID, "temperature": 0, "max_completion_tokens": 3, "messages": bodies[0]["messages"]})
	if c.Choices[0].FinishReason != "length" || c.Usage.CompletionTokens != 3 || !strings.HasPrefix(want[0], c.Choices[0].Message.Content) {
		t.Errorf("max tokens 3: %+v", c)
	}
	// One access line per request, without the request's content.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 5 {
		t.Errorf("want 5 access lines, got %q", lines)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "POST /v1/chat/completions 200 ") || !strings.Contains(l, "tokens=") || strings.Contains(l, "heart") || strings.Contains(l, "base64") {
			t.Errorf("access line %q", l)
		}
	}
}

// readSSE reads a stream's events until [DONE] or EOF.
func readSSE(t *testing.T, r io.Reader) (events []map[string]any, done bool) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not an SSE data line: %q", line)
		}
		if data == "[DONE]" {
			return events, true
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		events = append(events, ev)
	}
	return events, false
}

func deltaText(events []map[string]any) (text, finish string) {
	for _, ev := range events {
		choices, _ := ev["choices"].([]any)
		for _, c := range choices {
			c := c.(map[string]any)
			if d, ok := c["delta"].(map[string]any); ok {
				s, _ := d["content"].(string)
				text += s
			}
			if f, ok := c["finish_reason"].(string); ok {
				finish = f
			}
		}
	}
	return text, finish
}

func TestStreaming(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{}, engine.SchedulerOptions{}, nil)
	want := reference(t, dicomFile, 300, "What do you see?")[0]
	resp := post(t, ts.URL+"/v1/chat/completions", map[string]any{
		"model": modelID, "temperature": 0, "stream": true, "stream_options": map[string]any{"include_usage": true},
		"messages": []any{map[string]any{"role": "user", "content": []any{textPart("What do you see?"), imagePart(dataURL(t, dicomFile, "application/dicom"))}}},
	})
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events, done := readSSE(t, resp.Body)
	if !done {
		t.Error("no data: [DONE]")
	}
	text, finish := deltaText(events)
	if text != want || finish != "stop" {
		t.Errorf("streamed %q (%s), want %q", text, finish, want)
	}
	first := events[0]["choices"].([]any)[0].(map[string]any)["delta"].(map[string]any)
	if first["role"] != "assistant" || events[0]["object"] != "chat.completion.chunk" {
		t.Errorf("first event %v", events[0])
	}
	last := events[len(events)-1]
	if u, ok := last["usage"].(map[string]any); !ok || u["completion_tokens"].(float64) < 1 {
		t.Errorf("last event has no usage: %v", last)
	}
}

// A follow-up that repeats a conversation reuses its KV cache: the image
// and the first turn are not decoded again.
func TestFollowUpReusesKVCache(t *testing.T) {
	s, ts, _ := newTestServer(t, Options{}, engine.SchedulerOptions{Slots: 2}, nil)
	img := dataURL(t, demoImage, "image/png")
	first := []any{map[string]any{"role": "user", "content": []any{imagePart(img), textPart("What do you see?")}}}
	before := s.stats().ReusedPositions
	a := complete(t, ts.URL, map[string]any{"temperature": 0, "max_tokens": 12, "messages": first})
	mid := s.stats().ReusedPositions
	b := complete(t, ts.URL, map[string]any{"temperature": 0, "max_tokens": 12, "messages": append(first,
		map[string]any{"role": "assistant", "content": a.Choices[0].Message.Content},
		map[string]any{"role": "user", "content": "Is the heart enlarged?"})})
	after := s.stats().ReusedPositions
	t.Logf("first: %d prompt positions, %d reused; follow-up: %d, %d reused", a.Usage.PromptTokens, mid-before, b.Usage.PromptTokens, after-mid)
	if after-mid < int64(a.Usage.PromptTokens) || b.Usage.PromptTokens <= a.Usage.PromptTokens {
		t.Errorf("follow-up reused %d positions; the first prompt had %d", after-mid, a.Usage.PromptTokens)
	}
}

// An error after the stream has started is sent as an error event.
func TestStreamErrorAfterStart(t *testing.T) {
	slow := &slowGen{delay: 50 * time.Millisecond}
	s, ts, _ := newTestServer(t, Options{}, engine.SchedulerOptions{}, func(g generator) generator { slow.generator = g; return slow })
	resp := post(t, ts.URL+"/v1/chat/completions", map[string]any{"stream": true, "temperature": 0, "max_tokens": 200,
		"messages": []any{map[string]any{"role": "user", "content": []any{imagePart(dataURL(t, demoImage, "image/png")), textPart("Describe it.")}}}})
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q %v", line, err)
	}
	s.Close() // the scheduler stops under the request
	events, done := readSSE(t, br)
	if done || len(events) == 0 {
		t.Fatalf("want an error event and no [DONE], got %v (done %v)", events, done)
	}
	last, _ := events[len(events)-1]["error"].(map[string]any)
	if last == nil || last["code"] != "shutting_down" || last["message"] == "" {
		t.Errorf("last event %v", events[len(events)-1])
	}
}

// A JPEG upload goes through the same decoder as a JPEG file.
func TestJPEG(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{}, engine.SchedulerOptions{}, nil)
	img, err := imaging.Load(demoImage)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.jpg")
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, b.Bytes(), 0o644)
	want := reference(t, path, 300, engine.DefaultQuestion)[0]
	c := complete(t, ts.URL, map[string]any{"temperature": 0, "messages": []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "image_url", "image_url": dataURL(t, path, "image/jpeg")}, textPart(engine.DefaultQuestion)}}}})
	if got := c.Choices[0].Message.Content; got != want {
		t.Errorf("JPEG: %q, want %q", got, want)
	}
}

func TestStopStringsAndSeed(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{}, engine.SchedulerOptions{}, nil)
	img := dataURL(t, demoImage, "image/png")
	msgs := []any{map[string]any{"role": "user", "content": []any{imagePart(img), textPart(engine.DefaultQuestion)}}}
	full := reference(t, demoImage, 300, engine.DefaultQuestion)[0]
	words := strings.Fields(full)
	if len(words) < 4 {
		t.Fatalf("reference too short: %q", full)
	}
	stop := words[2]
	c := complete(t, ts.URL, map[string]any{"temperature": 0, "stop": []string{"zzz", stop}, "messages": msgs})
	want := strings.TrimSpace(full[:strings.Index(full, stop)])
	if got := c.Choices[0].Message.Content; got != want || c.Choices[0].FinishReason != "stop" {
		t.Errorf("stop %q: %q, want %q", stop, got, want)
	}
	// The same seed gives the same sampled answer.
	a := complete(t, ts.URL, map[string]any{"temperature": 1.5, "seed": 42, "max_tokens": 12, "messages": msgs})
	b := complete(t, ts.URL, map[string]any{"temperature": 1.5, "seed": 42, "max_tokens": 12, "messages": msgs})
	if a.Choices[0].Message.Content != b.Choices[0].Message.Content {
		t.Errorf("seed 42 twice: %q vs %q", a.Choices[0].Message.Content, b.Choices[0].Message.Content)
	}
}

// hugePNG is a valid PNG header declaring 20000x20000 pixels (a 1x1 image
// with its IHDR rewritten).
func hugePNG(t *testing.T) []byte {
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	p := b.Bytes()
	// Signature (8), IHDR length (4), "IHDR" (4), width, height, ..., CRC.
	binary.BigEndian.PutUint32(p[16:], 20000)
	binary.BigEndian.PutUint32(p[20:], 20000)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	return p
}

func TestErrors(t *testing.T) {
	s, ts, _ := newTestServer(t, Options{MaxBody: 1 << 20, MaxTokensCap: 50}, engine.SchedulerOptions{}, nil)
	img := dataURL(t, demoImage, "image/png")
	user := func(content any) []any { return []any{map[string]any{"role": "user", "content": content}} }
	withImage := user([]any{imagePart(img), textPart("Describe it.")})
	huge := "data:image/png;base64," + base64.StdEncoding.EncodeToString(hugePNG(t))
	cases := []struct {
		name   string
		body   any
		status int
		want   string // in the message
		param  string
	}{
		{"bad JSON", `{"messages": [`, 400, "invalid JSON", ""},
		{"two values", `{} {}`, 400, "more than one value", ""},
		{"no messages", map[string]any{"model": modelID}, 400, "at least one user message", "messages"},
		{"no image", map[string]any{"messages": user("Describe it.")}, 400, "no image", "messages"},
		{"http URL", map[string]any{"messages": user([]any{imagePart("https://example.com/x.png"), textPart("q")})}, 400, "not fetched", "messages[0].content[0]"},
		{"file URL", map[string]any{"messages": user([]any{imagePart("file:///etc/passwd"), textPart("q")})}, 400, "not fetched", "messages[0].content[0]"},
		{"bad base64", map[string]any{"messages": user([]any{imagePart("data:image/png;base64,@@@"), textPart("q")})}, 400, "base64", "messages[0].content[0]"},
		{"not an image", map[string]any{"messages": user([]any{imagePart("data:image/png;base64," + base64.StdEncoding.EncodeToString([]byte("hello, not a PNG"))), textPart("q")})}, 400, "bad image", "messages"},
		{"too many pixels", map[string]any{"messages": user([]any{imagePart(huge), textPart("q")})}, 400, "too large", "messages"},
		{"two images", map[string]any{"messages": user([]any{imagePart(img), imagePart(img), textPart("q")})}, 400, "only one image", "messages[0].content[1]"},
		{"empty question", map[string]any{"messages": user([]any{imagePart(img), textPart("   ")})}, 400, "question", "messages"},
		{"assistant last", map[string]any{"messages": append(withImage, map[string]any{"role": "assistant", "content": "x"})}, 400, "last message", "messages"},
		{"system", map[string]any{"messages": append([]any{map[string]any{"role": "system", "content": "be nice"}}, withImage...)}, 400, "system prompt is fixed", "messages[0]"},
		{"bad role", map[string]any{"messages": []any{map[string]any{"role": "tool", "content": "x"}}}, 400, "role", "messages[0]"},
		{"n=2", map[string]any{"n": 2, "messages": withImage}, 400, "one choice", "n"},
		{"temperature", map[string]any{"temperature": 3, "messages": withImage}, 400, "temperature", "temperature"},
		{"top_p", map[string]any{"top_p": 0, "messages": withImage}, 400, "top_p", "top_p"},
		{"max_tokens 0", map[string]any{"max_tokens": 0, "messages": withImage}, 400, "at least 1", "max_tokens"},
		{"over the cap", map[string]any{"max_tokens": 51, "messages": withImage}, 400, "at most 50", "max_tokens"},
		{"stop", map[string]any{"stop": []string{"a", "b", "c", "d", "e"}, "messages": withImage}, 400, "at most 4", "stop"},
		{"unknown model", map[string]any{"model": "gpt-4o", "messages": withImage}, 404, "gpt-4o", "model"},
		{"prompt too long", map[string]any{"messages": user([]any{imagePart(img), textPart(strings.Repeat("lung ", 3000))})}, 400, "context window", "messages"},
		{"too large", `{"messages": "` + strings.Repeat("x", 1<<20) + `"}`, 413, "larger than", ""},
	}
	for _, c := range cases {
		resp := post(t, ts.URL+"/v1/chat/completions", c.body)
		var e struct {
			Error struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Param   *string `json:"param"`
				Code    *string `json:"code"`
			} `json:"error"`
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(raw, &e); err != nil || resp.StatusCode != c.status || !strings.Contains(e.Error.Message, c.want) || e.Error.Type == "" {
			t.Errorf("%s: status %d, body %s; want %d and %q", c.name, resp.StatusCode, raw, c.status, c.want)
			continue
		}
		if got := ""; e.Error.Param != nil {
			got = *e.Error.Param
			if got != c.param {
				t.Errorf("%s: param %q, want %q", c.name, got, c.param)
			}
		} else if c.param != "" {
			t.Errorf("%s: no param, want %q", c.name, c.param)
		}
	}
	// Another method on an API route is a 405, in the same shape.
	r405, err := http.Get(ts.URL + "/v1/chat/completions")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(r405.Body)
	r405.Body.Close()
	if r405.StatusCode != 405 || r405.Header.Get("Allow") != "POST" || !strings.Contains(string(raw), "method_not_allowed") {
		t.Errorf("GET /v1/chat/completions: %d %s", r405.StatusCode, raw)
	}
	// Unknown routes and models are 404s in the same shape.
	for _, path := range []string{"/v1/completions", "/v1/models/gpt-4o"} {
		resp, _ := http.Get(ts.URL + path)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(raw), `"error"`) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, raw)
		}
	}
	if st := s.stats(); st.Busy != 0 || st.Queued != 0 {
		t.Errorf("slots left busy: %+v", st)
	}
}

func TestAuth(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{APIKey: "s3cret"}, engine.SchedulerOptions{}, nil)
	get := func(path string, hdr ...string) int {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		path   string
		hdr    []string
		status int
	}{
		{"/v1/models", nil, 401},
		{"/v1/models", []string{"Authorization", "Bearer wrong"}, 401},
		{"/v1/models", []string{"Authorization", "Bearer s3cret2"}, 401},
		{"/v1/models", []string{"Authorization", "Basic s3cret"}, 401},
		{"/v1/models", []string{"X-Api-Key", "s3cre"}, 401},
		{"/v1/models", []string{"Authorization", "Bearer s3cret"}, 200},
		{"/v1/models", []string{"X-Api-Key", "s3cret"}, 200},
		{"/metrics", nil, 401},
		{"/metrics", []string{"X-Api-Key", "s3cret"}, 200},
		{"/health", nil, 200},
		{"/", nil, 200},
	}
	for _, c := range cases {
		if got := get(c.path, c.hdr...); got != c.status {
			t.Errorf("GET %s %v: %d, want %d", c.path, c.hdr, got, c.status)
		}
	}
	resp := post(t, ts.URL+"/v1/chat/completions", `{}`)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(raw), "invalid_api_key") || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("chat without key: %d %s", resp.StatusCode, raw)
	}
	// /v1/models lists the model with its vision capability.
	req, _ := http.NewRequest("GET", ts.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	r2, _ := http.DefaultClient.Do(req)
	var list struct {
		Object string
		Data   []struct {
			ID           string
			Object       string
			Capabilities []string
		}
	}
	json.NewDecoder(r2.Body).Decode(&list)
	r2.Body.Close()
	if list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != modelID || !strings.Contains(strings.Join(list.Data[0].Capabilities, ","), "vision") {
		t.Errorf("models: %+v", list)
	}
}

// slowGen slows a real generator's text down, so that tests can catch
// requests in flight; it records how each request ended.
type slowGen struct {
	generator
	delay  time.Duration
	pieces atomic.Int64
	mu     sync.Mutex
	errs   []error
}

func (g *slowGen) Do(ctx context.Context, req engine.Request) (*engine.Answer, error) {
	on := req.OnText
	req.OnText = func(s string) {
		g.pieces.Add(1)
		time.Sleep(g.delay)
		if on != nil {
			on(s)
		}
	}
	ans, err := g.generator.Do(ctx, req)
	g.mu.Lock()
	g.errs = append(g.errs, err)
	g.mu.Unlock()
	return ans, err
}

func TestBusyGives429(t *testing.T) {
	slow := &slowGen{delay: 30 * time.Millisecond}
	s, ts, _ := newTestServer(t, Options{}, engine.SchedulerOptions{Slots: 1, Queue: 1}, func(g generator) generator { slow.generator = g; return slow })
	body := map[string]any{"temperature": 0, "max_tokens": 10, "messages": []any{map[string]any{"role": "user", "content": []any{imagePart(dataURL(t, demoImage, "image/png")), textPart("Describe it.")}}}}
	const n = 5
	statuses := make([]int, n)
	texts := make([]string, n)
	retry := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := post(t, ts.URL+"/v1/chat/completions", body)
			defer resp.Body.Close()
			statuses[i], retry[i] = resp.StatusCode, resp.Header.Get("Retry-After")
			var c completionJSON
			json.NewDecoder(resp.Body).Decode(&c)
			if len(c.Choices) == 1 {
				texts[i] = c.Choices[0].Message.Content
			}
		}()
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	ok, busy := 0, 0
	for i, st := range statuses {
		switch st {
		case 200:
			ok++
			if texts[i] == "" || texts[i] != texts[0] && texts[0] != "" {
				t.Errorf("answer %d: %q vs %q", i, texts[i], texts[0])
			}
		case 429:
			busy++
			if retry[i] == "" {
				t.Errorf("429 without Retry-After")
			}
		default:
			t.Errorf("request %d: status %d", i, st)
		}
	}
	if ok < 2 || busy < 1 || ok+busy != n {
		t.Errorf("statuses %v: want 2+ answered and 1+ refused", statuses)
	}
	if st := s.stats(); st.Busy != 0 || st.Queued != 0 {
		t.Errorf("slots left busy: %+v", st)
	}
}

func TestClientDisconnectCancels(t *testing.T) {
	slow := &slowGen{delay: 50 * time.Millisecond}
	s, ts, logs := newTestServer(t, Options{}, engine.SchedulerOptions{}, func(g generator) generator { slow.generator = g; return slow })
	body, _ := json.Marshal(map[string]any{"stream": true, "temperature": 0, "max_tokens": 200, "messages": []any{map[string]any{"role": "user", "content": []any{imagePart(dataURL(t, demoImage, "image/png")), textPart("Describe it.")}}}})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/v1/chat/completions", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q %v", line, err)
	}
	cancel() // the client goes away
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for s.stats().Busy != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := s.stats(); st.Busy != 0 {
		t.Fatalf("slot still busy after the client left: %+v", st)
	}
	slow.mu.Lock()
	errs := slow.errs
	slow.mu.Unlock()
	if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Errorf("generation ended with %v, want context.Canceled", errs)
	}
	if p := slow.pieces.Load(); p > 20 {
		t.Errorf("%d pieces generated after the disconnect", p)
	}
	// The slot serves the next request.
	c := complete(t, ts.URL, map[string]any{"temperature": 0, "max_tokens": 3, "messages": []any{map[string]any{"role": "user", "content": []any{imagePart(dataURL(t, demoImage, "image/png")), textPart("Describe it.")}}}})
	if c.Usage.CompletionTokens != 3 {
		t.Errorf("next request: %+v", c)
	}
	_ = logs
}

func TestConcurrentSlotsMatchSequential(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{}, engine.SchedulerOptions{Slots: 3}, nil)
	images := []string{demoImage, dicomFile, demoImage, dicomFile, demoImage, dicomFile}
	questions := []string{engine.DefaultQuestion, "What do you see?", "Is the heart enlarged?", engine.DefaultQuestion, "Any effusion?", "Is the heart enlarged?"}
	body := func(i int) map[string]any {
		mt := "image/png"
		if strings.HasSuffix(images[i], ".dcm") {
			mt = "application/dicom"
		}
		return map[string]any{"temperature": 0, "max_tokens": 24, "messages": []any{map[string]any{"role": "user", "content": []any{imagePart(dataURL(t, images[i], mt)), textPart(questions[i])}}}}
	}
	seq := make([]string, len(images))
	for i := range images {
		seq[i] = complete(t, ts.URL, body(i)).Choices[0].Message.Content
	}
	par := make([]string, len(images))
	var wg sync.WaitGroup
	for i := range images {
		wg.Add(1)
		go func() { defer wg.Done(); par[i] = complete(t, ts.URL, body(i)).Choices[0].Message.Content }()
	}
	wg.Wait()
	for i := range images {
		if par[i] != seq[i] {
			t.Errorf("request %d: concurrent %q, sequential %q", i, par[i], seq[i])
		}
	}
}

func TestHealthMetricsCORSPreview(t *testing.T) {
	s := New(Options{Model: modelID, CORSOrigin: "https://pacs.example"})
	ts := httptest.NewServer(s.handler())
	defer ts.Close()
	status := func(path string) int {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/health"); got != 503 {
		t.Errorf("health while loading: %d", got)
	}
	resp := post(t, ts.URL+"/v1/chat/completions", map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{imagePart(dataURL(t, demoImage, "image/png")), textPart("q")}}}})
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("chat while loading: %d", resp.StatusCode)
	}
	if err := s.SetEngine(testEngine, engine.SchedulerOptions{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := status("/health"); got != 200 {
		t.Errorf("health when ready: %d", got)
	}

	// CORS: the allowed origin gets the headers, a preflight gets 204.
	req, _ := http.NewRequest("OPTIONS", ts.URL+"/v1/chat/completions", nil)
	req.Header.Set("Origin", "https://pacs.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	r, _ := http.DefaultClient.Do(req)
	r.Body.Close()
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://pacs.example" || !strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", r.StatusCode, r.Header)
	}
	req, _ = http.NewRequest("GET", ts.URL+"/v1/models", nil)
	req.Header.Set("Origin", "https://evil.example")
	r, _ = http.DefaultClient.Do(req)
	r.Body.Close()
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %v", r.Header)
	}

	// Preview: a DICOM file comes back as an 8-bit PNG with the file's window.
	dcm, _ := os.ReadFile(dicomFile)
	resp = post(t, ts.URL+"/v1/xraygpt/preview", dcm)
	pv, err := png.Decode(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("preview: %d %v", resp.StatusCode, err)
	}
	ref, err := imaging.Decode(bytes.NewReader(dcm))
	if err != nil {
		t.Fatal(err)
	}
	rb, pb := ref.Bounds(), pv.Bounds()
	if rb.Dx() <= previewSide && (pb.Dx() != rb.Dx() || pb.Dy() != rb.Dy()) || max(pb.Dx(), pb.Dy()) > previewSide {
		t.Errorf("preview %v of a %v image", pb, rb)
	}
	if rb.Dx() <= previewSide {
		r16, _, _, _ := ref.At(rb.Min.X+rb.Dx()/2, rb.Min.Y+rb.Dy()/2).RGBA()
		r8, _, _, _ := pv.At(pb.Dx()/2, pb.Dy()/2).RGBA()
		if r16>>8 != r8>>8 {
			t.Errorf("centre pixel %d, preview %d", r16>>8, r8>>8)
		}
	}
	resp = post(t, ts.URL+"/v1/xraygpt/preview", "not an image")
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("preview of junk: %d", resp.StatusCode)
	}

	// A request, then the metrics show it.
	complete(t, ts.URL, map[string]any{"temperature": 0, "max_tokens": 2, "messages": []any{map[string]any{"role": "user", "content": []any{imagePart(dataURL(t, demoImage, "image/png")), textPart("q")}}}})
	r, _ = http.Get(ts.URL + "/metrics")
	m, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{
		`xraygpt_http_requests_total{path="/v1/chat/completions",status="200"} 1`,
		`xraygpt_http_requests_total{path="/v1/chat/completions",status="503"} 1`,
		`xraygpt_http_requests_total{path="/health",status="503"} 1`,
		`xraygpt_generated_tokens_total 2`,
		"xraygpt_prompt_tokens_total 1",
		"xraygpt_queue_depth 0",
		"xraygpt_slots_busy 0",
		"xraygpt_slots 1",
		`xraygpt_http_request_duration_seconds_count{path="/v1/chat/completions"} 2`,
	} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	s.Drain()
	if got := status("/health"); got != 503 {
		t.Errorf("health while draining: %d", got)
	}
}

func TestPage(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{Vision: "xraygpt-demo-vision"}, engine.SchedulerOptions{}, nil)
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{modelID, "xraygpt-demo-vision", "not a diagnosis", `src="/assets/app.js"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// No external asset: every src/href is local.
	for _, attr := range []string{`src="http`, `href="http`, "//cdn", "@import"} {
		if strings.Contains(string(page), attr) {
			t.Errorf("page refers to %s", attr)
		}
	}
	for _, a := range []string{"/assets/app.js", "/assets/style.css"} {
		resp, err := http.Get(ts.URL + a)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", a, err, resp.Status)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "http://") || strings.Contains(string(b), "https://") {
			t.Errorf("%s refers to another site", a)
		}
	}
}

func TestSlowClientTimeouts(t *testing.T) {
	s := New(Options{})
	hs := s.HTTPServer("127.0.0.1:0")
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.IdleTimeout <= 0 {
		t.Fatalf("timeouts not set: %+v", hs)
	}
	// With a short header timeout, a client that never finishes its headers is cut off.
	hs.ReadHeaderTimeout = 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	defer hs.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /health HTTP/1.1\r\nHost: x\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(conn)
	if err != nil || time.Since(start) > 4*time.Second {
		t.Errorf("slow client not cut off: %v after %s", err, time.Since(start))
	}
}
