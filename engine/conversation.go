package engine

import (
	"errors"
	"strings"
	"unicode"
)

// XrayGPT's conversation template (xraygpt/conversation/conversation.py,
// CONV_VISION): a system text, then turns "Patient: ..." and "Doctor: ..."
// each closed by "###". The image's soft tokens replace ImagePlaceholder.
const (
	// SystemPrompt is CONV_VISION's system text.
	SystemPrompt = "You are an experienced Doctor, give the following medical scan: <Img>ImageContent</Img>. " +
		"You will be able to see the medical scan once I provide it to you. Please answer my questions."
	// Separator closes every message; generation stops when the model writes it.
	Separator = "###"
	// PatientRole and DoctorRole are the two speakers.
	PatientRole = "Patient"
	DoctorRole  = "Doctor"
	// ImagePlaceholder marks where the soft tokens go.
	ImagePlaceholder = "<ImageHere>"
	// ImageMessage is the message that uploading an image adds.
	ImageMessage = "<Img>" + ImagePlaceholder + "</Img>"
	// DefaultQuestion is XrayGPT's first alignment prompt.
	DefaultQuestion = "Describe the given chest x-ray image in detail."
)

// ErrEmptyQuestion is returned for a question with no text.
var ErrEmptyQuestion = errors.New("the question is empty")

// Turn is one question and, once answered, its answer.
type Turn struct {
	Question string
	Answer   string
}

// Conversation holds the text of an XrayGPT chat about one image: the system
// prompt, the image, and the turns so far. The first turn's question follows
// the image in the same Patient message, as XrayGPT's Chat.ask does.
type Conversation struct {
	System string
	Turns  []Turn
	// Dropped counts the oldest turns removed to fit the context.
	Dropped int
}

// NewConversation returns an empty conversation with XrayGPT's system prompt.
func NewConversation() *Conversation { return &Conversation{System: SystemPrompt} }

// Prompt returns the text before and after the image placeholder for the
// conversation with its last turn unanswered, as XrayGPT's get_prompt and
// get_context_emb split it:
//
//	{system}###Patient: <Img>  |  </Img> {q1}###Doctor: {a1}###Patient: {q2}###Doctor:
func (c *Conversation) Prompt() (before, after string) {
	var b strings.Builder
	b.WriteString(c.System + Separator)
	b.WriteString(PatientRole + ": " + ImageMessage)
	for i, t := range c.Turns {
		if i == 0 {
			b.WriteString(" " + t.Question + Separator)
		} else {
			b.WriteString(PatientRole + ": " + t.Question + Separator)
		}
		if t.Answer == "" && i == len(c.Turns)-1 {
			b.WriteString(DoctorRole + ":")
			break
		}
		b.WriteString(DoctorRole + ": " + t.Answer + Separator)
	}
	before, after, _ = strings.Cut(b.String(), ImagePlaceholder)
	return before, after
}

// Ask appends an unanswered question.
func (c *Conversation) Ask(question string) error {
	question = strings.TrimSpace(question)
	if question == "" {
		return ErrEmptyQuestion
	}
	c.Turns = append(c.Turns, Turn{Question: question})
	return nil
}

// SetAnswer records the answer to the last question.
func (c *Conversation) SetAnswer(answer string) {
	if n := len(c.Turns); n > 0 {
		c.Turns[n-1].Answer = answer
	}
}

// DropOldest removes the oldest turn while keeping the system prompt, the
// image and the last (current) turn. It reports whether a turn was removed.
func (c *Conversation) DropOldest() bool {
	if len(c.Turns) < 2 {
		return false
	}
	c.Turns = c.Turns[1:]
	c.Dropped++
	return true
}

// CleanAnswer post-processes a whole generated answer as the engine does
// while streaming it (see AnswerCleaner): cut at the first "###", drop
// leading white space and "Doctor:" role markers, rename "ChatDoctor" to
// "XrayGPT", trim trailing white space.
func CleanAnswer(text string) string {
	text, _, _ = strings.Cut(text, Separator)
	var c AnswerCleaner
	return c.Push(text) + c.Flush()
}

// AnswerCleaner cleans an answer streamed piece by piece, holding back what
// may still change, so that the pieces it returns join into exactly what
// CleanAnswer returns for the whole text, however the text is split. It
// applies XrayGPT's Chat.answer post-processing (split on "Doctor:" keeping
// the last part, rename "ChatDoctor"), with one difference that streaming
// forces: a "Doctor:" role marker is dropped only at the start of the
// answer; one in the middle, which XrayGPT would cut everything before,
// stays, since the text before it has already been shown. The zero value
// is ready to use.
type AnswerCleaner struct {
	started bool // past the leading white space and role markers
	pending string
}

// doctorMarker is the role marker the model may write before its answer.
const doctorMarker = DoctorRole + ":"

// renamed are the names XrayGPT's demo replaces with "XrayGPT".
var renamed = []string{"ChatDoctor", "Chat Doctor"}

// Push adds generated text and returns the cleaned text that is final.
func (c *AnswerCleaner) Push(text string) string {
	c.pending += text
	return c.release(false)
}

// Flush returns the rest of the cleaned text at the end of the answer.
func (c *AnswerCleaner) Flush() string { return c.release(true) }

func (c *AnswerCleaner) release(final bool) string {
	if !c.started {
		for {
			c.pending = strings.TrimLeftFunc(c.pending, unicode.IsSpace)
			if !strings.HasPrefix(c.pending, doctorMarker) {
				break
			}
			c.pending = c.pending[len(doctorMarker):]
		}
		if c.pending == "" || (!final && strings.HasPrefix(doctorMarker, c.pending)) {
			return "" // not yet known whether a role marker starts here
		}
		c.started = true
	}
	for _, name := range renamed {
		c.pending = strings.ReplaceAll(c.pending, name, "XrayGPT")
	}
	if final {
		out := strings.TrimRightFunc(c.pending, unicode.IsSpace)
		c.pending = ""
		return out
	}
	// Hold back trailing white space (it goes if the answer ends here) and
	// any ending that could still become a renamed name.
	cut := len(strings.TrimRightFunc(c.pending, unicode.IsSpace))
	for _, name := range renamed {
		for k := min(len(name)-1, len(c.pending)); k > 0; k-- {
			if strings.HasSuffix(c.pending, name[:k]) {
				cut = min(cut, len(c.pending)-k)
				break
			}
		}
	}
	out := c.pending[:cut]
	c.pending = c.pending[cut:]
	return out
}
