package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/textstream"
	"github.com/xraygpt-go/xraygpt/llama"
)

// ErrBusy means the scheduler's queue is full: the request was not taken.
var ErrBusy = errors.New("engine: all slots busy and the queue is full")

// ErrClosed means the scheduler was closed before the request was answered.
var ErrClosed = errors.New("engine: scheduler closed")

// SchedulerOptions configures NewScheduler. The zero value serves one
// conversation at a time with a default context.
type SchedulerOptions struct {
	// Slots is how many sequences generate at once, sharing one llama.cpp
	// context and its KV cache; 0: 1.
	Slots int
	// Queue is how many requests may wait for a slot; a request beyond it
	// gets ErrBusy. 0: 4 x Slots; negative: none may wait.
	Queue int
	// ContextSize is the positions one slot holds (prompt and answer); 0:
	// the engine's ContextSize. The KV cache holds Slots x ContextSize.
	ContextSize int
	// PrefillChunk bounds the prompt positions decoded in one step, so that
	// a long prompt does not stall the sequences that are generating; 0:
	// the context's batch size.
	PrefillChunk int
	// Draft, when > 0, turns on speculative decoding: up to Draft tokens
	// proposed from n-gram matches (the conversation, earlier answers,
	// DraftCorpus) are verified in the same step as the next token (see
	// speculate). Greedy text is the same as without it, and so is the
	// distribution of sampled text (with a seed, nearly always the text
	// itself: on the CPU the context then runs other attention kernels,
	// whose logits differ slightly).
	Draft int
	// DraftCorpus holds report texts to draft from (e.g. a hospital's
	// earlier reports).
	DraftCorpus []string
}

// Request is one answer to generate.
type Request struct {
	// Image is the image the conversation is about (soft tokens).
	Image *Image
	// Turns is the conversation: earlier turns are replayed with their
	// answers; the last turn's question is the one answered (its Answer is
	// ignored).
	Turns []Turn
	// Gen is the sampling settings; Gen.Stop adds stop strings to "###".
	Gen GenerateOptions
	// OnText, when set, receives the answer as it is generated, cleaned as
	// Answer.Text is (the pieces join into Answer.Text). It is called from
	// the scheduler's goroutine and must not block for long.
	OnText func(string)

	fresh bool // do not reuse a slot's cache of this conversation
}

// SchedulerStats is a snapshot of a scheduler's load and totals.
type SchedulerStats struct {
	Slots, Busy, Queued int
	// Capacity is how many requests the scheduler takes at once: Slots
	// generating and its queue's places; Busy+Queued >= Capacity means the
	// next Do gets ErrBusy.
	Capacity int
	// PromptTokens and GeneratedTokens count the positions decoded and the
	// tokens generated since the scheduler started.
	PromptTokens, GeneratedTokens int64
	// ReusedPositions counts prompt positions taken from the KV cache
	// instead of being decoded: the shared system prompt and, for
	// follow-up turns, the image and earlier turns.
	ReusedPositions int64
	// Steps counts decode steps; BatchedTokens the generated tokens that
	// shared a step with another sequence's.
	Steps, BatchedTokens int64
	// DraftTokens counts the draft tokens proposed, DraftAccepted those the
	// model confirmed.
	DraftTokens, DraftAccepted int64
}

// Scheduler serves many conversations at once from one language model and
// one llama.cpp context: continuous batching. Requests wait in a bounded
// FIFO queue for a free slot (a sequence of the context); every decode step
// packs the prompt of newly admitted sequences and the next token of every
// generating one into one batch; each sequence is sampled with its own
// sampler and seed and streams to its own callback; a slot is freed when
// its answer ends or its request is cancelled. XrayGPT's system prompt is
// decoded once and shared by every sequence (its KV cells are referenced,
// not copied), and a request that continues a conversation a slot still
// holds reuses that slot's cache. Its methods are safe for concurrent use.
type Scheduler struct {
	e      *Engine
	lctx   *llama.Context
	opts   SchedulerOptions
	queue  chan *job
	quit   chan struct{}
	done   chan struct{}
	closed sync.Once

	flash     llama.FlashAttention // the context's attention kernels
	slots     []*slot
	prefixSeq int           // the sequence holding the shared head
	head      []llama.Token // the shared head's tokens, decoded in prefixSeq

	queued                     atomic.Int64
	busy                       atomic.Int64
	promptTokens, generated    atomic.Int64
	reused, steps, batchedToks atomic.Int64
	draftTokens, draftAccepted atomic.Int64
	drafts                     drafter
	useClock                   int64 // admission counter, for least-recently-used slots
}

