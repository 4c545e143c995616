package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"io"
	"sync"
	"time"

	"github.com/xraygpt-go/xraygpt/imaging"
	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/internal/timing"
	"github.com/xraygpt-go/xraygpt/llama"
	"github.com/xraygpt-go/xraygpt/vision"
)

// Sentinel errors callers can branch on.
var (
	// ErrWidthMismatch means the vision model's soft tokens do not have the
	// language model's embedding width.
	ErrWidthMismatch = errors.New("vision output width does not match the language model")
	// ErrNotLLaMA means the language model file is not a LLaMA-architecture model.
	ErrNotLLaMA = errors.New("not a LLaMA model")
	// ErrPromptTooLong means even the shortest form of the conversation does
	// not fit in the context window.
	ErrPromptTooLong = errors.New("prompt does not fit in the context window")
)

// Options configures Open. The zero value of every field but the two paths
// is a good default.
type Options struct {
	ModelPath  string // language model GGUF (LLaMA/Vicuna)
	VisionPath string // vision model GGUF (encoder + projector)

	GPULayers   int  // layers to offload to a GPU; -1 all
	NoMmap      bool // read the language model into memory instead of mapping it
	Threads     int  // 0: one per CPU
	ContextSize int  // 0: DefaultContextSize
	BatchSize   int  // 0: 512
	// ImageCache is how many images' soft tokens are kept; 0 means 16.
	ImageCache int
	// Progress, when set, is told how far loading the language model is.
	Progress func(fraction float32)
	// Vision tunes the vision encoder (BLAS implementation, threads).
	Vision vision.Options
	// PromptCacheDir, when set, is a folder where the KV state of XrayGPT's
	// fixed system prompt is kept between processes (see the prompt cache
	// in promptcache.go); "" decodes it in every process.
	PromptCacheDir string
	// Warn, when set, receives problems the engine worked around (a stale
	// or corrupt prompt cache file).
	Warn func(msg string)
}

// DefaultContextSize is XrayGPT's max_length (2000) rounded up to a multiple
// of 256, the size llama.cpp's KV cache pads to.
const DefaultContextSize = 2048

// GenerateOptions are the sampling settings of an answer. The zero value is
// not XrayGPT's default; start from DefaultGenerateOptions.
type GenerateOptions struct {
	MaxTokens     int     // most new tokens
	Temperature   float32 // <= 0: greedy
	TopK          int     // 0: off
	TopP          float32 // 0 or 1: off
	MinP          float32 // 0: off
	RepeatPenalty float32 // 1: off
	Seed          uint32  // 0: random
	// Stop lists stop strings besides XrayGPT's "###".
	Stop []string
}

// DefaultGenerateOptions returns the XrayGPT demo's settings: up to 300 new
// tokens, top-p 0.9, temperature 1.0, no repetition penalty, and top-k 50,
// the Hugging Face default that applies since the demo does not set it.
func DefaultGenerateOptions() GenerateOptions {
	return GenerateOptions{MaxTokens: 300, Temperature: 1, TopK: 50, TopP: 0.9, RepeatPenalty: 1}
}

// maxTokens is MaxTokens, or the default's when it is not positive.
func (g GenerateOptions) maxTokens() int {
	if g.MaxTokens > 0 {
		return g.MaxTokens
	}
	return DefaultGenerateOptions().MaxTokens
}

func (g GenerateOptions) sampler() llama.SamplerOptions {
	return llama.SamplerOptions{
		Temperature: g.Temperature, TopK: g.TopK, TopP: g.TopP, MinP: g.MinP,
		RepeatPenalty: g.RepeatPenalty, Seed: g.Seed,
	}
}

// Timings of one answer and of loading.
type Timings struct {
	Load            time.Duration // loading both models (Engine-wide)
	Vision          time.Duration // encoding the image; 0 when it came from the cache
	PromptTokens    int           // positions decoded for this turn (text and soft tokens)
	CachedTokens    int           // prompt positions taken from the KV cache instead
	Prompt          time.Duration // decoding them
	GeneratedTokens int
	Generate        time.Duration
	// DraftTokens counts the draft tokens proposed for this answer by
	// speculative decoding, DraftAccepted those the model confirmed.
	DraftTokens, DraftAccepted int
}

// PromptTokensPerSecond is the prompt processing speed.
func (t Timings) PromptTokensPerSecond() float64 { return timing.PerSecond(t.PromptTokens, t.Prompt) }

// TokensPerSecond is the generation speed.
func (t Timings) TokensPerSecond() float64 { return timing.PerSecond(t.GeneratedTokens, t.Generate) }

