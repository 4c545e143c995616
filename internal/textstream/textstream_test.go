package textstream

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// streamBytes feeds chunks to a UTF8 buffer as token pieces would arrive
// and returns what it emits.
func streamBytes(chunks [][]byte) []string {
	var u UTF8
	var out []string
	for _, c := range chunks {
		out = append(out, u.Write(c))
	}
	return append(out, u.Flush())
}

func TestUTF8HoldsIncompleteCharacters(t *testing.T) {
	cases := []struct {
		chunks []string
		want   []string
	}{
		{[]string{"a", "\xe6", "\x97", "\xa5b"}, []string{"a", "", "", "日b", ""}},
		{[]string{"\xf0\x9f", "\x98\x80"}, []string{"", "😀", ""}},
		{[]string{"x\xc3"}, []string{"x", "\uFFFD"}},               // incomplete at the end
		{[]string{"\xff", "a"}, []string{"\uFFFD", "a", ""}},       // never valid
		{[]string{"\xe6\x97", "z"}, []string{"", "\uFFFDz", ""}},   // broken by a later byte
		{[]string{"\x97\x97\x97\x97\x97"}, []string{"\uFFFD", ""}}, // stray continuation bytes
	}
	for _, tc := range cases {
		var chunks [][]byte
		for _, c := range tc.chunks {
			chunks = append(chunks, []byte(c))
		}
		got := streamBytes(chunks)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: got %q, want %q", tc.chunks, got, tc.want)
		}
	}
}

// FuzzUTF8 splits arbitrary bytes into pieces: every emitted piece
// is valid UTF-8, and valid input comes out unchanged.
func FuzzUTF8(f *testing.F) {
	f.Add([]byte("Ünïcödé 日本 😀"), uint8(1))
	f.Add([]byte("\xe6\x97\xa5\xff\xc3"), uint8(2))
	f.Add([]byte("plain ascii"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		n := int(step%5) + 1
		var chunks [][]byte
		for i := 0; i < len(data); i += n {
			chunks = append(chunks, data[i:min(i+n, len(data))])
		}
		out := streamBytes(chunks)
		for _, s := range out {
			if !utf8.ValidString(s) {
				t.Fatalf("emitted invalid UTF-8 %q", s)
			}
		}
		if utf8.Valid(data) && strings.Join(out, "") != string(data) {
			t.Fatalf("valid input %q came out as %q", data, strings.Join(out, ""))
		}
	})
}

func TestStop(t *testing.T) {
	cases := []struct {
		stops  []string
		chunks []string
		want   string // emitted text
		hit    bool
	}{
		{[]string{"###"}, []string{"abc", "#", "#", "#", "def"}, "abc", true},
		{[]string{"###"}, []string{"ab#", "#c"}, "ab##c", false},
		{[]string{"###"}, []string{"a##", "#b"}, "a", true},
		{[]string{"Patient:"}, []string{"The lung", "s. Pat", "ient: x"}, "The lungs. ", true},
		{[]string{"xyz", "yq"}, []string{"axy", "q"}, "ax", true},
		{[]string{"aab"}, []string{"aa", "aab"}, "aa", true},
		{[]string{""}, []string{"abc"}, "abc", false},
		{nil, []string{"a", "b"}, "ab", false},
		{[]string{"日本"}, []string{"x日", "本y"}, "x", true},
	}
	for _, tc := range cases {
		s := NewStop(tc.stops)
		var out strings.Builder
		hit := false
		for _, c := range tc.chunks {
			emitted, h := s.Push(c)
			out.WriteString(emitted)
			if h {
				hit = true
				break
			}
		}
		if !hit {
			out.WriteString(s.Flush())
		}
		if out.String() != tc.want || hit != tc.hit {
			t.Errorf("stops %q, chunks %q: emitted %q (hit %v), want %q (hit %v)", tc.stops, tc.chunks, out.String(), hit, tc.want, tc.hit)
		}
	}
}

// FuzzStop checks, for any text split into any chunks, that the
// emitted text is exactly the text before the first stop string, and that
// nothing is held back that cannot start a stop string.
func FuzzStop(f *testing.F) {
	f.Add("The heart ###Doctor: x", "###", uint8(3))
	f.Add("aaab", "aab", uint8(1))
	f.Add("no stop here", "zz", uint8(4))
	f.Fuzz(func(t *testing.T, text, stop string, step uint8) {
		n := int(step%7) + 1
		s := NewStop([]string{stop})
		var out strings.Builder
		hit := false
		for i := 0; i < len(text) && !hit; i += n {
			emitted, h := s.Push(text[i:min(i+n, len(text))])
			out.WriteString(emitted)
			hit = h
			if !hit && s.Pending() != "" && !strings.HasPrefix(stop, s.Pending()) {
				t.Fatalf("held back %q, which does not start stop %q", s.Pending(), stop)
			}
		}
		if !hit {
			out.WriteString(s.Flush())
		}
		want := text
		if i := strings.Index(text, stop); stop != "" && i >= 0 {
			want = text[:i]
		}
		if out.String() != want {
			t.Fatalf("text %q, stop %q, step %d: emitted %q, want %q", text, stop, n, out.String(), want)
		}
	})
}
