package llama_test

import (
	"context"
	"errors"
	"testing"

	"github.com/xraygpt-go/xraygpt/llama"
)

// softTol bounds the relative logit difference between token inputs and
// the same rows fed as soft tokens. The graph is the same apart from the
// embedding lookup, so differences only come from batch composition.
const softTol = 1e-5

// TestSoftTokenEquivalence feeds rows of the model's own token_embd matrix
// (read from the GGUF file with package gguf) as soft tokens and checks the
// logits match decoding the token ids: at the start of a sequence, between
// text runs, and across n_batch chunk boundaries.
func TestSoftTokenEquivalence(t *testing.T) {
	m := tinyModel(t)
	path := modelPath(t, "tiny", tinyOptions)
	ctx := context.Background()
	pre := tokenize(t, m, "Describe the chest x-ray", true)
	mid := tokenize(t, m, " pleural effusion and mild cardiomegaly ###", false)
	post := tokenize(t, m, " Doctor: the lungs are clear", false)
	midRows, width := embeddingRows(t, path, mid)
	if width != m.NEmbd() {
		t.Fatalf("token_embd width %d, model NEmbd %d", width, m.NEmbd())
	}

	cases := []struct {
		name      string
		nBatch    int
		text, mix []llama.Input
	}{
		{"start", 512,
			[]llama.Input{{Tokens: mid, Logits: true}},
			[]llama.Input{{Embeddings: midRows, Width: width, Logits: true}}},
		{"between text", 512,
			[]llama.Input{{Tokens: pre, Logits: true}, {Tokens: mid, Logits: true}, {Tokens: post, Logits: true}},
			[]llama.Input{{Tokens: pre, Logits: true}, {Embeddings: midRows, Width: width, Logits: true}, {Tokens: post, Logits: true}}},
		{"chunks of 4", 4,
			[]llama.Input{{Tokens: pre, Logits: true}, {Tokens: mid, Logits: true}, {Tokens: post, Logits: true}},
			[]llama.Input{{Tokens: pre, Logits: true}, {Embeddings: midRows, Width: width, Logits: true}, {Tokens: post, Logits: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for _, in := range tc.text {
				n += len(in.Tokens)
			}
			opts := llama.ContextOptions{NCtx: 256, NBatch: tc.nBatch}
			a := newContext(t, m, opts)
			if err := a.Decode(ctx, tc.text...); err != nil {
				t.Fatal(err)
			}
			want := logitsAt(t, a, 0, n)
			b := newContext(t, m, opts)
			if err := b.Decode(ctx, tc.mix...); err != nil {
				t.Fatal(err)
			}
			got := logitsAt(t, b, 0, n)
			if d := relDiff(want, got); d > softTol {
				t.Errorf("soft tokens vs tokens: relative logit difference %.3g > %g", d, softTol)
			}
			if a.Pos(0) != n || b.Pos(0) != n {
				t.Errorf("Pos after decode = %d, %d; want %d", a.Pos(0), b.Pos(0), n)
			}
		})
	}

	// The check can fail: other rows give other logits.
	t.Run("control", func(t *testing.T) {
		k := min(len(mid), len(post))
		other, _ := embeddingRows(t, path, post[:k])
		a := newContext(t, m, llama.ContextOptions{NCtx: 256})
		b := newContext(t, m, llama.ContextOptions{NCtx: 256})
		if err := a.Decode(ctx, llama.Input{Tokens: mid[:k], Logits: true}); err != nil {
			t.Fatal(err)
		}
		if err := b.Decode(ctx, llama.Input{Embeddings: other, Width: width, Logits: true}); err != nil {
			t.Fatal(err)
		}
		if d := relDiff(logitsAt(t, a, 0, k), logitsAt(t, b, 0, k)); d < 1e-2 {
			t.Errorf("different rows gave nearly equal logits (relative difference %.3g)", d)
		}
	})
}

// TestIncremental checks that the KV cache makes decoding in pieces equal
// to decoding everything at once.
func TestIncremental(t *testing.T) {
	m := tinyModel(t)
	ctx := context.Background()
	turn1 := tokenize(t, m, "Patient: describe the given chest x-ray ### Doctor:", true)
	answer := tokenize(t, m, " the heart size is normal ###", false)
	turn2 := tokenize(t, m, " Patient: is there any effusion? ### Doctor:", false)
	all := append(append(append([]llama.Token{}, turn1...), answer...), turn2...)

	full := newContext(t, m, llama.ContextOptions{NCtx: 256, NBatch: 8})
	if err := full.Decode(ctx, llama.Input{Tokens: all, Logits: true}); err != nil {
		t.Fatal(err)
	}
	want := logitsAt(t, full, 0, len(all))

	t.Run("prefix then continuation", func(t *testing.T) {
		c := newContext(t, m, llama.ContextOptions{NCtx: 256, NBatch: 8})
		k := len(turn1) + 3
		if err := c.Decode(ctx, llama.Input{Tokens: all[:k], Logits: true}); err != nil {
			t.Fatal(err)
		}
		head := logitsAt(t, c, 0, k)
		if err := c.Decode(ctx, llama.Input{Tokens: all[k:], Logits: true}); err != nil {
			t.Fatal(err)
		}
		tail := logitsAt(t, c, k, len(all))
		if d := relDiff(want, append(head, tail...)); d > 1e-5 {
			t.Errorf("relative difference %.3g", d)
		}
		if _, err := c.Logits(0); !errors.Is(err, llama.ErrNoLogits) {
			t.Errorf("logits of a position of an earlier Decode: err = %v, want ErrNoLogits", err)
		}
	})

	t.Run("chat turn appended", func(t *testing.T) {
		c := newContext(t, m, llama.ContextOptions{NCtx: 256})
		for _, run := range [][]llama.Token{turn1, answer} {
			if err := c.Decode(ctx, llama.TokenInput(run)); err != nil {
				t.Fatal(err)
			}
		}
		p := c.Pos(0)
		if err := c.Decode(ctx, llama.Input{Tokens: turn2, Logits: true}); err != nil {
			t.Fatal(err)
		}
		if d := relDiff(want[p:], logitsAt(t, c, p, len(all))); d > 1e-5 {
			t.Errorf("relative difference %.3g", d)
		}
	})

	t.Run("remove range then re-decode", func(t *testing.T) {
		c := newContext(t, m, llama.ContextOptions{NCtx: 256})
		// Decode a different answer, drop it, and decode the real one.
		wrong := tokenize(t, m, " pneumothorax on the left", false)
		if err := c.Decode(ctx, llama.TokenInput(turn1), llama.TokenInput(wrong)); err != nil {
			t.Fatal(err)
		}
		if err := c.RemoveRange(0, len(turn1), -1); err != nil {
			t.Fatal(err)
		}
		if got := c.Pos(0); got != len(turn1) {
			t.Fatalf("Pos after RemoveRange = %d, want %d", got, len(turn1))
		}
		if err := c.Decode(ctx, llama.Input{Tokens: append(append([]llama.Token{}, answer...), turn2...), Logits: true}); err != nil {
			t.Fatal(err)
		}
		if d := relDiff(want[len(turn1):], logitsAt(t, c, len(turn1), len(all))); d > 1e-5 {
			t.Errorf("relative difference %.3g", d)
		}
	})

	t.Run("DecodeAt overwrites", func(t *testing.T) {
		c := newContext(t, m, llama.ContextOptions{NCtx: 256})
		if err := c.Decode(ctx, llama.TokenInput(all)); err != nil {
			t.Fatal(err)
		}
		k := len(turn1)
		if err := c.DecodeAt(ctx, 0, k, llama.Input{Tokens: all[k:], Logits: true}); err != nil {
			t.Fatal(err)
		}
		if d := relDiff(want[k:], logitsAt(t, c, k, len(all))); d > 1e-5 {
			t.Errorf("relative difference %.3g", d)
		}
		err := c.DecodeAt(ctx, 0, len(all)+5, llama.TokenInput(answer))
		if !errors.Is(err, llama.ErrBadPosition) {
			t.Errorf("decode after a gap: err = %v, want ErrBadPosition", err)
		}
	})

	t.Run("save and load sequence state", func(t *testing.T) {
		c := newContext(t, m, llama.ContextOptions{NCtx: 256})
		k := len(turn1) + len(answer)
		if err := c.Decode(ctx, llama.TokenInput(all[:k])); err != nil {
			t.Fatal(err)
		}
		state, err := c.SaveSeq(0)
		if err != nil {
			t.Fatal(err)
		}
		d := newContext(t, m, llama.ContextOptions{NCtx: 256})
		if err := d.LoadSeq(0, state); err != nil {
			t.Fatal(err)
		}
		if d.Pos(0) != k {
			t.Fatalf("Pos after LoadSeq = %d, want %d", d.Pos(0), k)
		}
		if err := d.Decode(ctx, llama.Input{Tokens: turn2, Logits: true}); err != nil {
			t.Fatal(err)
		}
		if diff := relDiff(want[k:], logitsAt(t, d, k, len(all))); diff > 1e-5 {
			t.Errorf("relative difference %.3g", diff)
		}
		if err := d.LoadSeq(0, state[:len(state)/2]); err == nil {
			t.Error("LoadSeq of a truncated state succeeded")
		}
	})

	t.Run("second sequence", func(t *testing.T) {
		c := newContext(t, m, llama.ContextOptions{NCtx: 512, Seqs: 2})
		if err := c.DecodeAt(ctx, 1, -1, llama.TokenInput(answer)); err != nil {
			t.Fatal(err)
		}
		if err := c.DecodeAt(ctx, 0, -1, llama.Input{Tokens: all, Logits: true}); err != nil {
			t.Fatal(err)
		}
		if d := relDiff(want, logitsAt(t, c, 0, len(all))); d > 1e-5 {
			t.Errorf("sequence 0 disturbed by sequence 1: relative difference %.3g", d)
		}
		if c.Pos(1) != len(answer) {
			t.Errorf("Pos(1) = %d, want %d", c.Pos(1), len(answer))
		}
	})
}
