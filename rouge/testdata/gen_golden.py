#!/usr/bin/python3
"""Generates the golden files for the Go packages rouge and evaluate.

Run from the repository root (needs Debian's python3-nltk and wamerican,
`apt-get install python3-nltk wamerican`, and ../shared/data):

    /usr/bin/python3 rouge/testdata/gen_golden.py

Writes:
  rouge/testdata/stems.tsv            word<TAB>NLTK PorterStemmer().stem(word)
  rouge/testdata/golden_scores.json   ROUGE scores of text pairs
  evaluate/testdata/iu_golden.json    per-item scores and means on the IU
                                      X-ray reports (findings / impression
                                      scored against report)

Stems come from NLTK itself (nltk.stem.porter.PorterStemmer, default mode
NLTK_EXTENSIONS), the stemmer rouge-score uses.

rouge-score itself is not installable on these machines (no PyPI), so the
ROUGE values come from `reference_score` below: a short, plain rendering of
rouge-score's rouge_scorer.py / tokenize.py semantics (Python's str.lower and
re, collections.Counter, the full LCS table with its back-tracking tie rule)
on top of the real NLTK stemmer. It shares no code with the Go package; the
values that come from rouge-score's own test suite are carried over into the
Go tests directly (rouge_test.go), not through this script.
"""

import collections
import json
import os
import random
import re

from nltk.stem import porter

STEMMER = porter.PorterStemmer()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared", "data", "iu_xray_samples", "reports.jsonl")


# ---- rouge-score semantics -------------------------------------------------

def tokenize(text, stem):
    text = text.lower()
    text = re.sub(r"[^a-z0-9]+", " ", text)
    toks = re.split(r"\s+", text)
    if stem:
        toks = [STEMMER.stem(t) if len(t) > 3 else t for t in toks]
    return [t for t in toks if re.match(r"^[a-z0-9]+$", t)]


def fmeasure(p, r):
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def ngrams(toks, n):
    return collections.Counter(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))


def score_n(t, p, n):
    tc, pc = ngrams(t, n), ngrams(p, n)
    inter = sum(min(c, pc[g]) for g, c in tc.items())
    prec = inter / max(sum(pc.values()), 1)
    rec = inter / max(sum(tc.values()), 1)
    return [prec, rec, fmeasure(prec, rec)]


def lcs_table(a, b):
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                t[i][j] = t[i - 1][j - 1] + 1
            else:
                t[i][j] = max(t[i - 1][j], t[i][j - 1])
    return t


def score_l(t, p):
    if not t or not p:
        return [0.0, 0.0, 0.0]
    l = lcs_table(t, p)[-1][-1]
    prec, rec = l / len(p), l / len(t)
    return [prec, rec, fmeasure(prec, rec)]


def lcs_ind(ref, can):
    t = lcs_table(ref, can)
    i, j, out = len(ref), len(can), []
    while i > 0 and j > 0:
        if ref[i - 1] == can[j - 1]:
            out.append(i - 1)
            i -= 1
            j -= 1
        elif t[i][j - 1] > t[i - 1][j]:
            j -= 1
        else:
            i -= 1
    return out[::-1]


def score_lsum(target, prediction, stem):
    refs = [tokenize(s, stem) for s in target.split("\n") if s]
    cans = [tokenize(s, stem) for s in prediction.split("\n") if s]
    if not refs or not cans:
        return [0.0, 0.0, 0.0]
    m = sum(len(s) for s in refs)
    n = sum(len(s) for s in cans)
    if not m or not n:
        return [0.0, 0.0, 0.0]
    rc, cc = collections.Counter(), collections.Counter()
    for s in refs:
        rc.update(s)
    for s in cans:
        cc.update(s)
    hits = 0
    for r in refs:
        union = sorted(set().union(*[lcs_ind(r, c) for c in cans]))
        for tok in (r[i] for i in union):
            if cc[tok] > 0 and rc[tok] > 0:
                hits += 1
                cc[tok] -= 1
                rc[tok] -= 1
    prec, rec = hits / n, hits / m
    return [prec, rec, fmeasure(prec, rec)]


def reference_score(target, prediction, stem):
    t, p = tokenize(target, stem), tokenize(prediction, stem)
    return {
        "rouge1": score_n(t, p, 1),
        "rouge2": score_n(t, p, 2),
        "rougeL": score_l(t, p),
        "rougeLsum": score_lsum(target, prediction, stem),
    }


# ---- inputs -----------------------------------------------------------------

def load_reports():
    with open(SHARED) as f:
        return [json.loads(line) for line in f if line.strip()]


