package llama_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xraygpt-go/xraygpt/llama"
	"github.com/xraygpt-go/xraygpt/llama/llamatest"
)

// vocabIDs maps pieces of llamatest.Vocab to their ids: the expected
// tokenizations below are written as pieces.
func vocabIDs(t *testing.T, pieces ...string) []llama.Token {
	t.Helper()
	toks, _, _ := llamatest.Vocab()
	var out []llama.Token
	for _, p := range pieces {
		i := slices.Index(toks, p)
		if i < 0 {
			t.Fatalf("piece %q not in the vocabulary", p)
		}
		out = append(out, llama.Token(i))
	}
	return out
}

func TestTokenize(t *testing.T) {
	m := tinyModel(t)
	cases := []struct {
		text                     string
		addSpecial, parseSpecial bool
		want                     []string
	}{
		{"no pleural effusion", false, false, []string{"▁no", "▁pleural", "▁effusion"}},
		{"no pleural effusion", true, false, []string{"<s>", "▁no", "▁pleural", "▁effusion"}},
		// Characters outside the vocabulary fall back to their UTF-8 bytes.
		{"é", false, false, []string{"▁", "<0xC3>", "<0xA9>"}},
		{"lung\nbase", false, false, []string{"▁lung", "<0x0A>", "base"}},
		{"###", false, false, []string{"▁###"}},
		{"heart</s>", false, true, []string{"▁heart", "</s>"}},
	}
	for _, tc := range cases {
		got, err := m.Tokenize(tc.text, tc.addSpecial, tc.parseSpecial)
		if err != nil {
			t.Fatal(err)
		}
		if want := vocabIDs(t, tc.want...); !slices.Equal(got, want) {
			t.Errorf("Tokenize(%q, %v, %v) = %v, want %v %q", tc.text, tc.addSpecial, tc.parseSpecial, got, want, tc.want)
		}
	}
	// Without parseSpecial, "</s>" is plain text.
	got := tokenize(t, m, "</s>", false)
	if slices.Contains(got, m.EOS()) {
		t.Errorf("Tokenize(\"</s>\", parseSpecial=false) = %v contains EOS", got)
	}
	if toks, err := m.Tokenize("", false, false); err != nil || len(toks) != 0 {
		t.Errorf("Tokenize(\"\") = %v, %v", toks, err)
	}
	if toks, err := m.Tokenize("", true, false); err != nil || !slices.Equal(toks, []llama.Token{m.BOS()}) {
		t.Errorf("Tokenize(\"\", addSpecial) = %v, %v; want [BOS]", toks, err)
	}
	if s, err := m.Detokenize(nil, true, false); err != nil || s != "" {
		t.Errorf("Detokenize(nil) = %q, %v", s, err)
	}
	if _, err := m.Detokenize([]llama.Token{5, -3}, true, false); !errors.Is(err, llama.ErrBadInput) {
		t.Errorf("Detokenize of a negative id: err = %v, want ErrBadInput", err)
	}
}

var roundTripTexts = []string{
	"The heart size is normal. No pleural effusion or pneumothorax.",
	"ASCII punctuation: (a), [b]; {c}! ~x@y#z$%^&*_+=|\\/<>?",
	"Ünïcödé: naïve café, 日本語のテキスト, Ελληνικά, русский, emoji 🫁😀, “quotes” — dash",
	"  two leading spaces, three   inside, trailing ",
	"tabs\tand\nnewlines\n\nand\r\nCRLF\n",
	"###Patient: <Img></Img> describe###Doctor:",
	"\n",
	" ",
}

func TestTokenizeRoundTrip(t *testing.T) {
	m := tinyModel(t)
	for _, text := range roundTripTexts {
		for _, addSpecial := range []bool{false, true} {
			toks := tokenize(t, m, text, addSpecial)
			got, err := m.Detokenize(toks, true, false)
			if err != nil {
				t.Fatal(err)
			}
			if got != text {
				t.Errorf("Detokenize(Tokenize(%q, %v)) = %q", text, addSpecial, got)
			}
		}
	}
	// Rendering special tokens writes them out.
	toks := tokenize(t, m, "lung", true)
	toks = append(toks, m.EOS())
	if got, _ := m.Detokenize(toks, false, true); got != "<s> lung</s>" {
		t.Errorf("Detokenize with specials rendered = %q, want %q", got, "<s> lung</s>")
	}
}

// TestDetokenizerStreaming feeds tokens one at a time: every piece returned
// must be valid UTF-8, characters split over byte tokens come out whole,
// and the pieces add up to the text.
func TestDetokenizerStreaming(t *testing.T) {
	m := tinyModel(t)
	for _, text := range roundTripTexts {
		toks := tokenize(t, m, text, true)
		d := m.NewDetokenizer()
		var sb strings.Builder
		for _, tok := range toks {
			piece := d.Add(tok)
			if !utf8.ValidString(piece) {
				t.Fatalf("%q: token %d gave invalid UTF-8 %q", text, tok, piece)
			}
			sb.WriteString(piece)
		}
		sb.WriteString(d.Flush())
		// Pieces keep SentencePiece's leading space, as generated text does.
		if got := sb.String(); got != " "+text {
			t.Errorf("streamed %q, want %q", got, " "+text)
		}
	}

	// "日" is three byte tokens: nothing comes out until the last one.
	d := m.NewDetokenizer()
	var got []string
	for _, tok := range vocabIDs(t, "<0xE6>", "<0x97>", "<0xA5>", "▁lung") {
		got = append(got, d.Add(tok))
	}
	if want := []string{"", "", "日", " lung"}; !slices.Equal(got, want) {
		t.Errorf("pieces %q, want %q", got, want)
	}
	// Invalid and incomplete sequences become U+FFFD, never broken bytes.
	d = m.NewDetokenizer()
	var sb strings.Builder
	for _, tok := range vocabIDs(t, "<0xFF>", "a", "<0xE6>", "<0x97>", "b", "<0xF0>", "<0x9F>") {
		sb.WriteString(d.Add(tok))
	}
	sb.WriteString(d.Flush())
	if want := "\uFFFDa\uFFFDb\uFFFD"; sb.String() != want {
		t.Errorf("invalid bytes streamed as %q, want %q", sb.String(), want)
	}
}

func TestTokenPiece(t *testing.T) {
	m := tinyModel(t)
	for _, tc := range []struct {
		piece string
		want  string
	}{{"▁effusion", " effusion"}, {"<0x0A>", "\n"}, {"ing", "ing"}, {"</s>", ""}, {"<s>", ""}} {
		if got := m.TokenPiece(vocabIDs(t, tc.piece)[0]); got != tc.want {
			t.Errorf("TokenPiece(%q) = %q, want %q", tc.piece, got, tc.want)
		}
	}
	if got := m.TokenPiece(llama.Token(m.NVocab())); got != "" {
		t.Errorf("TokenPiece(out of range) = %q", got)
	}
}
