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
	"sync"
	"unsafe"
)

// FlashAttention selects llama.cpp's flash-attention kernels.
type FlashAttention int

// FlashAttention settings; the zero value lets llama.cpp decide.
const (
	FlashAuto FlashAttention = iota
	FlashOn
	FlashOff
)

// MaxThreads is the most threads a Context or Quantize takes: ggml's
// GGML_MAX_N_THREADS. (ggml aborts the process when it cannot create the
// threads it is asked for, which may happen below this limit too; callers
// should ask for no more than a few per core.)
const MaxThreads = 512

// DefaultMaxContext caps the context size chosen when ContextOptions.NCtx is 0.
const DefaultMaxContext = 4096

// ContextOptions configures NewContext. The zero value gives the model's
// training context (at most DefaultMaxContext), batches of 512, one sequence
// and one thread per CPU.
type ContextOptions struct {
	NCtx    int // context size in positions; each of the Seqs sequences holds NCtx/Seqs; 0: see above
	NBatch  int // most positions per llama_decode call; 0: 512 (at most NCtx)
	NUBatch int // physical batch size; 0: min(NBatch, 512)
	Seqs    int // number of independent sequences; 0: 1
	// Threads is used for generation, ThreadsBatch for prompt processing;
	// 0: runtime.NumCPU() and Threads.
	Threads, ThreadsBatch int
	FlashAttention        FlashAttention
	// Unified keeps the KV cache of all sequences in one buffer, so that
	// CopySeq shares cells instead of copying them (a common prefix is
	// stored once) and any sequence may use any free cell.
	Unified bool
}

// Context is a llama.cpp inference context: a KV cache plus compute buffers.
// A Context is meant for one goroutine at a time; its methods lock, so
// concurrent calls are serialized rather than unsafe. Close releases it.
type Context struct {
	m  *Model
	mu sync.Mutex

	ptr      *C.struct_llama_context
	mem      C.llama_memory_t
	abort    *C.xg_abort
	tokBatch *C.struct_llama_batch
	embBatch *C.struct_llama_batch // allocated on first soft-token input
	res      *contextHandle        // the same C pointers, for the cleanup
	clean    runtime.Cleanup

	nCtx, nCtxSeq, nBatch, nSeq, nEmbd, nVocab int

	// Cancellation: abortGen invalidates context.AfterFunc callbacks of
	// finished Decode calls.
	abortMu  sync.Mutex
	abortGen uint64

	// Outputs of the last Decode: rows copied from earlier chunks, and batch
	// indices of rows in the final chunk, still held by llama.cpp.
	outSeq    int
	outs      map[int]outRow
	hasOutput bool // the last Decode computed logits for its last position
	// Logits of the last DecodeRuns, by sequence and position.
	seqOuts  map[struct{ seq, pos int }][]float32
	freeRows [][]float32 // rows of earlier seqOuts, for reuse
	// The positions and sequences of a DecodeRuns chunk, allocated once.
	runPos, runSeq []int32
}

type outRow struct {
	idx  int32     // batch index in the final chunk, or -1
	data []float32 // copied row, when idx == -1
}

type contextHandle struct {
	ptr      *C.struct_llama_context
	abort    *C.xg_abort
	tok, emb *C.struct_llama_batch
	m        *Model
}

