package engine

import (
	"os"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
)

// The expected strings follow XrayGPT's Conversation.get_prompt for
// CONV_VISION (sep "###", roles Patient/Doctor) after Chat.upload_img,
// Chat.ask and Chat.answer, written out by hand.
func TestPromptMatchesXrayGPT(t *testing.T) {
	c := NewConversation()
	if err := c.Ask("Describe the given chest x-ray image in detail."); err != nil {
		t.Fatal(err)
	}
	before, after := c.Prompt()
	wantBefore := SystemPrompt + "###Patient: <Img>"
	wantAfter := "</Img> Describe the given chest x-ray image in detail.###Doctor:"
	if before != wantBefore || after != wantAfter {
		t.Fatalf("turn 1:\n got %q | %q\nwant %q | %q", before, after, wantBefore, wantAfter)
	}
	c.SetAnswer("The lungs are clear.")
	if err := c.Ask("  Is there an effusion? "); err != nil {
		t.Fatal(err)
	}
	_, after = c.Prompt()
	wantAfter = "</Img> Describe the given chest x-ray image in detail.###Doctor: The lungs are clear.###Patient: Is there an effusion?###Doctor:"
	if after != wantAfter {
		t.Fatalf("turn 2:\n got %q\nwant %q", after, wantAfter)
	}
	if !c.DropOldest() {
		t.Fatal("DropOldest refused with two turns")
	}
	_, after = c.Prompt()
	if want := "</Img> Is there an effusion?###Doctor:"; after != want {
		t.Fatalf("after drop: got %q, want %q", after, want)
	}
	if c.DropOldest() {
		t.Fatal("DropOldest removed the current turn")
	}
	if err := c.Ask(" \n"); err != ErrEmptyQuestion {
		t.Fatalf("empty question: %v", err)
	}
}

func TestCleanAnswer(t *testing.T) {
	cases := map[string]string{
		" The heart is normal.###Patient: next":  "The heart is normal.",
		"Doctor: No effusion. ###":               "No effusion.",
		"I am ChatDoctor. Chat Doctor says hi##": "I am XrayGPT. XrayGPT says hi##",
		"":                                       "",
		"  Doctor:  Doctor: Clear lungs.  ":      "Clear lungs.",
		"Doc":                                    "Doc",
		"Lungs clear. Doctor: ok":                "Lungs clear. Doctor: ok", // mid-answer marker stays (streaming)
	}
	for in, want := range cases {
		if got := CleanAnswer(in); got != want {
			t.Errorf("CleanAnswer(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAlignmentPromptsMatchXrayGPTFile(t *testing.T) {
	data, err := os.ReadFile(sharedtest.Path(t, "xraygpt/prompts/alignment.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != len(AlignmentPrompts) {
		t.Fatalf("%d lines, %d prompts", len(lines), len(AlignmentPrompts))
	}
	for i, l := range lines {
		if want := ImageMessage + " " + AlignmentPrompts[i]; strings.TrimSpace(l) != want {
			t.Errorf("line %d: %q, want %q", i, l, want)
		}
	}
	a, b := NewPromptPicker(7), NewPromptPicker(7)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		p := a.Next()
		if p != b.Next() {
			t.Fatal("same seed, different prompts")
		}
		seen[p] = true
	}
	if len(seen) != len(AlignmentPrompts) {
		t.Errorf("200 picks used %d of %d prompts", len(seen), len(AlignmentPrompts))
	}
}

// FuzzAnswerCleaner checks that however an answer is split into streamed
// pieces, the pieces the cleaner returns join into CleanAnswer's text.
func FuzzAnswerCleaner(f *testing.F) {
	f.Add(" Doctor: I am ChatDoctor. Chat Doctor says hi  ", uint8(3))
	f.Add("Doc", uint8(1))
	f.Add("The heart is normal. \n", uint8(2))
	f.Add("Chat Chat DoctorDoctor:", uint8(5))
	f.Fuzz(func(t *testing.T, text string, step uint8) {
		if strings.Contains(text, Separator) {
			return // generation stops there; the stop matcher removes it
		}
		n := int(step%7) + 1
		var c AnswerCleaner
		var streamed strings.Builder
		for i := 0; i < len(text); i += n {
			streamed.WriteString(c.Push(text[i:min(i+n, len(text))]))
		}
		streamed.WriteString(c.Flush())
		if got, want := streamed.String(), CleanAnswer(text); got != want {
			t.Errorf("text %q in pieces of %d: streamed %q, CleanAnswer %q", text, n, got, want)
		}
	})
}
