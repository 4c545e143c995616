package llama_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/llama"
	"github.com/xraygpt-go/xraygpt/llama/llamatest"
)

func TestGreedyIsArgmax(t *testing.T) {
	m := tinyModel(t)
	c := newContext(t, m, llama.ContextOptions{NCtx: 128})
	s, err := llama.NewSampler(m, llama.SamplerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := c.Decode(ctx, llama.TokenInput(tokenize(t, m, "Describe the given chest x-ray", true))); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		logits, err := c.Logits(c.Pos(0) - 1)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.Sample(c)
		if err != nil {
			t.Fatal(err)
		}
		if want := argmax(logits); tok != want {
			t.Fatalf("step %d: greedy sampled %d, argmax of the logits is %d", i, tok, want)
		}
		if err := c.Decode(ctx, llama.TokenInput([]llama.Token{tok})); err != nil {
			t.Fatal(err)
		}
	}
}

func generate(t *testing.T, m *llama.Model, prompt string, opts llama.GenerateOptions) *llama.Generation {
	t.Helper()
	c := newContext(t, m, llama.ContextOptions{NCtx: 256})
	g, err := c.Generate(context.Background(), []llama.Input{llama.TokenInput(tokenize(t, m, prompt, true))}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestSamplerSeed(t *testing.T) {
	m := tinyModel(t)
	run := func(seed uint32) []llama.Token {
		return generate(t, m, "the lungs", llama.GenerateOptions{MaxTokens: 12,
			SamplerOptions: llama.SamplerOptions{Temperature: 1.5, Seed: seed}}).Tokens
	}
	a, b := run(7), run(7)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different tokens: %v vs %v", a, b)
	}
	// 12 draws at temperature 1.5 from well-spread logits: other seeds
	// giving the same 12 tokens would be vanishingly unlikely.
	differ := 0
	for seed := uint32(8); seed < 12; seed++ {
		if !slices.Equal(a, run(seed)) {
			differ++
		}
	}
	if differ < 3 {
		t.Errorf("only %d of 4 other seeds changed the tokens", differ)
	}
	// Top-k 1 is greedy whatever the temperature.
	greedy := generate(t, m, "the lungs", llama.GenerateOptions{MaxTokens: 12}).Tokens
	topk1 := generate(t, m, "the lungs", llama.GenerateOptions{MaxTokens: 12,
		SamplerOptions: llama.SamplerOptions{Temperature: 2, TopK: 1, Seed: 3}}).Tokens
	if !slices.Equal(greedy, topk1) {
		t.Errorf("top-k 1 %v differs from greedy %v", topk1, greedy)
	}
	// A strong repetition penalty changes greedy output on a model that repeats.
	pen := generate(t, m, "the lungs", llama.GenerateOptions{MaxTokens: 12,
		SamplerOptions: llama.SamplerOptions{RepeatPenalty: 100, RepeatLastN: -1}}).Tokens
	seen := map[llama.Token]bool{}
	for _, tok := range tokenize(t, m, "the lungs", true) {
		seen[tok] = true
	}
	for _, tok := range pen {
		if seen[tok] {
			t.Errorf("with repetition penalty 100, token %d repeated in %v", tok, pen)
		}
		seen[tok] = true
	}
	if _, err := llama.NewSampler(m, llama.SamplerOptions{TopP: 2}); !errors.Is(err, llama.ErrBadInput) {
		t.Errorf("top-p 2: err = %v, want ErrBadInput", err)
	}
}

// TestStopStrings builds stop strings that cross token boundaries from the
// model's own greedy output, and checks generation stops there and never
// emits the stop string or what follows.
func TestStopStrings(t *testing.T) {
	m := tinyModel(t)
	// Ban byte tokens and EOS so the output is 30 whole word pieces, whose
	// texts add up to the generated text.
	ban := map[llama.Token]float32{m.EOS(): float32(math.Inf(-1))}
	for b := 3; b < 3+256; b++ {
		ban[llama.Token(b)] = float32(math.Inf(-1))
	}
	sopts := llama.SamplerOptions{LogitBias: ban}
	base := generate(t, m, "Patient: describe the image ### Doctor:", llama.GenerateOptions{MaxTokens: 30, SamplerOptions: sopts})
	if base.Reason != llama.StopMaxTokens || len(base.Tokens) != 30 {
		t.Fatalf("reference run stopped by %v after %d tokens", base.Reason, len(base.Tokens))
	}
	// Piece boundaries of the reference text.
	var ends []int
	n := 0
	for _, tok := range base.Tokens {
		n += len(m.TokenPiece(tok))
		ends = append(ends, n)
	}
	text := base.Text
	if len(text) != n {
		t.Fatalf("reference text %q is not the %d bytes of its pieces", text, n)
	}
	// A stop string from the middle of piece 5 to the middle of piece 8,
	// and one equal to a whole piece.
	type stopCase struct{ name, stop string }
	var cases []stopCase
	for i := 4; i < len(ends)-4; i++ {
		a, b := ends[i]-1, ends[i+3]-1
		if a > ends[i-1] && b > ends[i+2] && a < b && b <= len(text) {
			cases = append(cases, stopCase{"split", text[a:b]})
			break
		}
	}
	cases = append(cases, stopCase{"whole piece", text[ends[9]:ends[10]]})
	if len(cases) < 2 {
		t.Fatalf("no multi-token stop string in %q", text)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := text[:strings.Index(text, tc.stop)]
			t.Logf("stop %q in %q", tc.stop, text)
			var streamed strings.Builder
			g := generate(t, m, "Patient: describe the image ### Doctor:", llama.GenerateOptions{
				MaxTokens: 30, Stop: []string{"never appears", tc.stop}, SamplerOptions: sopts,
				OnText: func(s string) error {
					streamed.WriteString(s)
					if strings.Contains(streamed.String(), tc.stop) {
						t.Errorf("stop string %q emitted", tc.stop)
					}
					return nil
				},
			})
			if g.Reason != llama.StopString {
				t.Errorf("stopped by %v, want stop string", g.Reason)
			}
			if g.Text != want || streamed.String() != want {
				t.Errorf("text %q, streamed %q; want %q (stop %q)", g.Text, streamed.String(), want, tc.stop)
			}
			if !slices.Equal(g.Tokens, base.Tokens[:len(g.Tokens)]) {
				t.Errorf("tokens %v are not a prefix of %v", g.Tokens, base.Tokens)
			}
		})
	}
}

