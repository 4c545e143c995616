// Package server serves XrayGPT over HTTP: an OpenAI-compatible chat
// completions API (images as data: URLs, streaming by Server-Sent Events), a
// health check, Prometheus metrics and an embedded web page for
// radiologists, all on one engine whose slots the requests share.
package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/xraygpt-go/xraygpt/engine"
)

// Options configure a Server. The zero value serves without a key, with a
// 32 MiB body limit and XrayGPT's demo sampling defaults.
type Options struct {
	// APIKey, when set, is required on /v1/ and /metrics as
	// "Authorization: Bearer KEY" or "X-Api-Key: KEY".
	APIKey string
	// MaxBody bounds a request body in bytes (413 beyond); 0: 32 MiB.
	MaxBody int64
	// CORSOrigin, when set, is the origin ("*" for any) allowed to call the
	// API from a browser page served elsewhere.
	CORSOrigin string
	// Gen holds the sampling defaults of requests; when MaxTokens,
	// Temperature, TopK and TopP are all zero: engine.DefaultGenerateOptions.
	Gen engine.GenerateOptions
	// MaxTokensCap is the most new tokens a request may ask for; 0: 1024.
	MaxTokensCap int
	// Model and Vision name the loaded models (the id clients send, and the
	// vision model shown with it).
	Model, Vision string
	// Log receives one access line per request, and internal errors; nil:
	// discarded. Request contents (images, questions, answers) are never
	// logged.
	Log *log.Logger
}

// writeTimeout bounds each write to a client.
const writeTimeout = 30 * time.Second

// Server answers the HTTP API. Create it with New, serve it with the
// http.Server of HTTPServer, and give it the engine with SetEngine once the
// models are loaded.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	metrics *metrics

	mu       sync.RWMutex
	engine   *engine.Engine
	gen      generator // nil while loading
	sched    *engine.Scheduler
	draining bool
}

// New returns a server that answers /health with 503 until SetEngine.
func New(opts Options) *Server {
	if opts.MaxBody <= 0 {
		opts.MaxBody = 32 << 20
	}
	if opts.Gen.MaxTokens == 0 && opts.Gen.TopP == 0 && opts.Gen.Temperature == 0 && opts.Gen.TopK == 0 {
		opts.Gen = engine.DefaultGenerateOptions()
	}
	if opts.MaxTokensCap <= 0 {
		opts.MaxTokensCap = 1024
	}
	opts.Gen.MaxTokens = min(opts.Gen.MaxTokens, opts.MaxTokensCap)
	if opts.Log == nil {
		opts.Log = log.New(io.Discard, "", 0)
	}
	if opts.Model == "" {
		opts.Model = "xraygpt"
	}
	s := &Server{opts: opts}
	s.metrics = newMetrics(s.stats)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.auth(s.chatCompletions))
	mux.HandleFunc("GET /v1/models", s.auth(s.models))
	mux.HandleFunc("GET /v1/models/{id}", s.auth(s.model))
	mux.HandleFunc("POST /v1/xraygpt/preview", s.auth(s.preview))
	mux.HandleFunc("GET /health", s.health)
	mux.Handle("GET /metrics", s.auth(s.metrics.handler().ServeHTTP))
	mux.HandleFunc("GET /{$}", s.page)
	mux.Handle("GET /assets/", assets())
	// The API's routes with another method: 405 in the API's error shape.
	for path, allow := range map[string]string{
		"/v1/chat/completions": "POST", "/v1/models": "GET", "/v1/models/{id}": "GET",
		"/v1/xraygpt/preview": "POST", "/health": "GET", "/metrics": "GET",
	} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Message: fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, allow), Type: "invalid_request_error", Code: "method_not_allowed"})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("no route %s %s", r.Method, r.URL.Path), Type: "invalid_request_error", Code: "not_found"})
	})
	s.mux = mux
	return s
}

// SetEngine starts serving requests on e through a scheduler made with
// opts (its Slots generate at once, its Queue more wait; zeros take
// engine.SchedulerOptions' defaults).
func (s *Server) SetEngine(e *engine.Engine, opts engine.SchedulerOptions) error {
	sched, err := e.NewScheduler(opts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.engine, s.gen, s.sched = e, sched, sched
	s.mu.Unlock()
	return nil
}

// Drain makes /health answer 503 so that a load balancer stops sending
// requests; the ones in flight go on.
func (s *Server) Drain() {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
}

// Close stops the scheduler (requests still running end with an error);
// call it after the HTTP server has shut down. The engine stays open.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen = nil
	if s.sched != nil {
		err := s.sched.Close()
		s.sched = nil
		return err
	}
	return nil
}

