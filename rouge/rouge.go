// Package rouge computes ROUGE-N, ROUGE-L and ROUGE-Lsum scores identical to
// Google's rouge-score package (google-research/google-research rouge/,
// released on PyPI as rouge-score), including its tokenizer and NLTK's
// Porter stemmer.
//
// Argument order follows rouge-score: Score(target, prediction), so
// precision is the overlap over the prediction's length and recall the
// overlap over the target's (reference's) length.
package rouge

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Score is one ROUGE measurement.
type Score struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// Scores holds the four ROUGE variants reported by XrayGPT-style evaluations.
type Scores struct {
	Rouge1    Score `json:"rouge1"`
	Rouge2    Score `json:"rouge2"`
	RougeL    Score `json:"rougeL"`
	RougeLsum Score `json:"rougeLsum"`
}

// Scorer scores predictions against targets. The zero value scores without
// stemming, rouge-score's default.
type Scorer struct {
	// Stem applies NLTK's Porter stemmer to tokens longer than 3 characters
	// (rouge-score's use_stemmer=True).
	Stem bool
}

// ErrUnknownType is returned by ScoreTypes for a name other than rouge1 ...
// rouge9, rougeL or rougeLsum.
var ErrUnknownType = errors.New("rouge: unknown rouge type")

// FMeasure returns 2PR/(P+R), or 0 when P+R is 0.
func FMeasure(precision, recall float64) float64 {
	if precision+recall > 0 {
		return 2 * precision * recall / (precision + recall)
	}
	return 0
}

// Score returns ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum of prediction
// against target.
func (s Scorer) Score(target, prediction string) Scores {
	t := s.analyze(target)
	p := s.analyze(prediction)
	return Scores{
		Rouge1:    rougeN(t.tokens, p.tokens, 1),
		Rouge2:    rougeN(t.tokens, p.tokens, 2),
		RougeL:    RougeL(t.tokens, p.tokens),
		RougeLsum: RougeLsum(t.sents, p.sents),
	}
}

var ngramType = regexp.MustCompile(`^rouge[0-9]$`)

// ScoreTypes scores prediction against target for each named type, as
// rouge-score's RougeScorer(types).score(target, prediction) does: "rouge1"
// to "rouge9" (n-gram overlap), "rougeL" and "rougeLsum". An unknown name,
// or "rouge0", gives ErrUnknownType.
func (s Scorer) ScoreTypes(target, prediction string, types ...string) (map[string]Score, error) {
	for _, typ := range types {
		if typ != "rougeL" && typ != "rougeLsum" && (!ngramType.MatchString(typ) || typ == "rouge0") {
			return nil, fmt.Errorf("%w %q", ErrUnknownType, typ)
		}
	}
	t := s.analyze(target)
	p := s.analyze(prediction)
	out := make(map[string]Score, len(types))
	for _, typ := range types {
		switch typ {
		case "rougeL":
			out[typ] = RougeL(t.tokens, p.tokens)
		case "rougeLsum":
			out[typ] = RougeLsum(t.sents, p.sents)
		default:
			n, _ := strconv.Atoi(typ[len("rouge"):])
			out[typ] = rougeN(t.tokens, p.tokens, n)
		}
	}
	return out, nil
}

// Tokenize returns text's tokens under this scorer's stemming setting.
func (s Scorer) Tokenize(text string) []string { return Tokenize(text, s.Stem) }

// analyzed is a text's tokens, whole and per sentence (line).
type analyzed struct {
	tokens []string
	sents  [][]string
}

// analyze tokenizes text once per line; because "\n" separates tokens, the
// concatenation of the lines' tokens is the whole text's tokens.
func (s Scorer) analyze(text string) analyzed {
	var a analyzed
	for _, line := range SplitSentences(text) {
		n := len(a.tokens)
		a.tokens = appendTokens(a.tokens, line, s.Stem)
		a.sents = append(a.sents, a.tokens[n:len(a.tokens):len(a.tokens)])
	}
	return a
}

