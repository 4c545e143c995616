package rouge

import (
	"strings"
	"unicode/utf8"
)

// Tokenize splits text into ROUGE tokens the way rouge-score's default
// tokenizer does: lower-case (Python's str.lower), replace every run of
// characters outside [a-z0-9] with a space, split on spaces, and, when stem
// is true, replace each token longer than 3 characters by its Porter stem
// (see Stem).
//
// Only two non-ASCII characters lower-case into [a-z0-9] under Python's
// str.lower: KELVIN SIGN (U+212A) becomes "k", and LATIN CAPITAL LETTER I
// WITH DOT ABOVE (U+0130) becomes "i" followed by a combining dot that ends
// the token. Every other non-ASCII character, and every invalid UTF-8 byte,
// separates tokens.
func Tokenize(text string, stem bool) []string {
	return appendTokens(nil, text, stem)
}

// appendTokens appends the tokens of text to dst.
func appendTokens(dst []string, text string, stem bool) []string {
	var b strings.Builder
	flush := func() {
		if b.Len() == 0 {
			return
		}
		tok := b.String()
		b.Reset()
		if stem && len(tok) > 3 {
			tok = Stem(tok)
		}
		if tok != "" {
			dst = append(dst, tok)
		}
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
				b.WriteByte(c)
			case c >= 'A' && c <= 'Z':
				b.WriteByte(c + 'a' - 'A')
			default:
				flush()
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch r {
		case '\u212a': // KELVIN SIGN lower-cases to 'k'
			b.WriteByte('k')
		case '\u0130': // 'İ' lower-cases to "i\u0307"; the dot ends the token
			b.WriteByte('i')
			flush()
		default:
			flush()
		}
	}
	flush()
	return dst
}

// SplitSentences splits text into the sentences ROUGE-Lsum uses: the
// non-empty lines, split on "\n" only (rouge-score's default, without its
// optional NLTK sentence splitter).
func SplitSentences(text string) []string {
	lines := strings.Split(text, "\n")
	out := lines[:0]
	for _, l := range lines {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