// job is a request in flight.
type job struct {
	ctx   context.Context
	req   Request
	state atomic.Int32 // jobQueued, jobTaken or jobAbandoned
	done  chan struct{}
	ans   *Answer
	err   error
}

const (
	jobQueued int32 = iota
	jobTaken
	jobAbandoned
)

// slot is one sequence of the context and what its KV cache holds.
type slot struct {
	seq     int
	lastUse int64

	// The cache: the shared head (when hasHead), then the image (when
	// imgHash is set), then text.
	hasHead bool
	imgHash [32]byte
	imgRows int
	text    []llama.Token

	j *job
	// Prefill: what remains to be decoded before generation starts.
	pending []llama.Input
	pos     int // the sequence's next position
	// Generation.
	smpl      *llama.Sampler
	detok     *llama.Detokenizer
	stop      *textstream.Stop
	clean     AnswerCleaner
	out       strings.Builder
	tokens    []llama.Token
	maxNew    int
	last      llama.Token // sampled, not yet decoded
	promptLen int
	timings   Timings
	genStart  time.Time
	dropped   int
}

// NewScheduler creates a scheduler with its own llama.cpp context and
// starts its decode loop. Close stops it.
func (e *Engine) NewScheduler(opts SchedulerOptions) (*Scheduler, error) {
	if opts.Slots <= 0 {
		opts.Slots = 1
	}
	if opts.Queue == 0 {
		opts.Queue = 4 * opts.Slots
	}
	if opts.Queue < 0 {
		opts.Queue = 0
	}
	if opts.ContextSize <= 0 {
		opts.ContextSize = orDefault(e.opts.ContextSize, DefaultContextSize)
	}
	flash := e.flashAttention(opts.Draft)
	lctx, err := llama.NewContext(e.llm, llama.ContextOptions{
		NCtx:           opts.Slots * opts.ContextSize,
		NBatch:         e.opts.BatchSize,
		Seqs:           opts.Slots + 1, // one more for the shared head
		Threads:        e.opts.Threads,
		Unified:        true,
		FlashAttention: flash,
	})
	if err != nil {
		return nil, fmt.Errorf("new scheduler: %w", err)
	}
	if opts.PrefillChunk <= 0 {
		opts.PrefillChunk = lctx.NBatch()
	}
	s := &Scheduler{
		e: e, lctx: lctx, opts: opts, flash: flash,
		queue:     make(chan *job, opts.Queue+opts.Slots),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
		prefixSeq: opts.Slots,
	}
	for i := range opts.Slots {
		s.slots = append(s.slots, &slot{seq: i})
	}
	for _, r := range opts.DraftCorpus {
		toks, err := e.llm.Tokenize(" "+r, false, false)
		if err != nil {
			lctx.Close()
			return nil, fmt.Errorf("new scheduler: draft corpus: %w", err)
		}
		s.drafts.corpus = append(s.drafts.corpus, toks)
	}
	go s.loop()
	return s, nil
}

// Close stops the scheduler: requests in flight or queued end with
// ErrClosed. It is safe to call more than once.
func (s *Scheduler) Close() error {
	s.closed.Do(func() { close(s.quit) })
	<-s.done
	return s.lctx.Close()
}

// Stats returns the scheduler's current load and totals.
func (s *Scheduler) Stats() SchedulerStats {
	return SchedulerStats{
		Slots: s.opts.Slots, Busy: int(s.busy.Load()), Queued: int(s.queued.Load()),
		Capacity:     s.opts.Slots + s.opts.Queue,
		PromptTokens: s.promptTokens.Load(), GeneratedTokens: s.generated.Load(),
		ReusedPositions: s.reused.Load(), Steps: s.steps.Load(), BatchedTokens: s.batchedToks.Load(),
		DraftTokens: s.draftTokens.Load(), DraftAccepted: s.draftAccepted.Load(),
	}
}