func TestGenerateStops(t *testing.T) {
	m := tinyModel(t)
	ctx := context.Background()
	prompt := []llama.Input{llama.TokenInput(tokenize(t, m, "the heart", true))}

	t.Run("max tokens and timings", func(t *testing.T) {
		g := generate(t, m, "the heart", llama.GenerateOptions{MaxTokens: 5})
		if g.Reason != llama.StopMaxTokens || len(g.Tokens) != 5 {
			t.Errorf("reason %v after %d tokens, want max tokens after 5", g.Reason, len(g.Tokens))
		}
		if g.PromptTokens != 3 || g.PromptTokensPerSecond() <= 0 || g.TokensPerSecond() <= 0 {
			t.Errorf("timings: %d prompt tokens, %.0f / %.0f tok/s", g.PromptTokens, g.PromptTokensPerSecond(), g.TokensPerSecond())
		}
	})

	t.Run("end of generation", func(t *testing.T) {
		// Bias EOS up so that it is the greedy choice after two tokens.
		c := newContext(t, m, llama.ContextOptions{NCtx: 256})
		g, err := c.Generate(ctx, prompt, llama.GenerateOptions{MaxTokens: 2})
		if err != nil {
			t.Fatal(err)
		}
		g2, err := c.Generate(ctx, nil, llama.GenerateOptions{MaxTokens: 20,
			SamplerOptions: llama.SamplerOptions{LogitBias: map[llama.Token]float32{m.EOS(): 1000}}})
		if err != nil {
			t.Fatal(err)
		}
		// The empty prompt continued from the last decode: the first
		// Generate's final token was sampled but not decoded.
		if g2.Reason != llama.StopEOG || !slices.Equal(g2.Tokens, []llama.Token{m.EOS()}) || g2.Text != "" {
			t.Errorf("biased to EOS: reason %v, tokens %v, text %q", g2.Reason, g2.Tokens, g2.Text)
		}
		// The KV cache holds the prompt and the generated tokens but the last.
		if want := 3 + len(g.Tokens) - 1; c.Pos(0) != want {
			t.Errorf("Pos after Generate = %d, want %d", c.Pos(0), want)
		}
	})

	t.Run("context full", func(t *testing.T) {
		c := newContext(t, m, llama.ContextOptions{NCtx: 16})
		g, err := c.Generate(ctx, prompt, llama.GenerateOptions{Stop: []string{"\x00"}})
		if err != nil {
			t.Fatal(err)
		}
		if g.Reason != llama.StopContextFull && g.Reason != llama.StopEOG {
			t.Errorf("stopped by %v, want context full", g.Reason)
		}
		if g.Reason == llama.StopContextFull && c.Pos(0) != 16 {
			t.Errorf("Pos = %d at context full, want 16", c.Pos(0))
		}
	})

	t.Run("OnText error", func(t *testing.T) {
		c := newContext(t, m, llama.ContextOptions{NCtx: 256})
		stop := errors.New("enough")
		_, err := c.Generate(ctx, prompt, llama.GenerateOptions{MaxTokens: 50, OnText: func(string) error { return stop }})
		if !errors.Is(err, stop) {
			t.Errorf("err = %v, want the OnText error", err)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		c := newContext(t, m, llama.ContextOptions{NCtx: 256})
		cctx, cancel := context.WithCancel(ctx)
		n := 0
		g, err := c.Generate(cctx, prompt, llama.GenerateOptions{MaxTokens: 100, OnText: func(string) error {
			if n++; n == 3 {
				cancel()
			}
			return nil
		}})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if g == nil || len(g.Tokens) == 0 || len(g.Tokens) > 5 {
			t.Errorf("partial generation %+v", g)
		}
	})
}

// TestCancelLongPrompt cancels a long prompt decode from another goroutine:
// the decode must stop inside llama_decode (through the abort callback,
// there is a single chunk) and return context.Canceled, leaving the
// sequence empty.
func TestCancelLongPrompt(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and runs a 512-wide model")
	}
	m := loadModel(t, "wide", llamatest.Options{NEmbd: 512, NLayer: 4, NHead: 8, NCtx: 2048, Seed: 2})
	const n = 2048
	c := newContext(t, m, llama.ContextOptions{NCtx: n, NBatch: n, NUBatch: n})
	toks := tokenize(t, m, strings.Repeat("the lungs are clear and the heart size is normal ", 300), true)[:n]

	ctx, cancel := context.WithCancel(context.Background())
	var cancelled time.Time
	go func() {
		time.Sleep(30 * time.Millisecond)
		cancelled = time.Now()
		cancel()
	}()
	start := time.Now()
	err := c.Decode(ctx, llama.TokenInput(toks))
	end := time.Now()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v after %v, want context.Canceled", err, end.Sub(start))
	}
	// One graph node is a few milliseconds here; a second is a generous
	// bound that still fails if the abort callback is not wired (the full
	// decode takes several seconds on the 2-core machines).
	if lag := end.Sub(cancelled); lag > time.Second {
		t.Errorf("decode returned %v after cancel", lag)
	}
	if c.Pos(0) != 0 {
		t.Errorf("Pos after a cancelled decode = %d, want 0 (rolled back)", c.Pos(0))
	}
	// The context still works after an abort.
	if err := c.Decode(context.Background(), llama.TokenInput(toks[:8])); err != nil {
		t.Errorf("decode after abort: %v", err)
	}
}
