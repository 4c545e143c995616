package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/xraygpt-go/xraygpt/engine"
	"github.com/xraygpt-go/xraygpt/imaging"
	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/llama"
)

// statusClientClosed is logged (never sent) when the client went away.
const statusClientClosed = 499

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	rec, _ := w.(*recorder)
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	p, err := parseChatRequest(body)
	if err != nil {
		writeError(w, asAPIError(err))
		return
	}
	body = nil
	if p.Model != "" && p.Model != s.opts.Model {
		writeError(w, unknownModel(p.Model))
		return
	}
	gen := s.opts.Gen
	if p.MaxTokens > s.opts.MaxTokensCap {
		writeError(w, badRequest("max_tokens", "max_tokens=%d: this server allows at most %d", p.MaxTokens, s.opts.MaxTokensCap))
		return
	}
	if p.MaxTokens > 0 {
		gen.MaxTokens = p.MaxTokens
	}
	if p.Temp != nil {
		gen.Temperature = float32(*p.Temp)
	}
	if p.TopP != nil {
		gen.TopP = float32(*p.TopP)
	}
	if p.Seed != nil {
		// The engine reads seed 0 as "random": map it to another fixed value.
		gen.Seed = uint32(*p.Seed)
		if gen.Seed == 0 {
			gen.Seed = 0x5eed
		}
	}
	if len(p.Stop) > 0 {
		gen.Stop = p.Stop
	}
	e, g := s.ready()
	if g == nil {
		writeError(w, loading)
		return
	}
	// Refuse before the vision model runs when no place is left.
	if st := g.Stats(); st.Busy+st.Queued >= st.Capacity {
		writeError(w, s.genError(engine.ErrBusy, false))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	img, err := e.EncodeBytes(ctx, "image", p.Image)
	if err != nil {
		if ctx.Err() != nil {
			w.WriteHeader(statusClientClosed)
			return
		}
		writeError(w, imageError(err))
		return
	}
	req := engine.Request{Image: img, Turns: p.Turns, Gen: gen}
	c := &completion{id: newID(), created: time.Now().Unix(), model: s.opts.Model}
	var ans *engine.Answer
	if p.Stream {
		ans = s.stream(ctx, cancel, w, g, req, c, p.Usage)
	} else {
		ans, err = g.Do(ctx, req)
		if err != nil {
			s.writeGenError(w, r, err)
			return
		}
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeTimeout))
		writeJSON(w, http.StatusOK, c.object(ans))
	}
	if ans != nil {
		s.metrics.prompt.Add(float64(ans.PromptLength))
		if rec != nil {
			rec.tokens = len(ans.Tokens)
		}
	}
}

// imageError maps an image that cannot be read to a 400 naming the problem.
func imageError(err error) *apiError {
	for _, e := range []error{imaging.ErrFormat, imaging.ErrTooLarge, imaging.ErrUnsupported, imaging.ErrCorrupt, fileio.ErrTooLarge} {
		if errors.Is(err, e) {
			return badRequest("messages", "bad image: %v", err)
		}
	}
	return asAPIError(err)
}

// genError maps a generation error to its API error; nil means the client
// went away.
func (s *Server) genError(err error, clientGone bool) *apiError {
	switch {
	case errors.Is(err, engine.ErrBusy):
		return &apiError{Status: http.StatusTooManyRequests, Message: "the server is busy: every slot is generating and the queue is full; retry later", Type: "server_error", Code: "rate_limit_exceeded"}
	case errors.Is(err, engine.ErrPromptTooLong):
		return &apiError{Status: http.StatusBadRequest, Message: "the conversation does not fit in the context window: " + err.Error(), Type: "invalid_request_error", Param: "messages", Code: "context_length_exceeded"}
	case errors.Is(err, engine.ErrClosed):
		return &apiError{Status: http.StatusServiceUnavailable, Message: "the server is shutting down", Type: "server_error", Code: "shutting_down"}
	case clientGone && errors.Is(err, context.Canceled):
		return nil
	}
	s.opts.Log.Printf("internal error: %v", err)
	return asAPIError(err)
}