// Do queues req, waits for a slot and returns the answer. It returns
// ErrBusy at once when the queue is full. Cancelling ctx ends the request:
// a queued one leaves the queue, a running one frees its slot at the next
// step without disturbing the others.
func (s *Scheduler) Do(ctx context.Context, req Request) (*Answer, error) {
	if req.Image == nil {
		return nil, errors.New("ask: no image")
	}
	if len(req.Turns) == 0 {
		return nil, fmt.Errorf("ask: %w", ErrEmptyQuestion)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j := &job{ctx: ctx, req: req, done: make(chan struct{})}
	if s.queued.Add(1)+s.busy.Load() > int64(s.opts.Slots+s.opts.Queue) {
		s.queued.Add(-1)
		return nil, ErrBusy
	}
	select {
	case s.queue <- j:
	case <-s.quit:
		s.queued.Add(-1)
		return nil, ErrClosed
	default:
		s.queued.Add(-1)
		return nil, ErrBusy
	}
	select {
	case <-j.done:
		return j.ans, j.err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			s.queued.Add(-1)
			return nil, ctx.Err()
		}
		<-j.done // the loop ends it at its next step
		return j.ans, j.err
	}
}

// loop is the scheduler's goroutine: it owns the context and the slots.
func (s *Scheduler) loop() {
	defer close(s.done)
	defer s.failAll(ErrClosed)
	for {
		active := s.activeCount()
		if active == 0 { // idle: wait for work
			select {
			case j := <-s.queue:
				s.admit(j)
			case <-s.quit:
				return
			}
		}
		// Take queued requests while slots are free, oldest first.
	admit:
		for s.activeCount() < len(s.slots) {
			select {
			case j := <-s.queue:
				s.admit(j)
			default:
				break admit
			}
		}
		select {
		case <-s.quit:
			return
		default:
		}
		if s.activeCount() > 0 {
			s.step()
		}
	}
}

func (s *Scheduler) activeCount() int {
	n := 0
	for _, sl := range s.slots {
		if sl.j != nil {
			n++
		}
	}
	return n
}

// failAll ends every running and queued request with err.
func (s *Scheduler) failAll(err error) {
	for _, sl := range s.slots {
		if sl.j != nil {
			s.finish(sl, err)
		}
	}
	for {
		select {
		case j := <-s.queue:
			if j.state.CompareAndSwap(jobQueued, jobTaken) {
				s.queued.Add(-1)
				j.err = err
				close(j.done)
			}
		default:
			return
		}
	}
}

// admit gives a queued request a slot and plans its prompt.
func (s *Scheduler) admit(j *job) {
	if !j.state.CompareAndSwap(jobQueued, jobTaken) {
		return // abandoned while queued
	}
	s.queued.Add(-1)
	if err := j.ctx.Err(); err != nil {
		j.err = err
		close(j.done)
		return
	}
	headStart := time.Now()
	headDecoded, err := s.ensureHead()
	if err != nil {
		j.err = err
		close(j.done)
		return
	}
	conv := &Conversation{System: SystemPrompt, Turns: append([]Turn(nil), j.req.Turns...)}
	conv.Turns[len(conv.Turns)-1].Answer = ""
	text, dropped, err := s.fit(conv, j.req.Image.Rows, j.req.Gen)
	if err != nil {
		j.err = err
		close(j.done)
		return
	}
	sl := s.pickSlot(j.req.Image.Hash, text)
	if j.req.fresh {
		sl.imgHash = [32]byte{}
	}
	s.busy.Add(1)
	if err := s.prepare(sl, j, text, dropped); err != nil {
		s.finish(sl, err)
		return
	}
	if headDecoded > 0 { // this request paid for the shared head
		sl.timings.PromptTokens += headDecoded
		sl.timings.Prompt += time.Since(headStart)
	}
	sl.timings.CachedTokens = sl.pos - headDecoded
	s.reused.Add(int64(sl.timings.CachedTokens))
}

// ensureHead decodes the shared head (the system prompt up to the image)
// into its own sequence, once; it returns the positions it decoded.
func (s *Scheduler) ensureHead() (int, error) {
	if s.head != nil {
		return 0, nil
	}
	before, _ := NewConversation().Prompt()
	head, err := s.e.llm.Tokenize(before, true, false)
	if err != nil {
		return 0, fmt.Errorf("tokenize prompt: %w", err)
	}
	key, loaded := s.loadHead(head)
	if loaded {
		s.head = head
		return 0, nil
	}
	if err := s.lctx.DecodeAt(context.Background(), s.prefixSeq, 0, llama.TokenInput(head)); err != nil {
		return 0, fmt.Errorf("decode the system prompt: %w", err)
	}
	s.promptTokens.Add(int64(len(head)))
	s.head = head
	s.saveHead(key)
	return len(head), nil
}