// String formats the timings for --verbose output.
func (t Timings) String() string {
	return fmt.Sprintf("load %s, vision %s, prompt %d tokens in %s (%.1f tok/s), generation %d tokens in %s (%.1f tok/s), %d prompt positions from the cache",
		t.Load.Round(time.Millisecond), t.Vision.Round(time.Millisecond),
		t.PromptTokens, t.Prompt.Round(time.Millisecond), t.PromptTokensPerSecond(),
		t.GeneratedTokens, t.Generate.Round(time.Millisecond), t.TokensPerSecond(), t.CachedTokens) + t.drafts()
}

// drafts formats the speculative decoding counts, when there were drafts.
func (t Timings) drafts() string {
	if t.DraftTokens == 0 {
		return ""
	}
	return fmt.Sprintf(", %d of %d draft tokens accepted", t.DraftAccepted, t.DraftTokens)
}

// Image is an image turned into soft tokens.
type Image struct {
	Path   string
	Hash   [32]byte  // SHA-256 of the file's bytes
	Rows   int       // number of soft tokens
	Width  int       // their width, the language model's n_embd
	Tokens []float32 // Rows x Width, row-major
	// Vision is how long encoding took (0 when it came from the cache).
	Vision time.Duration
	// Warnings the decoder had (e.g. a multi-frame DICOM file, first frame read).
	Warnings []string
}

// Engine holds the two models. Its methods are safe for concurrent use;
// each Chat is for one goroutine.
type Engine struct {
	opts   Options
	llm    *llama.Model
	vis    *vision.Model
	load   time.Duration
	mu     sync.Mutex // guards cache and closed
	cache  map[[32]byte]*Image
	order  [][32]byte // cache keys, oldest first
	closed bool
}

// Open loads the language and vision models and checks that they fit
// together.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if opts.ModelPath == "" || opts.VisionPath == "" {
		return nil, errors.New("open engine: both a language model and a vision model are needed")
	}
	start := time.Now()
	mopts := llama.ModelOptions{GPULayers: opts.GPULayers, NoMmap: opts.NoMmap}
	if opts.Progress != nil {
		mopts.Progress = func(f float32) bool { opts.Progress(f); return ctx.Err() == nil }
	}
	// The two models load at once: llama.cpp reads and repacks its
	// weights on one thread while the vision weights are packed on the
	// others.
	type visionResult struct {
		m   *vision.Model
		err error
	}
	visDone := make(chan visionResult, 1)
	go func() {
		m, err := vision.Open(opts.VisionPath, opts.Vision)
		visDone <- visionResult{m, err}
	}()
	llm, err := llama.LoadModel(opts.ModelPath, mopts)
	vr := <-visDone
	vis := vr.m
	if err == nil && llm.Arch() != "llama" {
		err = fmt.Errorf("language model %s: architecture %q: %w", opts.ModelPath, llm.Arch(), ErrNotLLaMA)
		llm.Close()
	} else if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		} else {
			err = fmt.Errorf("language model: %w", err)
		}
	}
	if err == nil && vr.err != nil {
		llm.Close()
		err = fmt.Errorf("vision model: %w", vr.err)
	}
	if err != nil {
		if vis != nil {
			vis.Close()
		}
		return nil, err
	}
	if vis.Config.Projector.Out == 0 {
		vis.Close()
		llm.Close()
		return nil, fmt.Errorf("vision model %s has no projector to the language model's width (convert it with --proj)", opts.VisionPath)
	}
	if w := vis.Config.Projector.Out; w != llm.NEmbd() {
		vis.Close()
		llm.Close()
		return nil, fmt.Errorf("vision model %s makes soft tokens of width %d, language model %s has n_embd %d: %w",
			opts.VisionPath, w, opts.ModelPath, llm.NEmbd(), ErrWidthMismatch)
	}
	if opts.ImageCache == 0 {
		opts.ImageCache = 16
	}
	return &Engine{opts: opts, llm: llm, vis: vis, load: time.Since(start), cache: map[[32]byte]*Image{}}, nil
}

// flashAttention chooses llama.cpp's attention kernels for a scheduler's
// context: off for speculative decoding (draft > 0) when the language model
// runs on the CPU, where ggml's flash-attention kernel works through the
// cache one query row at a time: a step of 8 tokens, as drafting verifies,
// costs 4.9x a step of 1 with it on the demo model and 1.8x without
// (llama's BenchmarkVerify; on the 7B shape, whose steps are dominated by
// the repacked weights' GEMM, 3.65x on and 3.76x off). llama.cpp's choice (on) otherwise:
// without it the compute buffer holds a prompt batch's attention scores,
// n_batch x n_ctx floats per head (128 MiB more for a 7B model at the
// default context), and single steps gain nothing consistent.
func (e *Engine) flashAttention(draft int) llama.FlashAttention {
	if draft > 0 && e.opts.GPULayers == 0 {
		return llama.FlashOff
	}
	return llama.FlashAuto
}

// Close releases both models. It is safe to call more than once.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	err := e.vis.Close()
	if err2 := e.llm.Close(); err == nil {
		err = err2
	}
	return err
}

