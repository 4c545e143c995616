// Package textstream holds the pure-Go text logic of streaming generation:
// buffering token bytes until they form whole UTF-8 characters, and
// finding stop strings in text that arrives piece by piece. It is separate
// from package llama so it can be tested and fuzzed without cgo.
package textstream

import (
	"strings"
	"unicode/utf8"
)

// UTF8 buffers bytes and releases them as valid UTF-8 only: a character
// whose bytes have not all arrived is held back; bytes that can never form
// a character become U+FFFD. The zero value is ready to use.
type UTF8 struct {
	pending []byte
}

// Write adds b and returns the text that is now complete (maybe "").
func (u *UTF8) Write(b []byte) string {
	u.pending = append(u.pending, b...)
	return u.take(completePrefix(u.pending))
}

// Flush returns everything held back, an incomplete character becoming
// U+FFFD, and empties the buffer.
func (u *UTF8) Flush() string { return u.take(len(u.pending)) }

func (u *UTF8) take(n int) string {
	out := strings.ToValidUTF8(string(u.pending[:n]), "\uFFFD")
	u.pending = append(u.pending[:0], u.pending[n:]...)
	return out
}

// completePrefix returns the length of b without a trailing, still
// incomplete UTF-8 sequence (one that more bytes could complete).
func completePrefix(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		c := b[i]
		if c < utf8.RuneSelf {
			return len(b)
		}
		if utf8.RuneStart(c) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}

// Stop finds stop strings in streamed text. Text that could be the start
// of a stop string is held back until it is clear it is not. Empty stop
// strings are ignored.
type Stop struct {
	stops   []string
	pending string
}

// NewStop returns a matcher for the given stop strings.
func NewStop(stops []string) *Stop { return &Stop{stops: stops} }

// Push adds text. It returns the text that is safe to emit and whether a
// stop string was found; then the returned text is what preceded the stop
// string, and the stop string and anything after it are dropped.
func (s *Stop) Push(text string) (string, bool) {
	s.pending += text
	first := -1
	for _, st := range s.stops {
		if st == "" {
			continue
		}
		if i := strings.Index(s.pending, st); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first >= 0 {
		out := s.pending[:first]
		s.pending = ""
		return out, true
	}
	hold := 0
	for _, st := range s.stops {
		for k := min(len(st)-1, len(s.pending)); k > hold; k-- {
			if strings.HasSuffix(s.pending, st[:k]) {
				hold = k
				break
			}
		}
	}
	out := s.pending[:len(s.pending)-hold]
	s.pending = s.pending[len(s.pending)-hold:]
	return out, false
}

// Pending returns the text held back.
func (s *Stop) Pending() string { return s.pending }

// Flush returns the held-back text and empties the matcher.
func (s *Stop) Flush() string {
	out := s.pending
	s.pending = ""
	return out
}