// fit tokenizes the text after the image, dropping the oldest turns until
// the prompt and the answer fit a slot, as XrayGPT drops old context.
func (s *Scheduler) fit(conv *Conversation, rows int, gen GenerateOptions) ([]llama.Token, int, error) {
	maxNew := gen.maxTokens()
	for {
		_, after := conv.Prompt()
		text, err := s.e.llm.Tokenize(after, false, false)
		if err != nil {
			return nil, 0, fmt.Errorf("tokenize prompt: %w", err)
		}
		if len(s.head)+rows+len(text)+maxNew <= s.opts.ContextSize {
			return text, conv.Dropped, nil
		}
		if !conv.DropOldest() {
			return nil, 0, fmt.Errorf("%d prompt positions + %d new tokens > context of %d: %w",
				len(s.head)+rows+len(text), maxNew, s.opts.ContextSize, ErrPromptTooLong)
		}
	}
}

// reuse is how many prompt positions slot sl's cache already holds for a
// prompt of the shared head, image h and text.
func (s *Scheduler) reuse(sl *slot, h [32]byte, text []llama.Token) int {
	if !sl.hasHead {
		return 0
	}
	n := len(s.head)
	if sl.imgHash != h || h == ([32]byte{}) {
		return n
	}
	return n + sl.imgRows + commonPrefix(sl.text, text)
}

// pickSlot chooses the idle slot whose cache holds the longest part of the
// prompt, else the least recently used one.
func (s *Scheduler) pickSlot(h [32]byte, text []llama.Token) *slot {
	var best *slot
	bestReuse := -1
	for _, sl := range s.slots {
		if sl.j != nil {
			continue
		}
		r := s.reuse(sl, h, text)
		if r > bestReuse || (r == bestReuse && sl.lastUse < best.lastUse) {
			best, bestReuse = sl, r
		}
	}
	return best
}

// prepare sets slot sl up for job j: it keeps what the cache has of the
// prompt, links in the shared head and plans the rest.
func (s *Scheduler) prepare(sl *slot, j *job, text []llama.Token, dropped int) error {
	img := j.req.Image
	s.useClock++
	sl.lastUse = s.useClock
	sl.j = j
	sl.timings = Timings{Load: s.e.load, Vision: img.Vision}
	sl.dropped = dropped
	sl.promptLen = len(s.head) + img.Rows + len(text)
	reuse := s.reuse(sl, img.Hash, text)
	nHead := len(s.head)
	if reuse > nHead { // the same image: keep it and the text in common
		common := reuse - nHead - img.Rows
		if common == len(text) { // nothing new: decode the last token again for its logits
			common--
		}
		sl.text = sl.text[:common]
		sl.pos = nHead + img.Rows + common
		sl.pending = []llama.Input{llama.TokenInput(text[common:])}
	} else {
		if !sl.hasHead {
			if err := s.lctx.RemoveRange(sl.seq, 0, -1); err != nil {
				return err
			}
			if err := s.lctx.CopySeq(s.prefixSeq, sl.seq, 0, nHead); err != nil {
				return err
			}
			sl.hasHead = true
		}
		sl.imgHash, sl.imgRows, sl.text = [32]byte{}, img.Rows, nil
		sl.pos = nHead
		sl.pending = []llama.Input{llama.EmbeddingInput(img.Tokens, img.Width), llama.TokenInput(text)}
	}
	if err := s.lctx.RemoveRange(sl.seq, sl.pos, -1); err != nil {
		sl.forget()
		return err
	}
	sl.genStart = time.Time{}
	gen := j.req.Gen
	sl.maxNew = gen.maxTokens()
	smpl, err := llama.NewSampler(s.e.llm, gen.sampler())
	if err != nil {
		return fmt.Errorf("sampler: %w", err)
	}
	sl.smpl = smpl
	sl.detok = s.e.llm.NewDetokenizer()
	sl.stop = textstream.NewStop(append([]string{Separator}, gen.Stop...))
	sl.clean = AnswerCleaner{}
	sl.out.Reset()
	sl.tokens = nil
	sl.last = llama.NoToken
	return nil
}