func (s *Server) writeGenError(w http.ResponseWriter, r *http.Request, err error) {
	ae := s.genError(err, r.Context().Err() != nil)
	if ae == nil {
		w.WriteHeader(statusClientClosed) // nobody reads it; the access log does
		return
	}
	writeError(w, ae)
}

// stream runs req and sends its text as Server-Sent Events. The generation
// does not wait for the client: its text is queued and written here, so a
// slow reader does not hold a slot. The status is sent with the first text,
// so errors before it (429, 400) still get their status.
func (s *Server) stream(ctx context.Context, cancel context.CancelFunc, w http.ResponseWriter, g generator, req engine.Request, c *completion, usage bool) *engine.Answer {
	var (
		mu      sync.Mutex
		pending []string
		notify  = make(chan struct{}, 1)
	)
	req.OnText = func(t string) {
		mu.Lock()
		pending = append(pending, t)
		mu.Unlock()
		select {
		case notify <- struct{}{}:
		default:
		}
	}
	type result struct {
		ans *engine.Answer
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		ans, err := g.Do(ctx, req)
		done <- result{ans, err}
	}()

	rc := http.NewResponseController(w)
	started, failed := false, false
	send := func(v any) {
		if failed {
			return
		}
		b, _ := json.Marshal(v)
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			failed = true
			cancel() // the client is gone: free the slot
		}
	}
	// begin sends the stream's headers and its first (role) event.
	begin := func() {
		started = true
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		send(c.chunk(map[string]any{"role": "assistant", "content": ""}, nil))
	}
	flushText := func() {
		mu.Lock()
		texts := pending
		pending = nil
		mu.Unlock()
		if len(texts) > 0 && !started {
			s.metrics.firstText.Observe(time.Since(start).Seconds())
			begin()
		}
		if len(texts) > 0 { // one event for what arrived since the last flush
			send(c.chunk(map[string]any{"content": strings.Join(texts, "")}, nil))
		}
		if started && !failed {
			rc.Flush()
		}
	}
	for {
		select {
		case <-notify:
			flushText()
			continue
		case res := <-done:
			flushText()
			if res.err != nil {
				ae := s.genError(res.err, ctx.Err() != nil)
				switch {
				case ae == nil:
					if !started {
						w.WriteHeader(statusClientClosed)
					}
				case !started:
					writeError(w, ae)
				default:
					send(ae.body())
					rc.Flush()
				}
				return nil
			}
			if !started {
				begin()
			}
			reason := finishReason(res.ans.Stop)
			send(c.chunk(map[string]any{}, &reason))
			if usage {
				u := c.base("chat.completion.chunk")
				u["choices"] = []any{}
				u["usage"] = usageOf(res.ans)
				send(u)
			}
			if !failed {
				rc.SetWriteDeadline(time.Now().Add(writeTimeout))
				fmt.Fprint(w, "data: [DONE]\n\n")
				rc.Flush()
			}
			return res.ans
		}
	}
}

// completion holds what every object of one answer shares.
type completion struct {
	id      string
	created int64
	model   string
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "chatcmpl-" + hex.EncodeToString(b)
}

func (c *completion) base(object string) map[string]any {
	return map[string]any{"id": c.id, "object": object, "created": c.created, "model": c.model, "system_fingerprint": nil}
}

func (c *completion) chunk(delta map[string]any, finish *string) map[string]any {
	m := c.base("chat.completion.chunk")
	var f any
	if finish != nil {
		f = *finish
	}
	m["choices"] = []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": f}}
	return m
}

func (c *completion) object(ans *engine.Answer) map[string]any {
	m := c.base("chat.completion")
	m["choices"] = []any{map[string]any{
		"index":         0,
		"message":       map[string]any{"role": "assistant", "content": ans.Text, "refusal": nil},
		"logprobs":      nil,
		"finish_reason": finishReason(ans.Stop),
	}}
	m["usage"] = usageOf(ans)
	return m
}

func usageOf(ans *engine.Answer) map[string]int {
	n := len(ans.Tokens)
	return map[string]int{"prompt_tokens": ans.PromptLength, "completion_tokens": n, "total_tokens": ans.PromptLength + n}
}

func finishReason(r llama.StopReason) string {
	if r == llama.StopMaxTokens || r == llama.StopContextFull {
		return "length"
	}
	return "stop"
}