func (e *Engine) warn(msg string) {
	if e.opts.Warn != nil {
		e.opts.Warn(msg)
	}
}

// LoadTime is how long Open took.
func (e *Engine) LoadTime() time.Duration { return e.load }

// LanguageModel returns the loaded language model.
func (e *Engine) LanguageModel() *llama.Model { return e.llm }

// VisionPath is the vision model's file.
func (e *Engine) VisionPath() string { return e.opts.VisionPath }

// VisionModel returns the loaded vision model.
func (e *Engine) VisionModel() *vision.Model { return e.vis }

// maxImageFile bounds the size of one image file.
const maxImageFile = 1 << 30

// EncodeFile reads an image file (PNG, JPEG or DICOM) and returns its soft
// tokens, from the cache when the same bytes were encoded before. Anything
// but a regular file is refused without blocking (a named pipe would block
// forever), and the file is decoded through imaging's limits (the header is
// checked before pixel memory is allocated). The decoder's warnings are in
// Image.Warnings. The Image returned is shared with the cache: treat it as
// read-only.
func (e *Engine) EncodeFile(ctx context.Context, path string) (*Image, error) {
	f, err := fileio.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if st.Size() > maxImageFile {
		return nil, fmt.Errorf("image %s: %d bytes, more than the limit of %d: %w", path, st.Size(), maxImageFile, fileio.ErrTooLarge)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxImageFile+1)); err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	var hash [32]byte
	h.Sum(hash[:0])
	if img := e.cached(hash); img != nil {
		return withPath(img, path), nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	img, err := e.encodeReader(ctx, io.LimitReader(f, maxImageFile), hash)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	return withPath(img, path), nil
}

// EncodeBytes is EncodeFile for an image already in memory (an upload);
// name is used in errors and as the Image's Path.
func (e *Engine) EncodeBytes(ctx context.Context, name string, data []byte) (*Image, error) {
	if len(data) > maxImageFile {
		return nil, fmt.Errorf("image %s: %d bytes, more than the limit of %d: %w", name, len(data), maxImageFile, fileio.ErrTooLarge)
	}
	hash := sha256.Sum256(data)
	if img := e.cached(hash); img != nil {
		return withPath(img, name), nil
	}
	img, err := e.encodeReader(ctx, bytes.NewReader(data), hash)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	return withPath(img, name), nil
}

// withPath returns a copy of a cached image under another path; the soft
// tokens are shared, never written.
func withPath(img *Image, path string) *Image {
	c := *img
	c.Path = path
	return &c
}

// encodeReader decodes and encodes an image and stores it in the cache.
func (e *Engine) encodeReader(ctx context.Context, r io.Reader, hash [32]byte) (*Image, error) {
	var warnings []string
	decoded, err := imaging.Limits{Warn: func(w string) { warnings = append(warnings, w) }}.Decode(r)
	if err != nil {
		return nil, err
	}
	img, err := e.encode(ctx, decoded)
	if err != nil {
		return nil, err
	}
	img.Hash, img.Warnings = hash, warnings
	return e.store(img), nil
}

// EncodeImage returns the soft tokens of a decoded image (not cached).
func (e *Engine) EncodeImage(ctx context.Context, img image.Image) (*Image, error) {
	return e.encode(ctx, img)
}

// encode runs the vision model, which serializes concurrent calls itself
// (it reuses its activation buffers).
func (e *Engine) encode(ctx context.Context, img image.Image) (*Image, error) {
	start := time.Now()
	t, err := e.vis.EncodeImage(ctx, img)
	if err != nil {
		return nil, err
	}
	return &Image{Rows: t.Rows, Width: t.Cols, Tokens: t.Data, Vision: time.Since(start)}, nil
}

func (e *Engine) cached(h [32]byte) *Image {
	e.mu.Lock()
	defer e.mu.Unlock()
	if img := e.cache[h]; img != nil {
		c := *img
		c.Vision = 0 // this request did not encode it
		return &c
	}
	return nil
}

// store adds img to the cache, or returns the copy another goroutine stored
// first. Cached images are never modified.
func (e *Engine) store(img *Image) *Image {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.cache[img.Hash]; ok {
		return img
	}
	if len(e.order) >= e.opts.ImageCache {
		delete(e.cache, e.order[0])
		e.order = e.order[1:]
	}
	e.cache[img.Hash] = img
	e.order = append(e.order, img.Hash)
	c := *img
	return &c
}

// Answer is the result of one turn.
type Answer struct {
	Text    string
	Tokens  []llama.Token
	Stop    llama.StopReason
	Timings Timings
	// DroppedTurns counts old turns removed to fit the context so far.
	DroppedTurns int
	// PromptLength is the whole prompt's positions (system prompt, image,
	// conversation), decoded or taken from the cache.
	PromptLength int
}
