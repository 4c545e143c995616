package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/xraygpt-go/xraygpt/engine/enginetest"
	"github.com/xraygpt-go/xraygpt/llama"
)

// The end-to-end reference: testdata/gen_e2e.py writes a tiny Hugging Face
// LLaMA folder (SentencePiece tokenizer trained on IU X-ray reports), tiny
// EVA/Q-Former/llama_proj checkpoints with the real key layout, and what
// PyTorch computes for XrayGPT's whole path on testdata/e2e_image.png
// (prompt token ids, soft tokens, logits, greedy tokens, margins). Regenerate:
//
//	/usr/bin/python3 engine/testdata/gen_e2e.py
type reference struct {
	System, Question string
	Image            string
	Segments         []string
	SegmentIDs       [][]llama.Token `json:"segment_ids"`
	NSoft            int             `json:"n_soft"`
	Hidden           int
	Vocab            int
	SoftTokens       fileRef       `json:"soft_tokens"`
	Logits0          fileRef       `json:"logits0"`
	GeneratedIDs     []llama.Token `json:"generated_ids"`
	Margins          []float64
	Turn2            struct {
		Question     string
		GeneratedIDs []llama.Token `json:"generated_ids"`
	}
	Turn2Retokenized struct {
		Segments     []string
		SegmentIDs   [][]llama.Token `json:"segment_ids"`
		GeneratedIDs []llama.Token   `json:"generated_ids"`
		Margins      []float64
	} `json:"turn2_retokenized"`
	TokenizerCases []struct {
		Text string
		IDs  []llama.Token
	} `json:"tokenizer_cases"`
}

type fileRef struct {
	File  string
	Shape []int
}

func (f fileRef) load(t *testing.T) []float32 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", f.File))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

var fixture struct {
	once              sync.Once
	dir, llm, visPath string
	err               error
}

