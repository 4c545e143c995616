package llamatest

import (
	"fmt"
	"sort"
	"strings"
)

// Token types as llama.cpp reads them from tokenizer.ggml.token_type.
const (
	tokenNormal  = 1
	tokenUnknown = 2
	tokenControl = 3
	tokenByte    = 6
)

// Ids of the special tokens in the vocabulary Vocab builds.
const (
	UNK = 0
	BOS = 1
	EOS = 2
)

// words is the source of the word pieces: common English words, chest X-ray
// report vocabulary and a few suffixes, as SentencePiece-style pieces.
const words = `the of and to a in is with no there are be or for on as at by this that from
it an not which has have was were can may also these its but one two left right both
lung lungs chest heart cardiac size normal pleural effusion pneumothorax opacity opacities
consolidation atelectasis edema pulmonary vascular congestion silhouette mediastinal
contours hilar cardiomegaly enlarged mild moderate severe small large bilateral base bases
lobe upper lower middle apical basilar focal acute disease process findings impression
clear well expanded stable unchanged prior comparison compared seen evidence suggest
suggests likely possible patient image images view views frontal lateral portable ap pa
tube line catheter tip projects terminates svc atrium placement position device pacemaker
surgical clips sternotomy wires spine degenerative changes osseous structures fracture
fractures rib ribs soft tissue tissues diaphragm hemidiaphragm costophrenic angle angles
blunting trace minimal increased decreased interval improvement worsening new old
infection pneumonia aspiration scarring fibrosis nodule nodules mass masses granuloma
calcified calcification aorta aortic tortuous knob thoracic abdomen free air subdiaphragmatic
doctor describe given x ray xray scan medical detail details report summary please answer
you your what how does do any see shows show demonstrates within limits otherwise
ing ed er ly es s al ion tion ic ous ity ment ness`

// Vocab returns the test vocabulary: <unk>, <s>, </s>, the 256 byte-fallback
// tokens <0x00>..<0xFF>, then SentencePiece-style pieces ("▁the", "ing", the
// ASCII letters and punctuation, "#", "##", "###") with their scores and
// token types. Every prefix of a piece is a piece too, so llama.cpp's
// SentencePiece merge can reach it.
func Vocab() (tokens []string, scores []float32, types []int32) {
	add := func(s string, score float32, typ int32) {
		tokens = append(tokens, s)
		scores = append(scores, score)
		types = append(types, typ)
	}
	add("<unk>", 0, tokenUnknown)
	add("<s>", 0, tokenControl)
	add("</s>", 0, tokenControl)
	for b := 0; b < 256; b++ {
		add(fmt.Sprintf("<0x%02X>", b), 0, tokenByte)
	}
	seen := map[string]bool{}
	var pieces []string
	piece := func(p string) {
		if !seen[p] {
			seen[p] = true
			pieces = append(pieces, p)
		}
	}
	// Single characters: letters, digits, punctuation and the word boundary.
	piece("▁")
	for c := 0x21; c < 0x7f; c++ {
		piece(string(rune(c)))
	}
	piece("##")
	piece("###")
	piece("▁#")
	piece("▁##")
	piece("▁###")
	for _, w := range strings.Fields(words) {
		for _, full := range []string{"▁" + w, w} {
			rs := []rune(full)
			for n := 2; n <= len(rs); n++ {
				piece(string(rs[:n]))
			}
		}
	}
	// Longer pieces score higher, so merges build whole words; ties keep
	// a stable order.
	sort.SliceStable(pieces, func(i, j int) bool {
		return len([]rune(pieces[i])) < len([]rune(pieces[j]))
	})
	for i, p := range pieces {
		add(p, -float32(len(pieces)-i)/10, tokenNormal)
	}
	return tokens, scores, types
}
