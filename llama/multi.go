package llama

/*
#include <stdlib.h>
#include "binding.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// Run is one sequence's part of a DecodeRuns call: inputs of one kind
// (text tokens or soft tokens) placed at consecutive positions of Seq.
type Run struct {
	Seq int
	// Pos is the position of the run's first entry: the sequence's next
	// position (Pos), or less to replace what follows it.
	Pos   int
	Input Input
	// Logits asks for the logits of the run's last position; Input.Logits
	// asks for those of every position. Read them with SeqLogits or sample
	// them with Sampler.SampleSeq.
	Logits bool
}

// DecodeRuns decodes runs of several sequences together, as continuous
// batching does: every token run shares the same llama_decode calls (split
// at NBatch entries), and soft-token runs share theirs, decoded first. A
// sequence may appear in several runs, which are then decoded in the order
// given (they must be consecutive). Logits are kept per sequence and
// position until the next DecodeRuns or Decode.
//
// Cancelling ctx aborts the call and returns ctx.Err(). On any error every
// sequence is rolled back to its state before the call.
func (c *Context) DecodeRuns(ctx context.Context, runs []Run) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return fmt.Errorf("decode runs: %w", ErrClosed)
	}
	if len(runs) == 0 {
		return fmt.Errorf("decode runs: no runs: %w", ErrBadInput)
	}
	// Check every run before changing anything.
	next := map[int]int{}       // the position each sequence reaches
	start := map[int]int{}      // each sequence's first position in this call
	hasTokens := map[int]bool{} // the sequence had a token run before
	for i, r := range runs {
		if r.Seq < 0 || r.Seq >= c.nSeq {
			return fmt.Errorf("decode runs: run %d: sequence %d out of range [0,%d): %w", i, r.Seq, c.nSeq, ErrBadInput)
		}
		n, err := c.checkInput(r.Input)
		if err != nil {
			return fmt.Errorf("decode runs: run %d (sequence %d): %w", i, r.Seq, err)
		}
		if n == 0 {
			return fmt.Errorf("decode runs: run %d (sequence %d) is empty: %w", i, r.Seq, ErrBadInput)
		}
		p, seen := next[r.Seq]
		if !seen {
			p = c.posLocked(r.Seq)
			if r.Pos > p || r.Pos < 0 {
				return fmt.Errorf("decode runs: run %d at position %d of sequence %d, whose next position is %d: %w", i, r.Pos, r.Seq, p, ErrBadPosition)
			}
			start[r.Seq] = r.Pos
		} else if r.Pos != p {
			return fmt.Errorf("decode runs: run %d at position %d of sequence %d, which this call continues at %d: %w", i, r.Pos, r.Seq, p, ErrBadPosition)
		}
		if r.Pos+n > c.nCtxSeq {
			return fmt.Errorf("decode runs: sequence %d would reach position %d, the context holds %d: %w", r.Seq, r.Pos+n, c.nCtxSeq, ErrContextFull)
		}
		if r.Input.Embeddings != nil && hasTokens[r.Seq] {
			return fmt.Errorf("decode runs: run %d: soft tokens after text tokens of sequence %d (soft tokens are decoded first; split the call): %w", i, r.Seq, ErrBadInput)
		}
		hasTokens[r.Seq] = hasTokens[r.Seq] || r.Input.Tokens != nil
		next[r.Seq] = r.Pos + n
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.hasOutput = false
	clear(c.outs)
	c.recycleSeqOuts()
	for seq, p := range start {
		if p < c.posLocked(seq) && !bool(C.llama_memory_seq_rm(c.mem, C.llama_seq_id(seq), C.llama_pos(p), -1)) {
			return fmt.Errorf("decode runs: cannot remove positions from %d of sequence %d", p, seq)
		}
	}
	stop := c.abortOn(ctx)
	defer stop()
	err := c.decodeKind(ctx, runs, true)
	if err == nil {
		err = c.decodeKind(ctx, runs, false)
	}
	if err != nil {
		clear(c.outs)
		for seq, p := range start {
			C.llama_memory_seq_rm(c.mem, C.llama_seq_id(seq), C.llama_pos(p), -1)
		}
		return err
	}
	return nil
}

// abortOn arms llama.cpp's abort flag for when ctx ends; the returned
// function disarms it.
func (c *Context) abortOn(ctx context.Context) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	c.abortMu.Lock()
	gen := c.abortGen
	c.abortMu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		c.abortMu.Lock()
		if c.abortGen == gen {
			C.xg_abort_set(c.abort, 1)
		}
		c.abortMu.Unlock()
	})
	return func() {
		stop()
		c.abortMu.Lock()
		c.abortGen++
		C.xg_abort_set(c.abort, 0)
		c.abortMu.Unlock()
	}
}

// decodeKind decodes the runs of one kind (soft tokens or text tokens) in
// chunks of at most NBatch entries, copying the logits asked for.
func (c *Context) decodeKind(ctx context.Context, runs []Run, embeddings bool) error {
	batch := c.tokBatch
	width := 0
	if embeddings {
		has := false
		for _, r := range runs {
			has = has || r.Input.Embeddings != nil
		}
		if !has {
			return nil
		}
		if c.embBatch == nil {
			c.embBatch = C.xg_batch_new(C.int32_t(c.nBatch), C.int32_t(c.nEmbd), C.int32_t(c.nSeq))
			c.res.emb = c.embBatch
			if c.embBatch == nil || c.embBatch.embd == nil {
				return errors.New("decode runs: cannot allocate the soft-token batch")
			}
		}
		batch, width = c.embBatch, c.nEmbd
	}
	if c.runPos == nil {
		c.runPos, c.runSeq = make([]int32, c.nBatch), make([]int32, c.nBatch)
	}
	pos, seq := c.runPos, c.runSeq
	flags := unsafe.Slice((*int8)(unsafe.Pointer(batch.logits)), c.nBatch)
	type key struct{ seq, pos int }
	var want []key // the (sequence, position) of each entry asking for logits
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		runtime.LockOSThread()
		rc := C.xg_decode_multi(c.ptr, batch, C.int32_t(n), (*C.int32_t)(unsafe.Pointer(&pos[0])), (*C.int32_t)(unsafe.Pointer(&seq[0])))
		var msg string
		if rc != 0 {
			msg = lastError()
		}
		runtime.UnlockOSThread()
		if rc != 0 {
			return c.decodeError(ctx, rc, msg, int(pos[0]), n)
		}
		k := 0
		for i := 0; i < n; i++ {
			if flags[i] == 0 {
				continue
			}
			p := C.llama_get_logits_ith(c.ptr, C.int32_t(i))
			if p == nil {
				return fmt.Errorf("decode runs: llama.cpp returned no logits for position %d of sequence %d", pos[i], seq[i])
			}
			row := c.logitsRow()
			copy(row, unsafe.Slice((*float32)(unsafe.Pointer(p)), c.nVocab))
			c.seqOuts[want[k]] = row
			k++
		}
		n, want = 0, want[:0]
		return nil
	}
	for _, r := range runs {
		if (r.Input.Embeddings != nil) != embeddings {
			continue
		}
		total := r.Input.len(c.nEmbd)
		for off := 0; off < total; {
			if n == c.nBatch {
				if err := flush(); err != nil {
					return err
				}
			}
			k := min(total-off, c.nBatch-n)
			if embeddings {
				dst := unsafe.Slice((*float32)(unsafe.Pointer(batch.embd)), c.nBatch*width)
				copy(dst[n*width:(n+k)*width], r.Input.Embeddings[off*width:(off+k)*width])
			} else {
				dst := unsafe.Slice((*Token)(unsafe.Pointer(batch.token)), c.nBatch)
				copy(dst[n:n+k], r.Input.Tokens[off:off+k])
			}
			for i := 0; i < k; i++ {
				p := r.Pos + off + i
				pos[n+i], seq[n+i] = int32(p), int32(r.Seq)
				out := r.Input.Logits || (r.Logits && off+i == total-1)
				flags[n+i] = 0
				if out {
					flags[n+i] = 1
					want = append(want, key{r.Seq, p})
				}
			}
			n += k
			off += k
		}
	}
	return flush()
}

// recycleSeqOuts forgets the last DecodeRuns' logits, keeping their rows
// for the next call: a generation step needs one row of NVocab floats per
// sequence, which would otherwise be allocated anew for every token.
func (c *Context) recycleSeqOuts() {
	if c.seqOuts == nil {
		c.seqOuts = map[struct{ seq, pos int }][]float32{}
	}
	for _, row := range c.seqOuts {
		c.freeRows = append(c.freeRows, row)
	}
	clear(c.seqOuts)
}

// logitsRow returns a row for logits, reused when one is free.
func (c *Context) logitsRow() []float32 {
	if n := len(c.freeRows); n > 0 {
		row := c.freeRows[n-1]
		c.freeRows = c.freeRows[:n-1]
		return row
	}
	return make([]float32, c.nVocab)
}

// SeqLogits returns the logits that the last DecodeRuns computed at
// position pos of sequence seq.
func (c *Context) SeqLogits(seq, pos int) ([]float32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return nil, fmt.Errorf("logits: %w", ErrClosed)
	}
	row, ok := c.seqOuts[struct{ seq, pos int }{seq, pos}]
	if !ok {
		return nil, fmt.Errorf("logits at position %d of sequence %d: %w", pos, seq, ErrNoLogits)
	}
	return append([]float32(nil), row...), nil
}

// SampleSeq picks a token from the logits the last DecodeRuns computed at
// position pos of sequence seq, exactly as Sample does from a Decode's, and
// accepts it.
func (s *Sampler) SampleSeq(c *Context, seq, pos int) (Token, error) {
	return s.withContext(c, func() (Token, error) {
		row, ok := c.seqOuts[struct{ seq, pos int }{seq, pos}]
		if !ok {
			return NoToken, fmt.Errorf("sample at position %d of sequence %d: %w", pos, seq, ErrNoLogits)
		}
		t := Token(C.xg_sample_logits(s.ptr, (*C.float)(unsafe.Pointer(&row[0])), C.int32_t(len(row))))
		if t == NoToken {
			return NoToken, fmt.Errorf("sample at position %d of sequence %d: the sampler chose nothing", pos, seq)
		}
		return t, nil
	})
}