// ready returns the engine and the scheduler, or nil while loading.
func (s *Server) ready() (*engine.Engine, generator) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.engine, s.gen
}

func (s *Server) stats() engine.SchedulerStats {
	if _, g := s.ready(); g != nil {
		return g.Stats()
	}
	return engine.SchedulerStats{}
}

// HTTPServer returns an http.Server for addr with the server's timeouts: a
// slow client cannot hold a connection (or a slot) for long.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second, // the whole request, body included; cleared once read
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          s.opts.Log,
	}
}

// handler is the server's HTTP handler: the routes behind the access log,
// metrics and CORS.
func (s *Server) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		s.cors(rec, r)
		if r.Method == http.MethodOptions && s.opts.CORSOrigin != "" {
			rec.WriteHeader(http.StatusNoContent)
		} else {
			s.mux.ServeHTTP(rec, r)
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		d := time.Since(start)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "other"
		} else if _, path, ok := strings.Cut(route, " "); ok {
			route = path
		}
		s.metrics.observe(route, rec.status, d.Seconds())
		// Never the body, the query or headers: they may hold patient data or keys.
		s.opts.Log.Printf("%s %s %d %s tokens=%d", r.Method, route, rec.status, d.Round(time.Millisecond), rec.tokens)
	})
}

// recorder keeps the status and the tokens of a request for the access log.
type recorder struct {
	http.ResponseWriter
	status int
	tokens int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if s.opts.CORSOrigin == "" || origin == "" {
		return
	}
	if s.opts.CORSOrigin != "*" && origin != s.opts.CORSOrigin {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", s.opts.CORSOrigin)
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key")
		h.Set("Access-Control-Max-Age", "600")
	}
}

// auth requires the API key, when one is set, compared in constant time.
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	if s.opts.APIKey == "" {
		return next
	}
	want := sha256.Sum256([]byte(s.opts.APIKey))
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Api-Key")
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, token, _ := strings.Cut(h, " ")
			if strings.EqualFold(scheme, "Bearer") {
				key = strings.TrimSpace(token)
			}
		}
		// Hashing first makes the comparison independent of the lengths.
		got := sha256.Sum256([]byte(key))
		if key == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			msg := "missing API key: send Authorization: Bearer KEY or X-Api-Key: KEY"
			if key != "" {
				msg = "incorrect API key"
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="xraygpt"`)
			writeError(w, &apiError{Status: http.StatusUnauthorized, Message: msg, Type: "invalid_request_error", Code: "invalid_api_key"})
			return
		}
		next(w, r)
	}
}

// readBody reads a request body up to the limit (413 beyond).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := &apiError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", s.opts.MaxBody), Type: "invalid_request_error", Code: "request_too_large"}
	if r.ContentLength > s.opts.MaxBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil:
		return nil, &apiError{Status: http.StatusBadRequest, Message: "reading the request body failed", Type: "invalid_request_error"}
	}
	// The body is in: a long answer must not hit the read deadline.
	http.NewResponseController(w).SetReadDeadline(time.Time{})
	return body, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, e.Status, e.body())
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	ready, draining := s.gen != nil, s.draining
	s.mu.RUnlock()
	switch {
	case draining:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
	case !ready:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "loading"})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// modelObject is an entry of /v1/models.
func (s *Server) modelObject() map[string]any {
	return map[string]any{
		"id": s.opts.Model, "object": "model", "created": 0, "owned_by": "xraygpt",
		"capabilities": []string{"chat", "vision"}, "vision_model": s.opts.Vision,
	}
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{s.modelObject()}})
}

func (s *Server) model(w http.ResponseWriter, r *http.Request) {
	if id := r.PathValue("id"); id != s.opts.Model {
		writeError(w, unknownModel(id))
		return
	}
	writeJSON(w, http.StatusOK, s.modelObject())
}

func unknownModel(id string) *apiError {
	return &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("model %q does not exist here (GET /v1/models lists the one served)", id),
		Type: "invalid_request_error", Param: "model", Code: "model_not_found"}
}

// loading is the answer while the models load.
var loading = &apiError{Status: http.StatusServiceUnavailable, Message: "the model is still loading", Type: "server_error", Code: "model_loading"}

// Busy reports whether a request is generating or waiting for a slot.
func (s *Server) Busy() bool {
	st := s.stats()
	return st.Busy+st.Queued > 0
}
