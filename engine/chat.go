package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/xraygpt-go/xraygpt/llama"
)

// Chat is a conversation about one image at a time, with its own llama.cpp
// context. Each turn reuses the KV cache: the system prompt and the image's
// soft tokens are decoded once, and only the text that differs from what is
// already in the cache is decoded again, so a turn costs the same as a fresh
// decode of the whole conversation would give, without redoing it. A Chat is
// for one goroutine.
type Chat struct {
	e    *Engine
	lctx *llama.Context
	conv *Conversation
	img  *Image

	// What the KV cache holds: the first text segment, the image (when
	// imgDone), then the tokens in kvText.
	head    []llama.Token
	imgDone bool
	imgHash [32]byte
	kvText  []llama.Token
}

// NewChat opens a conversation with a new llama.cpp context.
func (e *Engine) NewChat() (*Chat, error) {
	lctx, err := llama.NewContext(e.llm, llama.ContextOptions{
		NCtx:    orDefault(e.opts.ContextSize, DefaultContextSize),
		NBatch:  e.opts.BatchSize,
		Threads: e.opts.Threads,
	})
	if err != nil {
		return nil, fmt.Errorf("new chat: %w", err)
	}
	return &Chat{e: e, lctx: lctx, conv: NewConversation()}, nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Engine returns the engine the chat runs on.
func (c *Chat) Engine() *Engine { return c.e }

// Close releases the chat's context. It is safe to call more than once.
func (c *Chat) Close() error { return c.lctx.Close() }

// SetImage starts a new conversation about img.
func (c *Chat) SetImage(img *Image) {
	c.img = img
	c.conv = NewConversation()
}

// ClearCache empties the KV cache: the next Ask decodes the whole
// conversation again (the context's memory stays allocated).
func (c *Chat) ClearCache() { c.forget() }

// Reset forgets the turns so far but keeps the image.
func (c *Chat) Reset() { c.conv = NewConversation() }

// Conversation returns the conversation so far.
func (c *Chat) Conversation() *Conversation { return c.conv }

// Ask appends a question, decodes what the KV cache lacks and generates the
// answer, streaming its text to onText when set. When the conversation no
// longer fits the context, its oldest turns are dropped (the system prompt,
// the image and the current question stay), as XrayGPT drops old context.
func (c *Chat) Ask(ctx context.Context, question string, gen GenerateOptions, onText func(string)) (*Answer, error) {
	if c.img == nil {
		return nil, errors.New("ask: no image in this chat")
	}
	if err := c.conv.Ask(question); err != nil {
		return nil, fmt.Errorf("ask: %w", err)
	}
	ans, err := c.answer(ctx, gen, onText)
	if err != nil {
		// Forget the unanswered question so the chat can go on.
		c.conv.Turns = c.conv.Turns[:len(c.conv.Turns)-1]
		return ans, err
	}
	c.conv.SetAnswer(ans.Text)
	return ans, nil
}

func (c *Chat) answer(ctx context.Context, gen GenerateOptions, onText func(string)) (*Answer, error) {
	llm := c.e.llm
	maxNew := gen.MaxTokens
	if maxNew <= 0 {
		maxNew = DefaultGenerateOptions().MaxTokens
	}
	var head, text []llama.Token
	for {
		before, after := c.conv.Prompt()
		var err error
		if head, err = llm.Tokenize(before, true, false); err != nil {
			return nil, fmt.Errorf("tokenize prompt: %w", err)
		}
		if text, err = llm.Tokenize(after, false, false); err != nil {
			return nil, fmt.Errorf("tokenize prompt: %w", err)
		}
		if len(head)+c.img.Rows+len(text)+maxNew <= c.lctx.NCtx() {
			break
		}
		if !c.conv.DropOldest() {
			return nil, fmt.Errorf("%d prompt positions + %d new tokens > context of %d: %w",
				len(head)+c.img.Rows+len(text), maxNew, c.lctx.NCtx(), ErrPromptTooLong)
		}
	}

	t := Timings{Load: c.e.load, Vision: c.img.Vision}
	c.img.Vision = 0 // counted once
	start := time.Now()
	inputs, pos := c.plan(head, text)
	if err := c.lctx.DecodeAt(ctx, 0, pos, inputs...); err != nil {
		c.forget()
		return nil, fmt.Errorf("decode prompt: %w", err)
	}
	c.kvText = text
	for _, in := range inputs {
		if in.Tokens != nil {
			t.PromptTokens += len(in.Tokens)
		} else {
			t.PromptTokens += len(in.Embeddings) / in.Width
		}
	}
	t.Prompt = time.Since(start)

	smpl, err := llama.NewSampler(llm, gen.sampler())
	if err != nil {
		return nil, fmt.Errorf("sampler: %w", err)
	}
	defer smpl.Close()
	// The repetition penalty sees only generated tokens, as in Hugging
	// Face's generate with inputs_embeds, whose input_ids start empty.
	started := false
	g, err := c.lctx.Generate(ctx, nil, llama.GenerateOptions{
		MaxTokens: maxNew,
		Stop:      []string{Separator},
		Sampler:   smpl,
		OnText: func(s string) error {
			if onText == nil {
				return nil
			}
			if !started { // the answer starts after "Doctor:": drop the leading space
				s = strings.TrimLeft(s, " ")
				started = s != ""
			}
			if s != "" {
				onText(s)
			}
			return nil
		},
	})
	// The KV cache now also holds the generated tokens but the last.
	if decoded := c.lctx.Pos(0) - len(c.head) - c.img.Rows - len(c.kvText); g != nil && decoded > 0 && decoded <= len(g.Tokens) {
		c.kvText = append(c.kvText, g.Tokens[:decoded]...)
	}
	if err != nil {
		c.forget()
		return nil, fmt.Errorf("generate: %w", err)
	}
	t.GeneratedTokens = len(g.Tokens)
	t.Generate = g.GenTime
	return &Answer{Text: CleanAnswer(g.Text), Tokens: g.Tokens, Stop: g.Reason, Timings: t, DroppedTurns: c.conv.Dropped}, nil
}

// plan returns the inputs to decode and the position to decode them at, so
// that the KV cache ends up holding head, the image and text: it keeps the
// longest prefix the cache already has.
func (c *Chat) plan(head, text []llama.Token) ([]llama.Input, int) {
	keepHead := equalTokens(c.head, head)
	keepImg := keepHead && c.imgDone && c.imgHash == c.img.Hash && c.img.Hash != [32]byte{}
	c.head, c.imgHash, c.imgDone = head, c.img.Hash, true
	img := llama.EmbeddingInput(c.img.Tokens, c.img.Width)
	switch {
	case !keepHead:
		return []llama.Input{llama.TokenInput(head), img, llama.TokenInput(text)}, 0
	case !keepImg:
		return []llama.Input{img, llama.TokenInput(text)}, len(head)
	}
	common := commonPrefix(c.kvText, text)
	if common == len(text) { // nothing new: decode the last token again for its logits
		common--
	}
	return []llama.Input{llama.TokenInput(text[common:])}, len(head) + c.img.Rows + common
}

// forget marks the cache as unknown after a failed decode.
func (c *Chat) forget() {
	c.head, c.kvText, c.imgDone = nil, nil, false
	c.lctx.Clear()
}

func equalTokens(a, b []llama.Token) bool {
	return len(a) == len(b) && commonPrefix(a, b) == len(a)
}

func commonPrefix(a, b []llama.Token) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