// NewContext creates an inference context for m.
func NewContext(m *Model, opts ContextOptions) (*Context, error) {
	if err := m.acquire(); err != nil {
		return nil, fmt.Errorf("new context: %w", err)
	}
	nCtx := opts.NCtx
	if nCtx <= 0 {
		nCtx = min(m.nCtxTrain, DefaultMaxContext)
		if nCtx <= 0 {
			nCtx = DefaultMaxContext
		}
	}
	nBatch := opts.NBatch
	if nBatch <= 0 {
		nBatch = 512
	}
	nBatch = min(nBatch, nCtx)
	nUBatch := opts.NUBatch
	if nUBatch <= 0 {
		nUBatch = min(nBatch, 512)
	}
	nUBatch = min(nUBatch, nBatch)
	nSeq := max(opts.Seqs, 1)
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	threadsBatch := opts.ThreadsBatch
	if threadsBatch <= 0 {
		threadsBatch = threads
	}
	if max(threads, threadsBatch) > MaxThreads {
		m.release()
		return nil, fmt.Errorf("new context: %d threads, more than %d: %w", max(threads, threadsBatch), MaxThreads, ErrBadInput)
	}
	flash := -1
	switch opts.FlashAttention {
	case FlashOn:
		flash = 1
	case FlashOff:
		flash = 0
	}

	abort := (*C.xg_abort)(C.calloc(1, C.size_t(unsafe.Sizeof(C.xg_abort{}))))
	runtime.LockOSThread()
	C.xg_clear_error()
	ptr := C.xg_new_context(m.ptr, C.uint32_t(nCtx), C.uint32_t(nBatch), C.uint32_t(nUBatch),
		C.uint32_t(nSeq), C.int32_t(threads), C.int32_t(threadsBatch), C.int(flash), C.bool(opts.Unified), abort)
	msg := lastError()
	runtime.UnlockOSThread()
	if ptr == nil {
		C.free(unsafe.Pointer(abort))
		m.release()
		if msg == "" {
			msg = "llama.cpp could not create it"
		}
		return nil, fmt.Errorf("new context (n_ctx %d, n_batch %d) for %s: %s", nCtx, nBatch, m.path, msg)
	}
	c := &Context{
		m: m, ptr: ptr, mem: C.llama_get_memory(ptr), abort: abort,
		// llama.cpp pads the context to a multiple of 256; keep to the
		// size asked for, so limits do not depend on that rounding.
		nCtx: nCtx, nCtxSeq: min(int(C.llama_n_ctx_seq(ptr)), nCtx/nSeq),
		nBatch: int(C.llama_n_batch(ptr)), nSeq: nSeq,
		nEmbd: m.nEmbd, nVocab: m.nVocab,
		outs: map[int]outRow{},
	}
	if opts.Unified { // any sequence may fill the whole cache
		c.nCtxSeq = min(int(C.llama_n_ctx_seq(ptr)), nCtx)
	}
	c.tokBatch = C.xg_batch_new(C.int32_t(c.nBatch), 0, C.int32_t(nSeq))
	c.res = &contextHandle{ptr: ptr, abort: abort, tok: c.tokBatch, m: m}
	c.clean = runtime.AddCleanup(c, func(h *contextHandle) { h.free() }, c.res)
	return c, nil
}

func (h *contextHandle) free() {
	C.xg_batch_free(h.tok)
	C.xg_batch_free(h.emb)
	C.llama_free(h.ptr)
	C.free(unsafe.Pointer(h.abort))
	h.m.release()
}

// Close frees the context. It is idempotent.
func (c *Context) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return nil
	}
	c.clean.Stop()
	c.abortMu.Lock()
	c.abortGen++
	c.abortMu.Unlock()
	c.res.free()
	c.ptr, c.abort, c.tokBatch, c.embBatch = nil, nil, nil, nil
	c.outs, c.seqOuts, c.freeRows = nil, nil, nil
	return nil
}

// Model returns the model the context was created for.
func (c *Context) Model() *Model { return c.m }

// NCtx is the context size in positions, for all sequences together.
func (c *Context) NCtx() int { return c.nCtx }

// NCtxSeq is the number of positions one sequence can hold.
func (c *Context) NCtxSeq() int { return c.nCtxSeq }

// NBatch is the most positions one llama_decode call takes; Decode splits
// longer inputs into chunks of this size.
func (c *Context) NBatch() int { return c.nBatch }

// Input is one run of a Decode call: text tokens or soft tokens (rows of
// width Model.NEmbd), never both.
type Input struct {
	Tokens []Token
	// Embeddings holds soft tokens row after row; Width is the row width
	// and must equal the model's embedding width.
	Embeddings []float32
	Width      int
	// Logits asks for the logits of every position of this run. Decode always
	// computes the logits of the last position of the call.
	Logits bool
}

// TokenInput returns an Input of text tokens.
func TokenInput(tokens []Token) Input { return Input{Tokens: tokens} }

// EmbeddingInput returns an Input of soft tokens: rows of the given width,
// stored one after another.
func EmbeddingInput(rows []float32, width int) Input {
	return Input{Embeddings: rows, Width: width}
}

func (in Input) len(nEmbd int) int {
	if in.Tokens != nil {
		return len(in.Tokens)
	}
	return len(in.Embeddings) / nEmbd
}