// rougeN scores the clipped overlap of n-grams (n >= 1): precision is the
// overlap over the prediction's n-gram count, recall over the target's, each
// count taken as at least 1 (so empty inputs score 0).
func rougeN(target, prediction []string, n int) Score {
	if n < 1 {
		return Score{}
	}
	tc := ngramCounts(target, n)
	pc := ngramCounts(prediction, n)
	overlap := 0
	for g, c := range tc {
		overlap += min(c, pc[g])
	}
	tn := max(len(target)-n+1, 1)
	pn := max(len(prediction)-n+1, 1)
	p := float64(overlap) / float64(pn)
	r := float64(overlap) / float64(tn)
	return Score{Precision: p, Recall: r, F1: FMeasure(p, r)}
}

// ngramCounts counts n-grams keyed by their tokens joined with spaces
// (tokens never contain a space).
func ngramCounts(tokens []string, n int) map[string]int {
	counts := make(map[string]int, len(tokens))
	for i := 0; i+n <= len(tokens); i++ {
		var key string
		if n == 1 {
			key = tokens[i]
		} else {
			key = strings.Join(tokens[i:i+n], " ")
		}
		counts[key]++
	}
	return counts
}

// RougeL scores the longest common subsequence of the two token sequences:
// precision LCS/len(prediction), recall LCS/len(target); 0 when either is
// empty.
func RougeL(target, prediction []string) Score {
	if len(target) == 0 || len(prediction) == 0 {
		return Score{}
	}
	l := lcsLength(target, prediction)
	p := float64(l) / float64(len(prediction))
	r := float64(l) / float64(len(target))
	return Score{Precision: p, Recall: r, F1: FMeasure(p, r)}
}

// lcsLength computes the LCS length with two rows of the DP table.
func lcsLength(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				cur[j] = prev[j-1] + 1
			} else {
				cur[j] = max(prev[j], cur[j-1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// lcsIndices returns the indices into ref of one longest common subsequence
// of ref and can, read back from the full DP table with rouge-score's tie
// rule (on a mismatch, step left only when the left cell is strictly larger
// than the upper one). The tie rule matters: it decides which tokens enter
// ROUGE-Lsum's union.
func lcsIndices(ref, can []string) []int {
	rows, cols := len(ref), len(can)
	w := cols + 1
	t := make([]int32, (rows+1)*w)
	for i := 1; i <= rows; i++ {
		for j := 1; j <= cols; j++ {
			if ref[i-1] == can[j-1] {
				t[i*w+j] = t[(i-1)*w+j-1] + 1
			} else {
				t[i*w+j] = max(t[(i-1)*w+j], t[i*w+j-1])
			}
		}
	}
	var idx []int
	for i, j := rows, cols; i > 0 && j > 0; {
		switch {
		case ref[i-1] == can[j-1]:
			idx = append(idx, i-1)
			i--
			j--
		case t[i*w+j-1] > t[(i-1)*w+j]:
			j--
		default:
			i--
		}
	}
	slices.Reverse(idx)
	return idx
}

// RougeLsum scores summary-level LCS (Lin 2004, section 3.2) as rouge-score
// does: for each target sentence, the union of its LCS with every prediction
// sentence; each token of a union counts as a hit only while both the
// target's and the prediction's remaining counts of that token are positive
// (each hit uses one of each). Precision is hits over the prediction's
// token count, recall hits over the target's.
func RougeLsum(target, prediction [][]string) Score {
	m, n := 0, 0
	for _, s := range target {
		m += len(s)
	}
	for _, s := range prediction {
		n += len(s)
	}
	if m == 0 || n == 0 {
		return Score{}
	}
	refCounts := make(map[string]int)
	canCounts := make(map[string]int)
	for _, s := range target {
		for _, tok := range s {
			refCounts[tok]++
		}
	}
	for _, s := range prediction {
		for _, tok := range s {
			canCounts[tok]++
		}
	}
	hits := 0
	inUnion := make([]bool, 0, 64)
	for _, ref := range target {
		inUnion = slices.Grow(inUnion[:0], len(ref))[:len(ref)]
		clear(inUnion)
		for _, can := range prediction {
			for _, i := range lcsIndices(ref, can) {
				inUnion[i] = true
			}
		}
		for i, ok := range inUnion {
			if !ok {
				continue
			}
			tok := ref[i]
			if canCounts[tok] > 0 && refCounts[tok] > 0 {
				hits++
				canCounts[tok]--
				refCounts[tok]--
			}
		}
	}
	p := float64(hits) / float64(n)
	r := float64(hits) / float64(m)
	return Score{Precision: p, Recall: r, F1: FMeasure(p, r)}
}
