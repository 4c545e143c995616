package rouge

import "strings"

// Stem returns the Porter stem of word exactly as NLTK's
// nltk.stem.porter.PorterStemmer does in its default NLTK_EXTENSIONS mode,
// the stemmer that Google's rouge-score uses.
//
// NLTK's departures from Porter's 1980 paper are all here: the table of
// irregular forms (sky, skies, dying, lying, tying, news, innings, outings,
// cannings, howe, proceed, exceed, succeed), words of one or two letters left
// alone, "-ies"/"-ied" on four-letter words kept as "-ie", the two-letter
// vowel-consonant case of the *o condition, step 1c's "consonant before y"
// rule, and step 2's "alli" pre-pass, "bli" (not "abli"), "fulli" and "logi"
// rules.
//
// Like NLTK, Stem lower-cases its input first. Characters outside a-z are
// treated as consonants, as NLTK treats them; rouge only passes tokens made
// of a-z and 0-9.
func Stem(word string) string {
	w := asciiLower(word)
	// NLTK looks the word up before lower-casing it; ROUGE tokens are
	// already lower case, so the difference never shows there.
	if s, ok := irregularForms[word]; ok {
		return s
	}
	if len(word) <= 2 {
		return w
	}
	w = step1a(w)
	w = step1b(w)
	w = step1c(w)
	w = step2(w)
	w = step3(w)
	w = step4(w)
	w = step5a(w)
	w = step5b(w)
	return w
}

// irregularForms maps a word to its stem, bypassing the algorithm
// (NLTK_EXTENSIONS' pool).
var irregularForms = map[string]string{
	"sky": "sky", "skies": "sky",
	"dying":   "die",
	"lying":   "lie",
	"tying":   "tie",
	"news":    "news",
	"innings": "inning", "inning": "inning",
	"outings": "outing", "outing": "outing",
	"cannings": "canning", "canning": "canning",
	"howe":    "howe",
	"proceed": "proceed",
	"exceed":  "exceed",
	"succeed": "succeed",
}

// asciiLower lower-cases A-Z only, allocating only when needed. (NLTK calls
// str.lower; for the a-z0-9 tokens rouge stems the two agree.)
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func isVowel(c byte) bool {
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'
}

// isConsonant reports whether w[i] is a consonant in Porter's sense: not a
// vowel, and a 'y' only when it starts the word or follows a vowel. A run of
// y's alternates, so the answer comes from the run's length and the letter
// before it, without NLTK's recursion (which is quadratic on "yyyy...").
func isConsonant(w string, i int) bool {
	c := w[i]
	if isVowel(c) {
		return false
	}
	if c != 'y' {
		return true
	}
	start := i
	for start > 0 && w[start-1] == 'y' {
		start--
	}
	// The first y of the run is a consonant at the start of the word or
	// after a vowel.
	first := start == 0 || isVowel(w[start-1])
	if (i-start)%2 == 0 {
		return first
	}
	return !first
}

// consonantAfter gives whether a letter c is a consonant when the letter
// before it was (prevCons); at the start of a word pass prevCons = false
// with start = true.
func consonantAfter(c byte, prevCons, start bool) bool {
	if isVowel(c) {
		return false
	}
	if c != 'y' {
		return true
	}
	return start || !prevCons
}

// measure is Porter's m: the number of vowel-consonant transitions.
func measure(stem string) int {
	m := 0
	prevCons := false
	for i := 0; i < len(stem); i++ {
		cons := consonantAfter(stem[i], prevCons, i == 0)
		if cons && i > 0 && !prevCons {
			m++
		}
		prevCons = cons
	}
	return m
}

func containsVowel(stem string) bool {
	prevCons := false
	for i := 0; i < len(stem); i++ {
		prevCons = consonantAfter(stem[i], prevCons, i == 0)
		if !prevCons {
			return true
		}
	}
	return false
}

// endsDoubleConsonant is the paper's *d.
func endsDoubleConsonant(w string) bool {
	n := len(w)
	return n >= 2 && w[n-1] == w[n-2] && isConsonant(w, n-1)
}

// endsCVC is the paper's *o, with NLTK's extra two-letter vowel-consonant case.
func endsCVC(w string) bool {
	n := len(w)
	if n >= 3 && isConsonant(w, n-3) && !isConsonant(w, n-2) && isConsonant(w, n-1) {
		c := w[n-1]
		if c != 'w' && c != 'x' && c != 'y' {
			return true
		}
	}
	return n == 2 && !isConsonant(w, 0) && isConsonant(w, 1)
}

// rule is one suffix rule: if the word ends in suffix, the rule fires; when
// cond (given the word less the suffix) holds, the suffix becomes repl,
// otherwise the word is left as it is. Either way no later rule is tried.
type rule struct {
	suffix, repl string
	cond         func(stem string) bool
}

func applyRules(w string, rules []rule) string {
	for _, r := range rules {
		if strings.HasSuffix(w, r.suffix) {
			stem := w[:len(w)-len(r.suffix)]
			if r.cond == nil || r.cond(stem) {
				return stem + r.repl
			}
			return w
		}
	}
	return w
}

func positiveMeasure(stem string) bool { return measure(stem) > 0 }
func measureAbove1(stem string) bool   { return measure(stem) > 1 }

