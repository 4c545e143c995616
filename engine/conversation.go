package engine

import (
	"errors"
	"strings"
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

// CleanAnswer post-processes generated text as XrayGPT's Chat.answer does:
// cut at the first "###", keep what follows the last "Doctor:", trim, and
// rename "ChatDoctor" to "XrayGPT".
func CleanAnswer(text string) string {
	text, _, _ = strings.Cut(text, Separator)
	if i := strings.LastIndex(text, DoctorRole+":"); i >= 0 {
		text = text[i+len(DoctorRole)+1:]
	}
	text = strings.TrimSpace(text)
	text = strings.ReplaceAll(text, "ChatDoctor", "XrayGPT")
	return strings.ReplaceAll(text, "Chat Doctor", "XrayGPT")
}