// models converts the reference checkpoints with our converters (f32), once.
func models(t *testing.T) (llm, vis string) {
	t.Helper()
	fixture.once.Do(func() {
		if fixture.dir, fixture.err = os.MkdirTemp("", "xraygpt-engine-test"); fixture.err == nil {
			fixture.llm, fixture.visPath, fixture.err = enginetest.Convert(context.Background(), fixture.dir)
		}
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.llm, fixture.visPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.dir != "" {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

func loadReference(t *testing.T) *reference {
	t.Helper()
	b, err := os.ReadFile("testdata/e2e.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return &ref
}

func openTestEngine(t *testing.T) *Engine {
	t.Helper()
	llm, vis := models(t)
	e, err := Open(context.Background(), Options{ModelPath: llm, VisionPath: vis, ContextSize: 512, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func greedy(max int) GenerateOptions {
	return GenerateOptions{MaxTokens: max, Temperature: 0, RepeatPenalty: 1}
}

// TestPromptTokensMatchSentencePiece: our template text, tokenized by
// llama.cpp from the converted GGUF, gives SentencePiece's ids.
func TestPromptTokensMatchSentencePiece(t *testing.T) {
	ref := loadReference(t)
	e := openTestEngine(t)
	c := NewConversation()
	c.Ask(ref.Question)
	before, after := c.Prompt()
	if before != ref.Segments[0] || after != ref.Segments[1] {
		t.Fatalf("template text differs from XrayGPT's:\n got %q | %q\nwant %q | %q", before, after, ref.Segments[0], ref.Segments[1])
	}
	check := func(name, text string, bos bool, want []llama.Token) {
		got, err := e.llm.Tokenize(text, bos, false)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s %q:\n got %v\nwant %v", name, text, got, want)
		}
	}
	check("segment 0", before, true, ref.SegmentIDs[0])
	check("segment 1", after, false, ref.SegmentIDs[1])
	check("turn-2 segment 1", ref.Turn2Retokenized.Segments[1], false, ref.Turn2Retokenized.SegmentIDs[1])
	for _, tc := range ref.TokenizerCases {
		check("case", tc.Text, false, tc.IDs)
	}
}

// TestSoftTokensMatchPyTorch: image file -> Go preprocessing, encoders and
// projector -> soft tokens, against PyTorch's.
func TestSoftTokensMatchPyTorch(t *testing.T) {
	ref := loadReference(t)
	e := openTestEngine(t)
	img, err := e.EncodeFile(context.Background(), filepath.Join("testdata", ref.Image))
	if err != nil {
		t.Fatal(err)
	}
	want := ref.SoftTokens.load(t)
	if img.Rows != ref.NSoft || img.Width != ref.Hidden || len(img.Tokens) != len(want) {
		t.Fatalf("soft tokens %dx%d, want %dx%d", img.Rows, img.Width, ref.NSoft, ref.Hidden)
	}
	scale, maxErr := 0.0, 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		maxErr = math.Max(maxErr, math.Abs(float64(img.Tokens[i]-want[i])))
	}
	t.Logf("soft tokens: max abs error %.3g, scale %.3g", maxErr, scale)
	if maxErr > 1e-4*scale {
		t.Errorf("soft tokens differ from PyTorch by %.3g (scale %.3g)", maxErr, scale)
	}
	// The second request for the same bytes comes from the cache.
	again, err := e.EncodeFile(context.Background(), filepath.Join("testdata", ref.Image))
	if err != nil || again.Vision != 0 || &again.Tokens[0] != &img.Tokens[0] {
		t.Errorf("second encode of the same image was not served from the cache (err %v, vision %v)", err, again.Vision)
	}
}

// TestGreedyMatchesPyTorch: the whole path, image file to generated token
// ids, against PyTorch's greedy decode.
func TestGreedyMatchesPyTorch(t *testing.T) {
	ref := loadReference(t)
	e := openTestEngine(t)
	chat := imageChat(t, e, ref)
	ans, err := chat.Ask(context.Background(), ref.Question, greedy(len(ref.GeneratedIDs)), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := matching(ans.Tokens, ref.GeneratedIDs)
	t.Logf("turn 1: %d of %d greedy tokens match PyTorch", n, len(ref.GeneratedIDs))
	if n < 16 {
		t.Errorf("turn 1: only the first %d tokens match\n got %v\nwant %v", n, ans.Tokens, ref.GeneratedIDs)
	}
	if ans.Timings.PromptTokens != len(ref.SegmentIDs[0])+ref.NSoft+len(ref.SegmentIDs[1]) {
		t.Errorf("decoded %d prompt positions, want %d", ans.Timings.PromptTokens, len(ref.SegmentIDs[0])+ref.NSoft+len(ref.SegmentIDs[1]))
	}
}

// TestTurnTwoMatchesPyTorch feeds XrayGPT's re-tokenized turn-2 prompt (as
// PyTorch built it) with our soft tokens and compares the greedy tokens.
func TestTurnTwoMatchesPyTorch(t *testing.T) {
	ref := loadReference(t)
	e := openTestEngine(t)
	img, err := e.EncodeFile(context.Background(), filepath.Join("testdata", ref.Image))
	if err != nil {
		t.Fatal(err)
	}
	lctx, err := llama.NewContext(e.llm, llama.ContextOptions{NCtx: 512, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer lctx.Close()
	r := ref.Turn2Retokenized
	g, err := lctx.Generate(context.Background(), []llama.Input{
		llama.TokenInput(r.SegmentIDs[0]), llama.EmbeddingInput(img.Tokens, img.Width), llama.TokenInput(r.SegmentIDs[1]),
	}, llama.GenerateOptions{MaxTokens: len(r.GeneratedIDs)})
	if err != nil {
		t.Fatal(err)
	}
	n := matching(g.Tokens, r.GeneratedIDs)
	t.Logf("turn 2: %d of %d greedy tokens match PyTorch", n, len(r.GeneratedIDs))
	if n < 16 {
		t.Errorf("turn 2: only the first %d tokens match\n got %v\nwant %v", n, g.Tokens, r.GeneratedIDs)
	}
}

// TestLogitsMatchPyTorch compares the first step's logits with the
// reference soft tokens spliced in, which isolates the language model.
func TestLogitsMatchPyTorch(t *testing.T) {
	ref := loadReference(t)
	e := openTestEngine(t)
	lctx, err := llama.NewContext(e.llm, llama.ContextOptions{NCtx: 512, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer lctx.Close()
	soft := ref.SoftTokens.load(t)
	if err := lctx.Decode(context.Background(), llama.TokenInput(ref.SegmentIDs[0]), llama.EmbeddingInput(soft, ref.Hidden), llama.TokenInput(ref.SegmentIDs[1])); err != nil {
		t.Fatal(err)
	}
	got, err := lctx.Logits(lctx.Pos(0) - 1)
	if err != nil {
		t.Fatal(err)
	}
	want := ref.Logits0.load(t)
	scale, maxErr := 0.0, 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		maxErr = math.Max(maxErr, math.Abs(float64(got[i]-want[i])))
	}
	t.Logf("logits: max abs error %.3g, scale %.3g", maxErr, scale)
	// llama.cpp keeps the KV cache in f16 (PyTorch in f32): ~1e-3 relative.
	if maxErr > 5e-3*scale {
		t.Errorf("logits differ from PyTorch by %.3g (scale %.3g)", maxErr, scale)
	}
}

// TestMultiTurnCacheEqualsFreshDecode: turn 2 appended through the KV cache
// gives what a fresh chat decoding the whole conversation gives.
func TestMultiTurnCacheEqualsFreshDecode(t *testing.T) {
	ref := loadReference(t)
	e := openTestEngine(t)
	ctx := context.Background()
	img, err := e.EncodeFile(ctx, filepath.Join("testdata", ref.Image))
	if err != nil {
		t.Fatal(err)
	}
	cached, err := e.NewChat()
	if err != nil {
		t.Fatal(err)
	}
	defer cached.Close()
	cached.SetImage(img)
	if _, err := cached.Ask(ctx, ref.Question, greedy(24), nil); err != nil {
		t.Fatal(err)
	}
	a2, err := cached.Ask(ctx, ref.Turn2.Question, greedy(24), nil)
	if err != nil {
		t.Fatal(err)
	}
	full := len(ref.SegmentIDs[0]) + img.Rows
	if a2.Timings.PromptTokens >= full {
		t.Errorf("turn 2 decoded %d positions: the system prompt and image (%d) were decoded again", a2.Timings.PromptTokens, full)
	}

	fresh, err := e.NewChat()
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	fresh.SetImage(img)
	fresh.conv.Turns = []Turn{{Question: ref.Question, Answer: cached.conv.Turns[0].Answer}}
	f2, err := fresh.Ask(ctx, ref.Turn2.Question, greedy(24), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a2.Tokens, f2.Tokens) || a2.Text != f2.Text {
		t.Errorf("turn 2 through the cache differs from a fresh decode:\ncache %v %q\nfresh %v %q", a2.Tokens, a2.Text, f2.Tokens, f2.Text)
	}
	if f2.Timings.PromptTokens <= full {
		t.Errorf("the fresh chat decoded only %d positions", f2.Timings.PromptTokens)
	}
}

// TestContextOverflowDropsOldTurns fills a small context and checks that
// old turns are dropped while the image stays.
func TestContextOverflowDropsOldTurns(t *testing.T) {
	ref := loadReference(t)
	llm, vis := models(t)
	e, err := Open(context.Background(), Options{ModelPath: llm, VisionPath: vis, ContextSize: 256, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() }) // after the chat's cleanup
	chat := imageChat(t, e, ref)
	dropped := 0
	for i := 0; i < 6; i++ {
		ans, err := chat.Ask(context.Background(), "Is there any pleural effusion on the left side?", greedy(16), nil)
		if err != nil {
			t.Fatalf("turn %d: %v", i, err)
		}
		dropped = ans.DroppedTurns
	}
	if dropped == 0 {
		t.Error("six turns in a 256-token context dropped no turn")
	}
	before, _ := chat.conv.Prompt()
	if !strings.HasPrefix(before, SystemPrompt) {
		t.Error("the system prompt was dropped")
	}
	long := strings.Repeat("effusion ", 400)
	if _, err := chat.Ask(context.Background(), long, greedy(16), nil); !errors.Is(err, ErrPromptTooLong) {
		t.Errorf("a question longer than the context: %v", err)
	}
	if _, err := chat.Ask(context.Background(), "  ", greedy(16), nil); !errors.Is(err, ErrEmptyQuestion) {
		t.Errorf("empty question: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	llm, vis := models(t)
	ctx := context.Background()
	if _, err := Open(ctx, Options{ModelPath: vis, VisionPath: vis}); err == nil {
		t.Error("a vision file as the language model: no error")
	}
	if _, err := Open(ctx, Options{ModelPath: llm, VisionPath: llm}); err == nil {
		t.Error("a language model as the vision file: no error")
	}
	if _, err := Open(ctx, Options{ModelPath: llm, VisionPath: filepath.Join(t.TempDir(), "missing.gguf")}); err == nil || !strings.Contains(err.Error(), "missing.gguf") {
		t.Errorf("missing vision file: %v", err)
	}
	e := openTestEngine(t)
	bad := filepath.Join(t.TempDir(), "notes.png")
	os.WriteFile(bad, []byte("this is not an image"), 0o644)
	if _, err := e.EncodeFile(ctx, bad); err == nil || !strings.Contains(err.Error(), "notes.png") {
		t.Errorf("a text file as an image: %v", err)
	}
}

// imageChat opens a chat on e about the reference image; the test closes it.
func imageChat(t *testing.T, e *Engine, ref *reference) *Chat {
	t.Helper()
	chat, err := e.NewChat()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chat.Close() })
	img, err := e.EncodeFile(context.Background(), filepath.Join("testdata", ref.Image))
	if err != nil {
		t.Fatal(err)
	}
	chat.SetImage(img)
	return chat
}

func matching(a, b []llama.Token) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
