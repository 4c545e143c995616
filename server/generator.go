package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/xraygpt-go/xraygpt/engine"
	"github.com/xraygpt-go/xraygpt/imaging"
	"github.com/xraygpt-go/xraygpt/llama"
)

// errBusy means every slot is generating and the queue is full (HTTP 429).
// It stands for engine.ErrBusy until the engine's scheduler lands.
var errBusy = errors.New("server busy: every slot is generating and the queue is full")

// genRequest is one answer to generate: engine.Request's shape.
type genRequest struct {
	Image *engine.Image
	// Turns is the conversation: the last turn's Answer is empty (the
	// question to answer), earlier turns are replayed.
	Turns []engine.Turn
	Gen   engine.GenerateOptions
	Stop  []string // extra stop strings
	// OnText receives the answer's text piece by piece; the pieces
	// concatenated equal the answer's Text.
	OnText func(string)
}

// genAnswer is the result of a genRequest.
type genAnswer struct {
	Text         string
	Tokens       int // generated tokens
	PromptLength int // the whole prompt's positions
	Stop         llama.StopReason
}

// genStats is what the slots are doing.
type genStats struct{ Slots, Busy, Queued int }

// generator is what the server needs from the engine: the method shapes of
// engine.Scheduler (Do, Stats, EncodeBytes on the Engine).
type generator interface {
	Do(ctx context.Context, req genRequest) (*genAnswer, error)
	Stats() genStats
	EncodeBytes(ctx context.Context, name string, data []byte) (*engine.Image, error)
}

// chatPool is a stand-in for the engine's continuous-batching scheduler
// (issue 11): Slots engine.Chats, each with its own llama.cpp context, run
// at once; up to Queue more requests wait; more are refused with errBusy. A
// request goes to a free chat that last held the same image when there is
// one, so a follow-up reuses the KV cache of the system prompt, the image
// and the common part of the conversation.
type chatPool struct {
	e     *engine.Engine
	slots int
	queue int
	sem   chan struct{} // one token per slot

	mu      sync.Mutex
	free    []*poolChat
	waiting int
	busy    int

	imgMu  sync.Mutex
	images map[[32]byte]*engine.Image
	order  [][32]byte
}

type poolChat struct {
	chat *engine.Chat
	hash [32]byte // image of the last request
}

// poolImages is how many images' soft tokens the pool keeps.
const poolImages = 16

// newChatPool opens slots chats on e; queue <= 0 means 4*slots.
func newChatPool(e *engine.Engine, slots, queue int) (*chatPool, error) {
	if slots <= 0 {
		slots = 1
	}
	if queue <= 0 {
		queue = 4 * slots
	}
	p := &chatPool{e: e, slots: slots, queue: queue, sem: make(chan struct{}, slots), images: map[[32]byte]*engine.Image{}}
	for range slots {
		c, err := e.NewChat()
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("slot %d: %w", len(p.free), err)
		}
		p.free = append(p.free, &poolChat{chat: c})
	}
	return p, nil
}

// Close releases the chats (call it once no request runs).
func (p *chatPool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	for _, c := range p.free {
		err = errors.Join(err, c.chat.Close())
	}
	p.free = nil
	return err
}

// Stats reports the slots, how many generate and how many wait.
func (p *chatPool) Stats() genStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return genStats{Slots: p.slots, Busy: p.busy, Queued: p.waiting}
}

// EncodeBytes decodes PNG, JPEG or DICOM bytes with the CLI's limits and
// returns their soft tokens, cached by the bytes' SHA-256.
func (p *chatPool) EncodeBytes(ctx context.Context, name string, data []byte) (*engine.Image, error) {
	hash := sha256.Sum256(data)
	p.imgMu.Lock()
	img := p.images[hash]
	p.imgMu.Unlock()
	if img != nil {
		c := *img
		c.Path, c.Vision = name, 0
		return &c, nil
	}
	var warnings []string
	decoded, err := imaging.Limits{Warn: func(w string) { warnings = append(warnings, w) }}.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	img, err = p.e.EncodeImage(ctx, decoded)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	img.Path, img.Hash, img.Warnings = name, hash, warnings
	p.imgMu.Lock()
	if _, ok := p.images[hash]; !ok {
		if len(p.order) >= poolImages {
			delete(p.images, p.order[0])
			p.order = p.order[1:]
		}
		p.images[hash] = img
		p.order = append(p.order, hash)
	}
	p.imgMu.Unlock()
	c := *img
	return &c, nil
}

