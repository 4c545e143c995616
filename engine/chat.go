package engine

import (
	"context"
	"errors"
	"fmt"
)

// Chat is a conversation about one image at a time. Its turns run through
// a Scheduler, whose slot keeps the conversation's KV cache: the system
// prompt and the image's soft tokens are decoded once, and a follow-up turn
// decodes only the text the cache lacks. A Chat is for one goroutine; many
// Chats may share one Scheduler.
type Chat struct {
	e     *Engine
	sched *Scheduler
	own   bool // the chat closes its scheduler
	conv  *Conversation
	img   *Image
	fresh bool // the next turn must not reuse the cache
	// visionShown: the image's encoding time was reported with a turn.
	visionShown bool
}

// NewChat opens a conversation with a scheduler of its own (one slot).
func (e *Engine) NewChat() (*Chat, error) {
	s, err := e.NewScheduler(SchedulerOptions{Slots: 1})
	if err != nil {
		return nil, fmt.Errorf("new chat: %w", err)
	}
	c := s.NewChat()
	c.own = true
	return c, nil
}

// NewChat opens a conversation on the scheduler's slots.
func (s *Scheduler) NewChat() *Chat {
	return &Chat{e: s.e, sched: s, conv: NewConversation()}
}

// Engine returns the engine the chat runs on.
func (c *Chat) Engine() *Engine { return c.e }

// Close releases the chat's scheduler when it has its own. It is safe to
// call more than once.
func (c *Chat) Close() error {
	if c.own {
		return c.sched.Close()
	}
	return nil
}

// SetImage starts a new conversation about img.
func (c *Chat) SetImage(img *Image) {
	c.img = img
	c.conv = NewConversation()
	c.visionShown = false
}

// ClearCache makes the next Ask decode the image and the whole conversation
// again instead of reusing the KV cache (the shared system prompt is still
// reused).
func (c *Chat) ClearCache() { c.fresh = true }

// Reset forgets the turns so far but keeps the image.
func (c *Chat) Reset() { c.conv = NewConversation() }

// Conversation returns the conversation so far.
func (c *Chat) Conversation() *Conversation { return c.conv }

// Ask appends a question and generates the answer, streaming its text to
// onText when set (the pieces join into Answer.Text). When the conversation
// no longer fits the context, its oldest turns are dropped (the system
// prompt, the image and the current question stay), as XrayGPT drops old
// context.
func (c *Chat) Ask(ctx context.Context, question string, gen GenerateOptions, onText func(string)) (*Answer, error) {
	if c.img == nil {
		return nil, errors.New("ask: no image in this chat")
	}
	if err := c.conv.Ask(question); err != nil {
		return nil, fmt.Errorf("ask: %w", err)
	}
	img := c.img
	if c.visionShown { // report the encoding time with the first turn only
		cp := *img
		cp.Vision = 0
		img = &cp
	}
	ans, err := c.sched.Do(ctx, Request{Image: img, Turns: c.conv.Turns, Gen: gen, OnText: onText, fresh: c.fresh})
	if err != nil {
		// Forget the unanswered question so the chat can go on.
		c.conv.Turns = c.conv.Turns[:len(c.conv.Turns)-1]
		return ans, err
	}
	c.fresh = false
	c.visionShown = true
	c.conv.Turns = c.conv.Turns[ans.DroppedTurns:]
	c.conv.Dropped += ans.DroppedTurns
	c.conv.SetAnswer(ans.Text)
	ans.DroppedTurns = c.conv.Dropped
	return ans, nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func commonPrefix[T comparable](a, b []T) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
