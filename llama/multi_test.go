package llama_test

import (
	"context"
	"errors"
	"testing"

	"github.com/xraygpt-go/xraygpt/llama"
)

// mixedTol bounds the relative logit difference between a sequence decoded
// alone and the same sequence decoded in a batch with others. Each output
// is computed from its own rows, but ggml picks its matrix kernels (and
// with them the order of the sums) by batch size, so float32 rounding
// differs: observed ~1e-6 on the F32 tiny model; 1e-4 leaves room.
const mixedTol = 1e-4

// TestDecodeRunsMatchesAlone decodes three sequences in one DecodeRuns call
// (text and soft-token runs, prompts and single generated tokens, across
// batch chunks) and checks that each sequence's logits match the same
// inputs decoded alone in a one-sequence context.
func TestDecodeRunsMatchesAlone(t *testing.T) {
	m := tinyModel(t)
	path := modelPath(t, "tiny", tinyOptions)
	ctx := context.Background()
	a := tokenize(t, m, "Describe the chest x-ray", true)
	b := tokenize(t, m, "The lungs are clear and there is no effusion", true)
	img := tokenize(t, m, " pleural effusion and mild cardiomegaly", false)
	rows, width := embeddingRows(t, path, img)
	tail := tokenize(t, m, " ###Doctor:", false)

	// Alone: each sequence in its own context.
	aloneA := newContext(t, m, llama.ContextOptions{NCtx: 256})
	if err := aloneA.Decode(ctx, llama.TokenInput(a)); err != nil {
		t.Fatal(err)
	}
	wantA := logitsAt(t, aloneA, len(a)-1, len(a))
	aloneB := newContext(t, m, llama.ContextOptions{NCtx: 256})
	if err := aloneB.Decode(ctx, llama.TokenInput(b), llama.EmbeddingInput(rows, width), llama.TokenInput(tail)); err != nil {
		t.Fatal(err)
	}
	endB := len(b) + len(img) + len(tail)
	wantB := logitsAt(t, aloneB, endB-1, endB)
	if err := aloneA.Decode(ctx, llama.TokenInput([]llama.Token{a[0]})); err != nil {
		t.Fatal(err)
	}
	wantA2 := logitsAt(t, aloneA, len(a), len(a)+1)

	for _, nBatch := range []int{512, 5} {
		mc := newContext(t, m, llama.ContextOptions{NCtx: 512, NBatch: nBatch, Seqs: 3, Unified: true})
		// Step 1: sequence 0's prompt, sequence 1's first text run and image.
		err := mc.DecodeRuns(ctx, []llama.Run{
			{Seq: 0, Pos: 0, Input: llama.TokenInput(a), Logits: true},
			{Seq: 1, Pos: 0, Input: llama.TokenInput(b)},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := mc.SeqLogits(0, len(a)-1)
		if err != nil {
			t.Fatal(err)
		}
		if d := relDiff(wantA, [][]float32{got}); d > mixedTol {
			t.Errorf("n_batch %d: sequence 0's prompt logits differ from alone by %.3g", nBatch, d)
		}
		// Step 2: sequence 0 generates a token while sequence 1 decodes its
		// soft tokens and the text after them; sequence 2 starts too.
		err = mc.DecodeRuns(ctx, []llama.Run{
			{Seq: 1, Pos: len(b), Input: llama.EmbeddingInput(rows, width)},
			{Seq: 1, Pos: len(b) + len(img), Input: llama.TokenInput(tail), Logits: true},
			{Seq: 0, Pos: len(a), Input: llama.TokenInput([]llama.Token{a[0]}), Logits: true},
			{Seq: 2, Pos: 0, Input: llama.TokenInput(a), Logits: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name     string
			seq, pos int
			want     [][]float32
		}{
			{"sequence 0's generated token", 0, len(a), wantA2},
			{"sequence 1's prompt after soft tokens", 1, endB - 1, wantB},
			{"sequence 2 (same prompt as 0)", 2, len(a) - 1, wantA},
		} {
			got, err := mc.SeqLogits(c.seq, c.pos)
			if err != nil {
				t.Fatalf("n_batch %d: %s: %v", nBatch, c.name, err)
			}
			if d := relDiff(c.want, [][]float32{got}); d > mixedTol {
				t.Errorf("n_batch %d: %s: logits differ from alone by %.3g", nBatch, c.name, d)
			}
		}
		if mc.Pos(0) != len(a)+1 || mc.Pos(1) != endB || mc.Pos(2) != len(a) {
			t.Errorf("positions after the steps: %d %d %d", mc.Pos(0), mc.Pos(1), mc.Pos(2))
		}
		// Greedy sampling from a sequence's logits picks their argmax.
		s, err := llama.NewSampler(m, llama.SamplerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := s.SampleSeq(mc, 1, endB-1)
		s.Close()
		if err != nil || tok != argmax(wantB[0]) {
			t.Errorf("SampleSeq = %v, %v; want argmax %v", tok, err, argmax(wantB[0]))
		}
	}
}

// TestCopySeqSharesPrefix decodes a prefix once, copies it into two other
// sequences and continues them: their logits equal a full decode's.
func TestCopySeqSharesPrefix(t *testing.T) {
	m := tinyModel(t)
	ctx := context.Background()
	head := tokenize(t, m, "You are an experienced Doctor.###Patient:", true)
	q := tokenize(t, m, " Is there an effusion?###Doctor:", false)
	alone := newContext(t, m, llama.ContextOptions{NCtx: 256})
	if err := alone.Decode(ctx, llama.TokenInput(head), llama.TokenInput(q)); err != nil {
		t.Fatal(err)
	}
	want := logitsAt(t, alone, len(head)+len(q)-1, len(head)+len(q))

	mc := newContext(t, m, llama.ContextOptions{NCtx: 512, Seqs: 3, Unified: true})
	if err := mc.DecodeAt(ctx, 2, 0, llama.TokenInput(head)); err != nil {
		t.Fatal(err)
	}
	for seq := 0; seq < 2; seq++ {
		if err := mc.CopySeq(2, seq, 0, len(head)); err != nil {
			t.Fatal(err)
		}
		if mc.Pos(seq) != len(head) {
			t.Fatalf("sequence %d after CopySeq: next position %d, want %d", seq, mc.Pos(seq), len(head))
		}
	}
	err := mc.DecodeRuns(ctx, []llama.Run{
		{Seq: 0, Pos: len(head), Input: llama.TokenInput(q), Logits: true},
		{Seq: 1, Pos: len(head), Input: llama.TokenInput(q), Logits: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	for seq := 0; seq < 2; seq++ {
		got, err := mc.SeqLogits(seq, len(head)+len(q)-1)
		if err != nil {
			t.Fatal(err)
		}
		if d := relDiff(want, [][]float32{got}); d > mixedTol {
			t.Errorf("sequence %d on the copied prefix differs from a full decode by %.3g", seq, d)
		}
	}
	// KeepSeq drops the others.
	if err := mc.KeepSeq(0); err != nil {
		t.Fatal(err)
	}
	if mc.Pos(1) != 0 || mc.Pos(2) != 0 || mc.Pos(0) != len(head)+len(q) {
		t.Errorf("after KeepSeq(0): positions %d %d %d", mc.Pos(0), mc.Pos(1), mc.Pos(2))
	}
}

// TestDecodeRunsRejects checks the errors that leave the context untouched.
func TestDecodeRunsRejects(t *testing.T) {
	m := tinyModel(t)
	path := modelPath(t, "tiny", tinyOptions)
	ctx := context.Background()
	toks := tokenize(t, m, "hello there", true)
	rows, width := embeddingRows(t, path, toks)
	mc := newContext(t, m, llama.ContextOptions{NCtx: 64, Seqs: 2, Unified: true})
	cases := []struct {
		name string
		runs []llama.Run
		want error
	}{
		{"none", nil, llama.ErrBadInput},
		{"sequence out of range", []llama.Run{{Seq: 2, Input: llama.TokenInput(toks)}}, llama.ErrBadInput},
		{"gap", []llama.Run{{Seq: 0, Pos: 3, Input: llama.TokenInput(toks)}}, llama.ErrBadPosition},
		{"runs not consecutive", []llama.Run{{Seq: 0, Input: llama.TokenInput(toks)}, {Seq: 0, Pos: 0, Input: llama.TokenInput(toks)}}, llama.ErrBadPosition},
		{"soft tokens after text", []llama.Run{{Seq: 0, Input: llama.TokenInput(toks)}, {Seq: 0, Pos: len(toks), Input: llama.EmbeddingInput(rows, width)}}, llama.ErrBadInput},
		{"past the context", []llama.Run{{Seq: 1, Input: llama.TokenInput(make([]llama.Token, 65))}}, llama.ErrContextFull},
	}
	for _, c := range cases {
		if err := mc.DecodeRuns(ctx, c.runs); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if mc.Pos(0) != 0 || mc.Pos(1) != 0 {
		t.Errorf("rejected calls changed the cache: positions %d %d", mc.Pos(0), mc.Pos(1))
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := mc.DecodeRuns(cancelled, []llama.Run{{Seq: 0, Input: llama.TokenInput(toks)}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