// step runs one decode: a chunk of every prefilling slot's prompt and the
// last sampled token of every generating slot, then samples each slot whose
// last position got logits.
func (s *Scheduler) step() {
	var runs []llama.Run
	type owner struct {
		sl  *slot
		gen bool // the run is a generated token, not prompt
	}
	var owners []owner // owners[i] is the slot of runs[i]
	generating := 0
	for _, sl := range s.slots {
		if sl.j == nil {
			continue
		}
		if err := sl.j.ctx.Err(); err != nil { // cancelled: free the slot now
			s.finish(sl, err)
			continue
		}
		if len(sl.pending) == 0 {
			in := llama.TokenInput(append([]llama.Token{sl.last}, s.draftFor(sl)...))
			in.Logits = true
			runs = append(runs, llama.Run{Seq: sl.seq, Pos: sl.pos, Input: in})
			owners = append(owners, owner{sl, true})
			generating++
		}
	}
	budget := s.opts.PrefillChunk
	for _, sl := range s.slots {
		pos := sl.pos
		for sl.j != nil && len(sl.pending) > 0 && budget > 0 {
			in := sl.pending[0]
			n := inputLen(in)
			k := min(n, budget)
			part, rest := splitInput(in, k)
			whole := k == n
			runs = append(runs, llama.Run{Seq: sl.seq, Pos: pos, Input: part, Logits: whole && len(sl.pending) == 1})
			owners = append(owners, owner{sl, false})
			pos += k
			budget -= k
			if whole {
				sl.pending = sl.pending[1:]
			} else {
				sl.pending[0] = rest
			}
			// A soft-token run after a token run of the same sequence waits
			// for the next step: DecodeRuns decodes soft tokens first.
			if len(sl.pending) > 0 && sl.pending[0].Embeddings != nil && part.Tokens != nil {
				break
			}
		}
	}
	if len(runs) == 0 {
		return
	}
	start := time.Now()
	err := s.lctx.DecodeRuns(context.Background(), runs)
	took := time.Since(start)
	s.steps.Add(1)
	if generating > 1 {
		s.batchedToks.Add(int64(generating))
	}
	if err != nil {
		// A failed decode (KV cache full, ...) ends every request in it;
		// llama.cpp rolled the sequences back, which their slots forget.
		for _, o := range owners {
			if o.sl.j != nil {
				s.finish(o.sl, fmt.Errorf("decode: %w", err))
			}
			o.sl.forget()
		}
		return
	}
	inStep := map[*slot]bool{}
	for i, r := range runs {
		sl := owners[i].sl
		n := inputLen(r.Input)
		if r.Input.Tokens != nil {
			sl.text = append(sl.text, r.Input.Tokens...)
		}
		sl.pos += n
		if r.Input.Embeddings != nil && sl.pos == len(s.head)+sl.imgRows {
			sl.imgHash = sl.j.req.Image.Hash // the whole image is cached
		}
		if !owners[i].gen {
			sl.timings.PromptTokens += n
			s.promptTokens.Add(int64(n))
			if !inStep[sl] {
				sl.timings.Prompt += took
				inStep[sl] = true
			}
		}
	}
	for i, r := range runs {
		o := owners[i]
		switch {
		case o.gen:
			s.verify(o.sl, r.Pos, r.Input.Tokens[1:])
		case r.Logits: // the prompt is complete
			o.sl.genStart = time.Now()
			s.sampleAt(o.sl, r.Pos+len(r.Input.Tokens)-1)
		}
	}
}

// draftFor proposes draft tokens for a generating slot: none unless the
// scheduler drafts, and none past the answer's token budget or the slot's
// context.
func (s *Scheduler) draftFor(sl *slot) []llama.Token {
	if s.opts.Draft <= 0 {
		return nil
	}
	k := min(s.opts.Draft, sl.maxNew-len(sl.tokens)-1, s.opts.ContextSize-sl.pos-2)
	if k <= 0 {
		return nil
	}
	d := s.drafts.draft(append(sl.text[:len(sl.text):len(sl.text)], sl.last), k)
	s.draftTokens.Add(int64(len(d)))
	sl.timings.DraftTokens += len(d)
	return d
}