// Decode appends the inputs to sequence 0, after its last position. See DecodeAt.
func (c *Context) Decode(ctx context.Context, inputs ...Input) error {
	return c.DecodeAt(ctx, 0, -1, inputs...)
}

// DecodeAt runs the model over the inputs of sequence seq, placing the first
// input at position pos and the rest consecutively after it. pos -1
// continues after the sequence's last position (Pos). A pos below Pos first
// removes the sequence's positions from pos on, so the inputs replace them;
// a pos above Pos is an error (ErrBadPosition), since llama.cpp needs
// consecutive positions.
//
// Inputs are split into chunks of at most NBatch positions; consecutive
// token runs share chunks. Logits are computed for the last position and for
// every position of runs with Logits set; read them with Logits.
//
// Cancelling ctx aborts the decode, also in the middle of a chunk (through
// llama.cpp's abort callback), and returns ctx.Err(). On any error the
// sequence is rolled back to its state before the call.
func (c *Context) DecodeAt(ctx context.Context, seq, pos int, inputs ...Input) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return fmt.Errorf("decode: %w", ErrClosed)
	}
	if seq < 0 || seq >= c.nSeq {
		return fmt.Errorf("decode: sequence %d out of range [0,%d): %w", seq, c.nSeq, ErrBadInput)
	}
	total := 0
	for i, in := range inputs {
		n, err := c.checkInput(in)
		if err != nil {
			return fmt.Errorf("decode: input %d: %w", i, err)
		}
		total += n
	}
	if total == 0 {
		return fmt.Errorf("decode: no inputs: %w", ErrBadInput)
	}
	next := c.posLocked(seq)
	switch {
	case pos < 0:
		pos = next
	case pos > next:
		return fmt.Errorf("decode: position %d of sequence %d, whose next position is %d: %w", pos, seq, next, ErrBadPosition)
	}
	if pos+total > c.nCtxSeq {
		return fmt.Errorf("decode: %d positions from position %d need %d, the context holds %d: %w",
			total, pos, pos+total, c.nCtxSeq, ErrContextFull)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// From here on the call changes the context; a rejected call above
	// left it (and the last logits) as they were.
	c.hasOutput = false
	clear(c.outs)
	c.recycleSeqOuts()
	if pos < next && !bool(C.llama_memory_seq_rm(c.mem, C.llama_seq_id(seq), C.llama_pos(pos), -1)) {
		return fmt.Errorf("decode: cannot remove positions from %d of sequence %d", pos, seq)
	}
	stop := c.abortOn(ctx)
	defer stop()
	if err := c.decodeChunks(ctx, seq, pos, total, inputs); err != nil {
		clear(c.outs)
		C.llama_memory_seq_rm(c.mem, C.llama_seq_id(seq), C.llama_pos(pos), -1)
		return err
	}
	c.outSeq = seq
	c.hasOutput = true
	return nil
}

func (c *Context) checkInput(in Input) (int, error) {
	switch {
	case in.Tokens != nil && in.Embeddings != nil:
		return 0, fmt.Errorf("both tokens and embeddings set: %w", ErrBadInput)
	case in.Tokens != nil:
		for i, t := range in.Tokens {
			if t < 0 || int(t) >= c.nVocab {
				return 0, fmt.Errorf("token %d at index %d is outside the vocabulary of %d: %w", t, i, c.nVocab, ErrBadInput)
			}
		}
		return len(in.Tokens), nil
	case in.Embeddings != nil:
		if in.Width != c.nEmbd {
			return 0, fmt.Errorf("soft tokens of width %d, the model's embedding width is %d: %w", in.Width, c.nEmbd, ErrBadEmbeddingWidth)
		}
		if len(in.Embeddings)%c.nEmbd != 0 {
			return 0, fmt.Errorf("%d soft-token values are not a whole number of rows of %d: %w", len(in.Embeddings), c.nEmbd, ErrBadEmbeddingWidth)
		}
		return len(in.Embeddings) / c.nEmbd, nil
	}
	return 0, nil
}