def stem_words(reports):
    words = set()
    for r in reports:
        for field in ("report", "findings", "impression", "indication"):
            words.update(tokenize(r.get(field) or "", False))
    with open("/usr/share/dict/american-english") as f:
        dict_words = [w.strip().lower() for w in f]
    dict_words = [w for w in dict_words if re.fullmatch(r"[a-z]+", w)]
    words.update(dict_words[::10])
    # Words that exercise each departure and rule of NLTK's algorithm.
    words.update("""
        sky skies dying lying tying news innings inning outings outing cannings
        canning howe proceed exceed succeed dies died flies spied ties tied
        caresses ponies sties caress cats feed agreed plastered bled motoring
        sing conflated troubled sized hopping tanned falling hissing fizzed
        failing filing happy enjoy spy fly try sky relational conditional
        rational valenci hesitanci digitizer conformabli radicalli differentli
        vileli analogousli vietnamization predication operator feudalism
        decisiveness hopefulness callousness formaliti sensitiviti sensibiliti
        triplicate formative formalize electriciti electrical hopeful goodness
        revival allowance inference airliner gyroscopic adjustable defensible
        irritant replacement adjustment dependent adoption homologou communism
        activate angulariti homologous effective bowdlerize probate rate cease
        controll roll generalization oscillators traditional archaeology
        geology theology fully hopefully oed aed ied eed ing ies sses yyyy
        yyyyyyy ayyy yayyay syzygy toy by ivy trees oats troubles private
        oaten orrery this was his does says lay play played playing generously
        cardiomegaly opacities opacity atelectasis pneumothorax effusions
        consolidation consolidations degenerative abnormalities calcified
        granulomas visualized mediastinal unremarkable hyperinflation
        1990s 3rd abc123 a1b2c3d4 xxxx
    """.split())
    # Random letter strings with the rules' suffixes, for odd paths.
    rng = random.Random(5)
    suffixes = ("sses ies ss s ied eed ed ing at bl iz y ational tional enci anci "
                "izer bli alli entli eli ousli ization ation ator alism iveness "
                "fulness ousness aliti iviti biliti fulli logi icate ative alize "
                "iciti ical ful ness al ance ence er ic able ible ant ement ment "
                "ent sion tion ou ism ate iti ous ive ize e ll").split()
    letters = "aeiouyybcdfglmnprstvwxz"
    for _ in range(1500):
        base = "".join(rng.choice(letters) for _ in range(rng.randint(1, 7)))
        words.add(base + rng.choice(suffixes))
    return sorted(w for w in words if len(w) > 0)


def pair_cases(reports):
    cases = []

    def add(name, target, prediction):
        for stem in (False, True):
            cases.append({
                "name": name,
                "target": target,
                "prediction": prediction,
                "stem": stem,
                "scores": reference_score(target, prediction, stem),
            })

    add("readme", "The quick brown fox jumps over the lazy dog",
        "The quick brown dog jumps on the log.")
    add("empty-both", "", "")
    add("empty-prediction", "testing one two", "")
    add("empty-target", "", "testing one two")
    add("only-punct", "w1 w2 w3 w4 w5", "/")
    add("unicode-kelvin", "\u212aelvin scale at 300 \u212a", "kelvin Scale")
    add("unicode-dotted-i", "\u0130stanbul \u0130NFLAMMATION", "i stanbul i nflammation")
    add("unicode-mixed", "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber STRA\u00dfE",
        "cafe naive resume uber strasse")
    add("unicode-greek-cjk", "\u03a3\u03bf\u03c6\u03af\u03b1 heart \u5fc3\u81df normal",
        "heart normal \u5fc3")
    add("lsum-paper", "w1 w2 w3 w4 w5", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5")
    add("lsum-blank-lines", "\n\nthe heart is normal\n\n\nno effusion\n",
        "no effusion\n\nthe heart size is normal\n")
    add("lsum-crlf", "the lungs are clear\r\nno pneumothorax\r\n",
        "no pneumothorax\r\nlungs clear\r\n")
    add("repeats", "the the the cat the", "the cat the the the the the")
    add("digits", "T12 vertebra 2.5 cm, 10mm nodule", "t12 vertebrae 2 5 cm 10 mm nodules")

    # Report pairs: real radiology sentences, with and without newlines.
    for i in range(0, 60):
        a, b = reports[i], reports[(i + 7) % len(reports)]
        add("iu-cross-%d" % i, a["report"], b["report"])
        if a.get("impression"):
            add("iu-impression-%d" % i, a["report"], a["impression"])
    for i in range(0, 40):
        a, b = reports[i], reports[(i + 3) % len(reports)]
        split_a = "\n".join(s.strip() for s in a["report"].split(".") if s.strip())
        split_b = "\n".join(s.strip() for s in b["report"].split(".") if s.strip())
        add("iu-lsum-%d" % i, split_a, split_b)
        mixed = "\n".join(sorted(split_a.split("\n") + split_b.split("\n")[:2]))
        add("iu-lsum-mixed-%d" % i, split_a, mixed)
    return cases


def iu_golden(reports):
    out = {}
    for pred_field in ("findings", "impression"):
        items = []
        for r in reports:
            items.append({
                "id": r["id"],
                "plain": reference_score(r["report"], r.get(pred_field) or "", False),
                "stemmed": reference_score(r["report"], r.get(pred_field) or "", True),
            })
        means = {}
        for mode in ("plain", "stemmed"):
            means[mode] = {
                typ: [sum(it[mode][typ][k] for it in items) / len(items) for k in range(3)]
                for typ in ("rouge1", "rouge2", "rougeL", "rougeLsum")
            }
        out[pred_field] = {"items": items, "means": means}
    return out


def main():
    reports = load_reports()
    words = stem_words(reports)
    with open(os.path.join(ROOT, "rouge", "testdata", "stems.tsv"), "w") as f:
        for w in words:
            f.write("%s\t%s\n" % (w, STEMMER.stem(w)))
    with open(os.path.join(ROOT, "rouge", "testdata", "golden_scores.json"), "w") as f:
        json.dump(pair_cases(reports), f, indent=0, ensure_ascii=True)
        f.write("\n")
    os.makedirs(os.path.join(ROOT, "evaluate", "testdata"), exist_ok=True)
    with open(os.path.join(ROOT, "evaluate", "testdata", "iu_golden.json"), "w") as f:
        json.dump(iu_golden(reports), f, indent=0)
        f.write("\n")
    print("stems:", len(words))


if __name__ == "__main__":
    main()