// sampleAt picks slot sl's next token from the logits at position pos and
// streams its text; it reports whether the slot goes on generating.
func (s *Scheduler) sampleAt(sl *slot, pos int) (llama.Token, bool) {
	t, err := sl.smpl.SampleSeq(s.lctx, sl.seq, pos)
	if err != nil {
		s.finish(sl, fmt.Errorf("generate: %w", err))
		return t, false
	}
	sl.tokens = append(sl.tokens, t)
	s.generated.Add(1)
	if s.e.llm.IsEOG(t) {
		s.end(sl, llama.StopEOG, "")
		return t, false
	}
	piece, hit := sl.stop.Push(sl.detok.Add(t))
	if hit {
		s.emit(sl, piece)
		s.end(sl, llama.StopString, "")
		return t, false
	}
	s.emit(sl, piece)
	switch {
	case len(sl.tokens) >= sl.maxNew:
		s.end(sl, llama.StopMaxTokens, sl.detok.Flush())
		return t, false
	case pos+1 >= s.opts.ContextSize:
		s.end(sl, llama.StopContextFull, sl.detok.Flush())
		return t, false
	}
	sl.last = t
	return t, true
}

// verify samples a generating slot after a step that decoded its last token
// and draft tokens d at positions pos0.. (see speculate), and removes the
// cache positions of the rejected drafts. With no draft this is one
// ordinary sampling step.
func (s *Scheduler) verify(sl *slot, pos0 int, d []llama.Token) {
	accepted := speculate(d, func(i int) (llama.Token, bool) {
		if i > 0 { // d[i-1] was accepted; count it before sampleAt may end the answer
			sl.timings.DraftAccepted++
		}
		return s.sampleAt(sl, pos0+i)
	})
	s.draftAccepted.Add(int64(accepted))
	if rejected := len(d) - accepted; rejected > 0 {
		sl.pos -= rejected
		sl.text = sl.text[:len(sl.text)-rejected]
		if err := s.lctx.RemoveRange(sl.seq, sl.pos, -1); err != nil && sl.j != nil {
			s.finish(sl, err)
			sl.forget()
		}
	}
}

// emit passes generated text through the cleaner to the answer and the
// request's callback.
func (s *Scheduler) emit(sl *slot, text string) {
	if out := sl.clean.Push(text); out != "" {
		sl.out.WriteString(out)
		if sl.j.req.OnText != nil {
			sl.j.req.OnText(out)
		}
	}
}

// end completes slot sl's answer: rest is undecoded text still held by the
// detokenizer.
func (s *Scheduler) end(sl *slot, reason llama.StopReason, rest string) {
	piece, hit := sl.stop.Push(rest)
	if !hit {
		piece += sl.stop.Flush()
	}
	s.emit(sl, piece)
	if out := sl.clean.Flush(); out != "" {
		sl.out.WriteString(out)
		if sl.j.req.OnText != nil {
			sl.j.req.OnText(out)
		}
	}
	s.drafts.remember(sl.tokens)
	t := sl.timings
	t.GeneratedTokens = len(sl.tokens)
	t.Generate = time.Since(sl.genStart)
	sl.j.ans = &Answer{
		Text: sl.out.String(), Tokens: sl.tokens, Stop: reason, Timings: t,
		DroppedTurns: sl.dropped, PromptLength: sl.promptLen,
	}
	s.finish(sl, nil)
}

// finish hands slot sl's job its result and frees the slot. On error the
// slot's cache is kept as far as it was decoded.
func (s *Scheduler) finish(sl *slot, err error) {
	j := sl.j
	if j == nil {
		return
	}
	if err != nil {
		j.err = err
		if j.ans == nil && len(sl.tokens) > 0 {
			j.ans = &Answer{Text: sl.out.String(), Tokens: sl.tokens, Timings: sl.timings, PromptLength: sl.promptLen}
		}
	}
	if sl.smpl != nil {
		sl.smpl.Close()
		sl.smpl = nil
	}
	sl.j, sl.pending = nil, nil
	s.busy.Add(-1)
	close(j.done)
}

// forget marks the slot's cache as unknown; the next request rebuilds it.
func (sl *slot) forget() {
	sl.hasHead, sl.imgHash, sl.imgRows, sl.text = false, [32]byte{}, 0, nil
}

func inputLen(in llama.Input) int {
	if in.Tokens != nil {
		return len(in.Tokens)
	}
	return len(in.Embeddings) / in.Width
}

// splitInput splits an input after its first k positions.
func splitInput(in llama.Input, k int) (llama.Input, llama.Input) {
	if in.Tokens != nil {
		return llama.TokenInput(in.Tokens[:k]), llama.TokenInput(in.Tokens[k:])
	}
	w := in.Width
	return llama.EmbeddingInput(in.Embeddings[:k*w], w), llama.EmbeddingInput(in.Embeddings[k*w:], w)
}