// decodeChunks fills the C batches and calls llama_decode per chunk.
func (c *Context) decodeChunks(ctx context.Context, seq, pos0, total int, inputs []Input) error {
	type chunk struct {
		batch *C.struct_llama_batch
		n     int
		pos   int // position of entry 0
	}
	var cur chunk
	done := 0 // positions decoded or staged before cur
	flush := func() error {
		if cur.n == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		final := done+cur.n == total
		flags := unsafe.Slice((*int8)(unsafe.Pointer(cur.batch.logits)), cur.n)
		if final {
			flags[cur.n-1] = 1
		}
		runtime.LockOSThread()
		rc := C.xg_decode_batch(c.ptr, cur.batch, C.int32_t(cur.n), C.int32_t(cur.pos), C.int32_t(seq))
		var msg string
		if rc != 0 {
			msg = lastError()
		}
		runtime.UnlockOSThread()
		if rc != 0 {
			return c.decodeError(ctx, rc, msg, cur.pos, cur.n)
		}
		for i, f := range flags {
			if f == 0 {
				continue
			}
			if final {
				c.outs[cur.pos+i] = outRow{idx: int32(i)}
				continue
			}
			p := C.llama_get_logits_ith(c.ptr, C.int32_t(i))
			if p == nil {
				return fmt.Errorf("decode: llama.cpp returned no logits for position %d", cur.pos+i)
			}
			row := make([]float32, c.nVocab)
			copy(row, unsafe.Slice((*float32)(unsafe.Pointer(p)), c.nVocab))
			c.outs[cur.pos+i] = outRow{idx: -1, data: row}
		}
		done += cur.n
		cur = chunk{}
		return nil
	}
	pos := pos0
	for _, in := range inputs {
		n := in.len(c.nEmbd)
		if in.Embeddings != nil && c.embBatch == nil {
			c.embBatch = C.xg_batch_new(C.int32_t(c.nBatch), C.int32_t(c.nEmbd), C.int32_t(c.nSeq))
			c.res.emb = c.embBatch
			if c.embBatch == nil || c.embBatch.embd == nil {
				return errors.New("decode: cannot allocate the soft-token batch")
			}
		}
		for off := 0; off < n; {
			want := c.tokBatch
			if in.Embeddings != nil {
				want = c.embBatch
			}
			if cur.batch != want || cur.n == c.nBatch {
				if err := flush(); err != nil {
					return err
				}
				cur = chunk{batch: want, pos: pos}
			}
			k := min(n-off, c.nBatch-cur.n)
			if in.Tokens != nil {
				dst := unsafe.Slice((*Token)(unsafe.Pointer(cur.batch.token)), c.nBatch)
				copy(dst[cur.n:cur.n+k], in.Tokens[off:off+k])
			} else {
				dst := unsafe.Slice((*float32)(unsafe.Pointer(cur.batch.embd)), c.nBatch*c.nEmbd)
				copy(dst[cur.n*c.nEmbd:(cur.n+k)*c.nEmbd], in.Embeddings[off*c.nEmbd:(off+k)*c.nEmbd])
			}
			flags := unsafe.Slice((*int8)(unsafe.Pointer(cur.batch.logits)), c.nBatch)
			var f int8
			if in.Logits {
				f = 1
			}
			for i := cur.n; i < cur.n+k; i++ {
				flags[i] = f
			}
			cur.n += k
			off += k
			pos += k
		}
	}
	return flush()
}

func (c *Context) decodeError(ctx context.Context, rc C.int32_t, msg string, pos, n int) error {
	where := fmt.Sprintf("decode positions %d-%d", pos, pos+n-1)
	switch rc {
	case 1:
		return fmt.Errorf("%s: no room in the KV cache: %w", where, ErrContextFull)
	case 2:
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("%s: aborted", where)
	}
	if msg == "" {
		msg = "llama.cpp reported an error"
	}
	if rc == -1 {
		return fmt.Errorf("%s: %s: %w", where, msg, ErrBadInput)
	}
	return fmt.Errorf("%s: %s (code %d)", where, msg, int(rc))
}

// Logits returns a copy of the logits (one per vocabulary entry) that the
// last Decode computed at position pos of its sequence: its last position,
// or any position of a run with Logits set.
func (c *Context) Logits(pos int) ([]float32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return nil, fmt.Errorf("logits: %w", ErrClosed)
	}
	r, ok := c.outs[pos]
	if !ok {
		return nil, fmt.Errorf("logits at position %d: %w", pos, ErrNoLogits)
	}
	if r.idx < 0 {
		return append([]float32(nil), r.data...), nil
	}
	p := C.llama_get_logits_ith(c.ptr, C.int32_t(r.idx))
	if p == nil {
		return nil, fmt.Errorf("logits at position %d: %w", pos, ErrNoLogits)
	}
	return append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(p)), c.nVocab)...), nil
}