var step1aRules = []rule{
	{"sses", "ss", nil},
	{"ies", "i", nil},
	{"ss", "ss", nil},
	{"s", "", nil},
}

func step1a(w string) string {
	if len(w) == 4 && strings.HasSuffix(w, "ies") {
		return w[:1] + "ie"
	}
	return applyRules(w, step1aRules)
}

func step1b(w string) string {
	if strings.HasSuffix(w, "ied") {
		if len(w) == 4 {
			return w[:1] + "ie"
		}
		return w[:len(w)-3] + "i"
	}
	if strings.HasSuffix(w, "eed") {
		stem := w[:len(w)-3]
		if measure(stem) > 0 {
			return stem + "ee"
		}
		return w
	}
	var stem string
	switch {
	case strings.HasSuffix(w, "ed") && containsVowel(w[:len(w)-2]):
		stem = w[:len(w)-2]
	case strings.HasSuffix(w, "ing") && containsVowel(w[:len(w)-3]):
		stem = w[:len(w)-3]
	default:
		return w
	}
	switch {
	case strings.HasSuffix(stem, "at"), strings.HasSuffix(stem, "bl"), strings.HasSuffix(stem, "iz"):
		return stem + "e"
	case endsDoubleConsonant(stem):
		if c := stem[len(stem)-1]; c != 'l' && c != 's' && c != 'z' {
			return stem[:len(stem)-1]
		}
		return stem
	case measure(stem) == 1 && endsCVC(stem):
		return stem + "e"
	}
	return stem
}

func step1c(w string) string {
	if strings.HasSuffix(w, "y") {
		stem := w[:len(w)-1]
		if len(stem) > 1 && isConsonant(stem, len(stem)-1) {
			return stem + "i"
		}
	}
	return w
}

var step2Rules = []rule{
	{"ational", "ate", positiveMeasure},
	{"tional", "tion", positiveMeasure},
	{"enci", "ence", positiveMeasure},
	{"anci", "ance", positiveMeasure},
	{"izer", "ize", positiveMeasure},
	{"bli", "ble", positiveMeasure},
	{"alli", "al", positiveMeasure},
	{"entli", "ent", positiveMeasure},
	{"eli", "e", positiveMeasure},
	{"ousli", "ous", positiveMeasure},
	{"ization", "ize", positiveMeasure},
	{"ation", "ate", positiveMeasure},
	{"ator", "ate", positiveMeasure},
	{"alism", "al", positiveMeasure},
	{"iveness", "ive", positiveMeasure},
	{"fulness", "ful", positiveMeasure},
	{"ousness", "ous", positiveMeasure},
	{"aliti", "al", positiveMeasure},
	{"iviti", "ive", positiveMeasure},
	{"biliti", "ble", positiveMeasure},
	{"fulli", "ful", positiveMeasure},
	// "logi" -> "log": NLTK keeps the 'l' with the stem for the measure
	// test, so the condition is on the word less "ogi".
	{"logi", "log", func(stem string) bool { return measure(stem+"l") > 0 }},
}

func step2(w string) string {
	// NLTK applies "alli" -> "al" first and, if it fires, runs step 2 again.
	if strings.HasSuffix(w, "alli") && positiveMeasure(w[:len(w)-4]) {
		return step2(w[:len(w)-4] + "al")
	}
	return applyRules(w, step2Rules)
}

var step3Rules = []rule{
	{"icate", "ic", positiveMeasure},
	{"ative", "", positiveMeasure},
	{"alize", "al", positiveMeasure},
	{"iciti", "ic", positiveMeasure},
	{"ical", "ic", positiveMeasure},
	{"ful", "", positiveMeasure},
	{"ness", "", positiveMeasure},
}

func step3(w string) string { return applyRules(w, step3Rules) }

var step4Rules = []rule{
	{"al", "", measureAbove1},
	{"ance", "", measureAbove1},
	{"ence", "", measureAbove1},
	{"er", "", measureAbove1},
	{"ic", "", measureAbove1},
	{"able", "", measureAbove1},
	{"ible", "", measureAbove1},
	{"ant", "", measureAbove1},
	{"ement", "", measureAbove1},
	{"ment", "", measureAbove1},
	{"ent", "", measureAbove1},
	{"ion", "", func(stem string) bool {
		return measure(stem) > 1 && len(stem) > 0 && (stem[len(stem)-1] == 's' || stem[len(stem)-1] == 't')
	}},
	{"ou", "", measureAbove1},
	{"ism", "", measureAbove1},
	{"ate", "", measureAbove1},
	{"iti", "", measureAbove1},
	{"ous", "", measureAbove1},
	{"ive", "", measureAbove1},
	{"ize", "", measureAbove1},
}

func step4(w string) string { return applyRules(w, step4Rules) }

// step5a drops a final e when m > 1, or when m == 1 and the stem does not
// end cvc; unlike the rule lists, both conditions are tried.
func step5a(w string) string {
	if strings.HasSuffix(w, "e") {
		stem := w[:len(w)-1]
		m := measure(stem)
		if m > 1 || (m == 1 && !endsCVC(stem)) {
			return stem
		}
	}
	return w
}

// step5b turns a final "ll" into "l" when the word less one 'l' has m > 1.
func step5b(w string) string {
	if strings.HasSuffix(w, "ll") && measure(w[:len(w)-1]) > 1 {
		return w[:len(w)-1]
	}
	return w
}
