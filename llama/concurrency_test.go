package llama_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/xraygpt-go/xraygpt/llama"
)

// TestConcurrentUse shares a model between goroutines, each with its own
// context, and checks they agree with a sequential run.
func TestConcurrentUse(t *testing.T) {
	m := tinyModel(t)
	texts := []string{"the heart size is normal", "no pleural effusion", "mild cardiomegaly", "lungs are clear"}
	want := make([]llama.Token, len(texts))
	for i, text := range texts {
		c := newContext(t, m, llama.ContextOptions{NCtx: 64})
		if err := c.Decode(context.Background(), llama.TokenInput(tokenize(t, m, text, true))); err != nil {
			t.Fatal(err)
		}
		l, err := c.Logits(c.Pos(0) - 1)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = argmax(l)
	}
	got := make([]llama.Token, len(texts))
	errs := make([]error, len(texts))
	var wg sync.WaitGroup
	for i, text := range texts {
		wg.Go(func() {
			toks, err := m.Tokenize(text, true, false)
			if err != nil {
				errs[i] = err
				return
			}
			c, err := llama.NewContext(m, llama.ContextOptions{NCtx: 64, Threads: 1})
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			if errs[i] = c.Decode(context.Background(), llama.TokenInput(toks)); errs[i] != nil {
				return
			}
			l, err := c.Logits(c.Pos(0) - 1)
			errs[i] = err
			got[i] = argmax(l)
		})
	}
	wg.Wait()
	for i := range texts {
		if errs[i] != nil {
			t.Errorf("%q: %v", texts[i], errs[i])
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("concurrent argmax %v, sequential %v", got, want)
	}
}

// TestCloseDuringDecode closes a context from another goroutine while it
// decodes: the decode finishes or reports ErrClosed, never crashes.
func TestCloseDuringDecode(t *testing.T) {
	m := tinyModel(t)
	toks := tokenize(t, m, "the lungs are clear and the heart size is normal", true)
	for i := 0; i < 20; i++ {
		c, err := llama.NewContext(m, llama.ContextOptions{NCtx: 256, NBatch: 4, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() { done <- c.Decode(context.Background(), llama.TokenInput(toks)) }()
		c.Close()
		if err := <-done; err != nil && !errors.Is(err, llama.ErrClosed) {
			t.Fatalf("decode racing Close: %v", err)
		}
	}
}

// TestCancelRace cancels contexts around the end of short decodes: a late
// cancellation must not leak into the next decode.
func TestCancelRace(t *testing.T) {
	m := tinyModel(t)
	c := newContext(t, m, llama.ContextOptions{NCtx: 256})
	toks := tokenize(t, m, "the lungs are clear", true)
	for i := 0; i < 50; i++ {
		if err := c.Clear(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go cancel()
		err := c.Decode(ctx, llama.TokenInput(toks))
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("iteration %d: %v", i, err)
		}
		if err != nil && c.Pos(0) != 0 {
			t.Fatalf("iteration %d: cancelled decode left Pos %d", i, c.Pos(0))
		}
		if err := c.Decode(context.Background(), llama.TokenInput(toks[:2])); err != nil {
			t.Fatalf("iteration %d: decode after a cancellation: %v", i, err)
		}
	}
}