// Pos returns the next position of sequence seq: one past its last decoded
// position, 0 when it is empty.
func (c *Context) Pos(seq int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil || seq < 0 || seq >= c.nSeq {
		return 0
	}
	return c.posLocked(seq)
}

func (c *Context) posLocked(seq int) int {
	return int(C.llama_memory_seq_pos_max(c.mem, C.llama_seq_id(seq))) + 1
}

// RemoveRange removes positions [p0, p1) of sequence seq from the KV cache;
// p1 < 0 means to the end, seq < 0 means every sequence. Positions after
// the range keep their numbers.
func (c *Context) RemoveRange(seq, p0, p1 int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return fmt.Errorf("remove range: %w", ErrClosed)
	}
	c.hasOutput = false
	if !bool(C.llama_memory_seq_rm(c.mem, C.llama_seq_id(seq), C.llama_pos(p0), C.llama_pos(p1))) {
		return fmt.Errorf("remove positions [%d,%d) of sequence %d: llama.cpp cannot remove part of this sequence", p0, p1, seq)
	}
	return nil
}

// CopySeq makes positions [p0, p1) of sequence src also part of sequence dst
// (sharing the cache cells); p1 < 0 means to the end.
func (c *Context) CopySeq(src, dst, p0, p1 int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return fmt.Errorf("copy sequence: %w", ErrClosed)
	}
	if src < 0 || src >= c.nSeq || dst < 0 || dst >= c.nSeq {
		return fmt.Errorf("copy sequence %d to %d: out of range [0,%d): %w", src, dst, c.nSeq, ErrBadInput)
	}
	C.llama_memory_seq_cp(c.mem, C.llama_seq_id(src), C.llama_seq_id(dst), C.llama_pos(p0), C.llama_pos(p1))
	return nil
}

// KeepSeq removes every sequence but seq from the KV cache.
func (c *Context) KeepSeq(seq int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return fmt.Errorf("keep sequence: %w", ErrClosed)
	}
	c.hasOutput = false
	C.llama_memory_seq_keep(c.mem, C.llama_seq_id(seq))
	return nil
}

// Clear empties the KV cache of every sequence.
func (c *Context) Clear() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return fmt.Errorf("clear: %w", ErrClosed)
	}
	c.hasOutput = false
	clear(c.outs)
	c.recycleSeqOuts()
	C.llama_memory_clear(c.mem, true)
	return nil
}

// SaveSeq returns the KV-cache state of sequence seq, for LoadSeq.
func (c *Context) SaveSeq(seq int) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return nil, fmt.Errorf("save sequence: %w", ErrClosed)
	}
	n := C.llama_state_seq_get_size(c.ptr, C.llama_seq_id(seq))
	buf := make([]byte, int(n))
	if n == 0 {
		return buf, nil
	}
	got := C.llama_state_seq_get_data(c.ptr, (*C.uint8_t)(unsafe.Pointer(&buf[0])), n, C.llama_seq_id(seq))
	if got == 0 {
		return nil, fmt.Errorf("save sequence %d: llama.cpp wrote no state", seq)
	}
	return buf[:got], nil
}

// LoadSeq replaces sequence seq with a state SaveSeq returned (from this or
// another context of the same model).
func (c *Context) LoadSeq(seq int, state []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return fmt.Errorf("load sequence: %w", ErrClosed)
	}
	if len(state) == 0 {
		return fmt.Errorf("load sequence %d: empty state: %w", seq, ErrBadInput)
	}
	c.hasOutput = false
	C.llama_memory_seq_rm(c.mem, C.llama_seq_id(seq), -1, -1)
	runtime.LockOSThread()
	C.xg_clear_error()
	n := C.llama_state_seq_set_data(c.ptr, (*C.uint8_t)(unsafe.Pointer(&state[0])), C.size_t(len(state)), C.llama_seq_id(seq))
	msg := lastError()
	runtime.UnlockOSThread()
	if n == 0 {
		return fmt.Errorf("load sequence %d from %d bytes of state: %s: %w", seq, len(state), msg, ErrBadInput)
	}
	return nil
}