// Do waits for a free chat and answers req on it.
func (p *chatPool) Do(ctx context.Context, req genRequest) (*genAnswer, error) {
	if req.Image == nil || len(req.Turns) == 0 {
		return nil, errors.New("generate: no image or no question")
	}
	p.mu.Lock()
	if p.busy+p.waiting >= p.slots+p.queue {
		p.mu.Unlock()
		return nil, errBusy
	}
	p.waiting++
	p.mu.Unlock()
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
		return nil, ctx.Err()
	}
	p.mu.Lock()
	p.waiting--
	p.busy++
	pc := p.take(req.Image.Hash)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.busy--
		p.free = append(p.free, pc)
		p.mu.Unlock()
		<-p.sem
	}()
	pc.hash = req.Image.Hash
	return run(ctx, pc.chat, req)
}

// take removes a free chat from the list, preferring one that holds hash.
func (p *chatPool) take(hash [32]byte) *poolChat {
	i := len(p.free) - 1
	for j, c := range p.free {
		if c.hash == hash {
			i = j
			break
		}
	}
	pc := p.free[i]
	p.free = append(p.free[:i], p.free[i+1:]...)
	return pc
}

// run answers req's last question on chat, with the earlier turns replayed.
func run(ctx context.Context, chat *engine.Chat, req genRequest) (*genAnswer, error) {
	img := *req.Image // the chat writes to its image's Vision field
	chat.SetImage(&img)
	conv := chat.Conversation()
	last := len(req.Turns) - 1
	conv.Turns = append(conv.Turns, req.Turns[:last]...)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := &stopper{stops: req.Stop, out: req.OnText, cancel: cancel}
	ans, err := chat.Ask(ctx, req.Turns[last].Question, req.Gen, st.push)
	out := &genAnswer{Stop: llama.StopString}
	dropped := 0
	switch {
	case st.hit: // a caller's stop string ended the answer
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
		out.Text, out.Tokens = st.emitted.String(), st.pieces
	case err != nil:
		return nil, err
	default:
		// Send what the engine's cleaning keeps of the held-back text.
		if rest, ok := strings.CutPrefix(ans.Text, st.emitted.String()); ok {
			st.emit(rest)
		}
		out.Text, out.Tokens, out.Stop, dropped = ans.Text, len(ans.Tokens), ans.Stop, ans.DroppedTurns
	}
	// The prompt's length: the conversation as it was answered.
	prompt := engine.NewConversation()
	prompt.Turns = req.Turns[dropped:]
	before, after := prompt.Prompt()
	llm := chat.Engine().LanguageModel()
	head, err1 := llm.Tokenize(before, true, false)
	text, err2 := llm.Tokenize(after, false, false)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("prompt length: %w", err)
	}
	out.PromptLength = len(head) + img.Rows + len(text)
	return out, nil
}

// stopper passes the answer's text on, holding back what could be the
// start of a stop string, and cancels generation when one appears.
type stopper struct {
	stops   []string
	out     func(string)
	cancel  func()
	pending strings.Builder // received, not yet emitted
	emitted strings.Builder
	hit     bool
	pieces  int
}

func (s *stopper) emit(t string) {
	if t == "" {
		return
	}
	s.emitted.WriteString(t)
	if s.out != nil {
		s.out(t)
	}
}

func (s *stopper) push(piece string) {
	if s.hit {
		return
	}
	s.pieces++
	s.pending.WriteString(piece)
	text := s.pending.String()
	cut, hold := -1, 0
	for _, stop := range s.stops {
		if i := strings.Index(text, stop); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
		for k := min(len(stop)-1, len(text)); k > hold; k-- {
			if strings.HasSuffix(text, stop[:k]) {
				hold = k
				break
			}
		}
	}
	// Trailing white space waits too: the answer is trimmed at the end.
	hold = max(hold, len(text)-len(strings.TrimRight(text, " \t\r\n")))
	s.pending.Reset()
	if cut >= 0 {
		s.hit = true
		s.emit(strings.TrimRight(text[:cut], " \t\r\n"))
		s.cancel()
		return
	}
	s.emit(text[:len(text)-hold])
	s.pending.WriteString(text[len(text)-hold:])
}
