package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/xraygpt-go/xraygpt/llama"
)

// draw samples a token from the distribution p.
func draw(p []float64, r *rand.Rand) llama.Token {
	u := r.Float64()
	for t, pt := range p {
		if u < pt {
			return llama.Token(t)
		}
		u -= pt
	}
	for t := len(p) - 1; ; t-- { // rounding: the last possible token
		if p[t] > 0 {
			return llama.Token(t)
		}
	}
}

// rule emits the tokens of one verification step of drafts d, p[i] being
// the model's distribution at the position of d[i] (p[len(d)] after the
// last draft).
type rule func(d []llama.Token, p [][]float64, r *rand.Rand) []llama.Token

// speculateRule is the scheduler's rule: speculate with the model's draws.
func speculateRule(d []llama.Token, p [][]float64, r *rand.Rand) []llama.Token {
	var out []llama.Token
	speculate(d, func(i int) (llama.Token, bool) {
		t := draw(p[i], r)
		out = append(out, t)
		return t, true
	})
	return out
}

// alwaysAccept is a wrong rule: it takes every draft without checking it.
func alwaysAccept(d []llama.Token, p [][]float64, r *rand.Rand) []llama.Token {
	return append(append([]llama.Token(nil), d...), draw(p[len(d)], r))
}

// resampleFromP is a wrong rule: it accepts d[i] with probability p(d[i])
// but on rejection draws again from p instead of from p without d[i] (and
// goes on when that draw is d[i]), which makes d[i] too likely.
func resampleFromP(d []llama.Token, p [][]float64, r *rand.Rand) []llama.Token {
	var out []llama.Token
	for i, t := range d {
		if r.Float64() >= p[i][t] {
			if u := draw(p[i], r); u != t {
				return append(out, u)
			}
		}
		out = append(out, t)
	}
	return append(out, draw(p[len(d)], r))
}

// chiSquareCritical is the 99.9% quantile of the chi-square distribution
// with df degrees of freedom (Wilson-Hilferty).
func chiSquareCritical(df int) float64 {
	k := float64(df)
	a := 2 / (9 * k)
	return k * math.Pow(1-a+3.0902*math.Sqrt(a), 3)
}

// chiSquare compares observed counts with expected ones, pooling the
// categories expected fewer than 5 times; it returns the statistic (+Inf
// when a category of probability 0 was observed) and the degrees of
// freedom.
func chiSquare(obs map[string]int, exp map[string]float64) (float64, int) {
	for k := range obs {
		if _, ok := exp[k]; !ok {
			return math.Inf(1), len(exp) - 1
		}
	}
	var stat, poolE float64
	poolO, cats := 0, 0
	for k, e := range exp {
		if e < 5 {
			poolE += e
			poolO += obs[k]
			continue
		}
		stat += (float64(obs[k]) - e) * (float64(obs[k]) - e) / e
		cats++
	}
	if poolE > 0 {
		stat += (float64(poolO) - poolE) * (float64(poolO) - poolE) / poolE
		cats++
	}
	return stat, cats - 1
}

// TestSpeculateKeepsTheDistribution checks the accept/reject rule on a
// vocabulary of 8 tokens: over many steps with two drafts, the emitted
// tokens must follow the model's distributions exactly as decoding without
// drafts would (the first token from p[0]; the second, after an accepted
// first draft, from p[1]; ...), by a chi-square test at the 0.1% level
// against the exact probabilities of each emitted sequence. Drafts of high
// and low probability and one outside the top-k set (probability 0) are
// covered, and two wrong rules must fail the same test.
func TestSpeculateKeepsTheDistribution(t *testing.T) {
	cases := []struct {
		name string
		d    []llama.Token
		p    [][]float64
	}{
		{"likely drafts", []llama.Token{0, 3}, [][]float64{
			{0.7, 0.1, 0.1, 0.05, 0.05, 0, 0, 0},
			{0.05, 0.05, 0.1, 0.6, 0.1, 0.1, 0, 0},
			{0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05, 0},
		}},
		{"unlikely drafts", []llama.Token{5, 1}, [][]float64{
			{0.4, 0.2, 0.2, 0.1, 0.05, 0.05, 0, 0},
			{0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125},
			{0.5, 0.5, 0, 0, 0, 0, 0, 0},
		}},
		{"draft outside the top-k", []llama.Token{7, 2}, [][]float64{
			{0.5, 0.3, 0.2, 0, 0, 0, 0, 0},
			{0.2, 0.2, 0.2, 0.2, 0.2, 0, 0, 0},
			{0, 0, 0, 0, 0, 0, 0, 1},
		}},
	}
	// expected gives each possible emitted sequence's probability.
	expected := func(d []llama.Token, p [][]float64) map[string]float64 {
		exp := map[string]float64{}
		var walk func(i int, prefix string, prob float64)
		walk = func(i int, prefix string, prob float64) {
			for tok, pt := range p[i] {
				if pt == 0 {
					continue
				}
				seq := prefix + string(rune('a'+tok))
				if i < len(d) && llama.Token(tok) == d[i] {
					walk(i+1, seq, prob*pt)
				} else {
					exp[seq] += prob * pt
				}
			}
		}
		walk(0, "", 1)
		return exp
	}
	const trials = 20000
	test := func(name string, f rule) (failed []string) {
		r := rand.New(rand.NewPCG(17, 42))
		for _, c := range cases {
			obs := map[string]int{}
			for range trials {
				var seq []rune
				for _, tok := range f(c.d, c.p, r) {
					seq = append(seq, rune('a'+tok))
				}
				obs[string(seq)]++
			}
			exp := expected(c.d, c.p)
			for k := range exp {
				exp[k] *= trials
			}
			stat, df := chiSquare(obs, exp)
			if stat > chiSquareCritical(df) {
				failed = append(failed, c.name)
			}
			t.Logf("%s, %s: chi-square %.1f, %d degrees of freedom (critical %.1f)", name, c.name, stat, df, chiSquareCritical(df))
		}
		return failed
	}
	if failed := test("speculate", speculateRule); failed != nil {
		t.Errorf("speculate changes the distribution: %v", failed)
	}
	for name, wrong := range map[string]rule{"always accept": alwaysAccept, "resample from p": resampleFromP} {
		if failed := test(name, wrong); failed == nil {
			t.Errorf("the test does not tell the wrong rule %q from the right one", name)
		}
	}
}
