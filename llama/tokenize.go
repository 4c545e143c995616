package llama

/*
#include "binding.h"
*/
import "C"

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/xraygpt-go/xraygpt/internal/textstream"
)

// Tokenize converts text into token ids. addSpecial adds BOS (and EOS) when
// the model is configured to; parseSpecial lets text like "</s>" become the
// special token instead of plain text.
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) ([]Token, error) {
	if err := m.use(); err != nil {
		return nil, err
	}
	defer m.done()
	if len(text) > 1<<30 {
		return nil, fmt.Errorf("tokenize: text of %d bytes is too long", len(text))
	}
	toks := make([]Token, len(text)+2)
	for {
		var ctext *C.char
		if len(text) > 0 {
			ctext = (*C.char)(unsafe.Pointer(unsafe.StringData(text)))
		}
		var out *C.llama_token
		if len(toks) > 0 {
			out = (*C.llama_token)(unsafe.Pointer(&toks[0]))
		}
		n := C.llama_tokenize(m.vocab, ctext, C.int32_t(len(text)), out, C.int32_t(len(toks)),
			C.bool(addSpecial), C.bool(parseSpecial))
		switch {
		case n == C.INT32_MIN:
			return nil, fmt.Errorf("tokenize: text of %d bytes gives too many tokens", len(text))
		case n < 0:
			toks = make([]Token, int(-n))
		default:
			return toks[:n:n], nil
		}
	}
}

// TokenPiece returns the text of one token as it appears in generated text
// (SentencePiece's "▁" becomes a space, byte tokens become their byte).
// Control tokens such as BOS and EOS render as "". A piece may be an
// incomplete UTF-8 sequence; use a Detokenizer to stream text.
func (m *Model) TokenPiece(t Token) string {
	if m.use() != nil {
		return ""
	}
	defer m.done()
	return string(m.pieceLocked(t, nil, false))
}

// pieceLocked appends the piece of t to buf. The caller holds m.use().
func (m *Model) pieceLocked(t Token, buf []byte, special bool) []byte {
	if t < 0 || int(t) >= m.nVocab {
		return buf
	}
	var tmp [64]byte
	n := C.llama_token_to_piece(m.vocab, C.llama_token(t), (*C.char)(unsafe.Pointer(&tmp[0])), C.int32_t(len(tmp)), 0, C.bool(special))
	if n >= 0 {
		return append(buf, tmp[:n]...)
	}
	big := make([]byte, int(-n))
	n = C.llama_token_to_piece(m.vocab, C.llama_token(t), (*C.char)(unsafe.Pointer(&big[0])), C.int32_t(len(big)), 0, C.bool(special))
	if n < 0 {
		return buf
	}
	return append(buf, big[:n]...)
}

// TokenText returns the vocabulary entry of t as stored in the model
// (e.g. "▁the", "<0x0A>", "</s>"), or "" for an id outside the vocabulary.
func (m *Model) TokenText(t Token) string {
	if m.use() != nil {
		return ""
	}
	defer m.done()
	if t < 0 || int(t) >= m.nVocab {
		return ""
	}
	return C.GoString(C.llama_vocab_get_text(m.vocab, C.llama_token(t)))
}

// Detokenize converts tokens back into text, the inverse of Tokenize.
// removeSpecial drops a leading BOS and trailing EOS when the model adds them;
// renderSpecial writes special tokens as their text (e.g. "</s>"). Bytes that
// do not form valid UTF-8 are replaced by U+FFFD.
func (m *Model) Detokenize(tokens []Token, removeSpecial, renderSpecial bool) (string, error) {
	if err := m.use(); err != nil {
		return "", err
	}
	defer m.done()
	for i, t := range tokens {
		if t < 0 || int(t) >= m.nVocab {
			return "", fmt.Errorf("detokenize: token %d at index %d is outside the vocabulary of %d: %w", t, i, m.nVocab, ErrBadInput)
		}
	}
	// llama.cpp keeps the SentencePiece leading space when it drops BOS
	// itself; dropping BOS here first gives the text Tokenize started from.
	if removeSpecial && m.special.AddBOS && len(tokens) > 0 && tokens[0] == m.special.BOS {
		tokens = tokens[1:]
	}
	if len(tokens) == 0 {
		return "", nil
	}
	buf := make([]byte, 8*len(tokens)+16)
	for {
		n := C.llama_detokenize(m.vocab, (*C.llama_token)(unsafe.Pointer(&tokens[0])), C.int32_t(len(tokens)),
			(*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(buf)), C.bool(removeSpecial), C.bool(renderSpecial))
		if n >= 0 {
			return strings.ToValidUTF8(string(buf[:n]), "\uFFFD"), nil
		}
		buf = make([]byte, int(-n))
	}
}

// Detokenizer turns a stream of tokens into text pieces that are always
// valid UTF-8: bytes of a character that spans several tokens are held back
// until the character is complete. Create one per generated sequence with
// Model.NewDetokenizer; it is not safe for concurrent use.
type Detokenizer struct {
	m    *Model
	buf  []byte
	utf8 textstream.UTF8
}

// NewDetokenizer returns a streaming detokenizer for m.
func (m *Model) NewDetokenizer() *Detokenizer { return &Detokenizer{m: m} }

// Add appends the piece of t and returns the text that is now complete, which
// may be "". Control tokens add nothing.
func (d *Detokenizer) Add(t Token) string {
	if d.m.use() != nil {
		return ""
	}
	d.buf = d.m.pieceLocked(t, d.buf[:0], false)
	d.m.done()
	return d.utf8.Write(d.buf)
}

// Flush returns whatever is held back, with an incomplete trailing character
// replaced by U+FFFD, and resets the detokenizer.
func (d *Detokenizer) Flush() string { return d.utf8.Flush() }
