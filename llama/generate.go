package llama

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/textstream"
	"github.com/xraygpt-go/xraygpt/internal/timing"
)

// StopReason says why Generate stopped.
type StopReason int

// Reasons Generate stops.
const (
	StopNone        StopReason = iota // stopped by an error
	StopEOG                           // the model produced an end-of-generation token
	StopString                        // a stop string appeared in the text
	StopMaxTokens                     // GenerateOptions.MaxTokens were generated
	StopContextFull                   // the context has no room for another token
)

// String describes the reason, e.g. "stop string".
func (r StopReason) String() string {
	switch r {
	case StopEOG:
		return "eog"
	case StopString:
		return "stop string"
	case StopMaxTokens:
		return "max tokens"
	case StopContextFull:
		return "context full"
	}
	return "none"
}

// GenerateOptions configures Generate. The zero value generates greedily on
// sequence 0 until an end-of-generation token or a full context.
type GenerateOptions struct {
	Seq       int      // sequence to extend
	MaxTokens int      // most tokens to generate; 0: no limit
	Stop      []string // stop when the text contains one of these; it and what follows are not returned
	// Sampler, if set, picks the tokens (and is left open); otherwise a
	// sampler is built from SamplerOptions for this call.
	Sampler        *Sampler
	SamplerOptions SamplerOptions
	// OnText, if set, receives the text as it becomes final, piece by piece.
	// Text that could be the start of a stop string is held back until it is
	// clear it is not. Returning an error stops Generate with that error.
	OnText func(text string) error
}

// Generation is the result of Generate.
type Generation struct {
	Text   string     // generated text, without the stop string
	Tokens []Token    // generated tokens, including a final end-of-generation token
	Reason StopReason // why generation stopped

	PromptTokens int           // positions decoded from the prompt
	PromptTime   time.Duration // time to decode the prompt
	GenTime      time.Duration // time spent generating
}

// PromptTokensPerSecond is the prompt processing speed.
func (g *Generation) PromptTokensPerSecond() float64 {
	return timing.PerSecond(g.PromptTokens, g.PromptTime)
}

// TokensPerSecond is the generation speed.
func (g *Generation) TokensPerSecond() float64 { return timing.PerSecond(len(g.Tokens), g.GenTime) }

// Generate decodes the prompt onto sequence opts.Seq (an empty prompt
// continues from the last Decode) and then samples and decodes tokens until
// an end-of-generation token, a stop string, MaxTokens or a full context.
// The prompt's text tokens are accepted into the sampler first, so a
// repetition penalty covers them as well as the generated tokens.
//
// Afterwards the KV cache holds the prompt and every generated token but the
// last one (which was sampled, not decoded), so a follow-up turn can be
// appended with Decode or Generate. On error (including ctx cancellation,
// returned as ctx.Err()) the Generation so far is returned with the error.
func (c *Context) Generate(ctx context.Context, prompt []Input, opts GenerateOptions) (*Generation, error) {
	g := &Generation{}
	smpl := opts.Sampler
	if smpl == nil {
		var err error
		if smpl, err = NewSampler(c.m, opts.SamplerOptions); err != nil {
			return g, fmt.Errorf("generate: %w", err)
		}
		defer smpl.Close()
	}
	m := c.m
	start := time.Now()
	if len(prompt) > 0 {
		for _, in := range prompt {
			if in.Tokens != nil {
				if err := smpl.Accept(in.Tokens...); err != nil {
					return g, fmt.Errorf("generate: %w", err)
				}
			}
		}
		if err := c.DecodeAt(ctx, opts.Seq, -1, prompt...); err != nil {
			return g, fmt.Errorf("generate: prompt: %w", err)
		}
		for _, in := range prompt {
			g.PromptTokens += in.len(c.nEmbd)
		}
	}
	g.PromptTime = time.Since(start)
	start = time.Now()
	defer func() { g.GenTime = time.Since(start) }()

	detok := m.NewDetokenizer()
	stop := textstream.NewStop(opts.Stop)
	var text strings.Builder
	emit := func(s string) error {
		if s == "" {
			return nil
		}
		text.WriteString(s)
		if opts.OnText != nil {
			return opts.OnText(s)
		}
		return nil
	}
	defer func() { g.Text = text.String() }()
	for {
		if err := ctx.Err(); err != nil {
			return g, err
		}
		t, err := smpl.Sample(c)
		if err != nil {
			return g, fmt.Errorf("generate: %w", err)
		}
		g.Tokens = append(g.Tokens, t)
		if m.IsEOG(t) {
			g.Reason = StopEOG
			break
		}
		out, hit := stop.Push(detok.Add(t))
		if err := emit(out); err != nil {
			return g, err
		}
		if hit {
			g.Reason = StopString
			return g, nil
		}
		if opts.MaxTokens > 0 && len(g.Tokens) >= opts.MaxTokens {
			g.Reason = StopMaxTokens
			break
		}
		if c.Pos(opts.Seq) >= c.nCtxSeq {
			g.Reason = StopContextFull
			break
		}
		if err := c.DecodeAt(ctx, opts.Seq, -1, Input{Tokens: []Token{t}}); err != nil {
			if errors.Is(err, ErrContextFull) {
				g.Reason = StopContextFull
				break
			}
			return g, fmt.Errorf("generate: token %d: %w", len(g.Tokens), err)
		}
	}
	out, hit := stop.Push(detok.Flush())
	if hit {
		g.Reason = StopString
		return g, emit(out)
	}
	if err := emit(out + stop.Flush()); err != nil {
		return g, err
	}
	return g, nil
}
