package vision

import (
	"fmt"
	"math"

	"github.com/xraygpt-go/xraygpt/linalg"
)

// QFormerConfig holds the hyperparameters of BLIP-2's Q-Former as XrayGPT
// runs it (32 queries, BERT-base width 768, 12 layers, 12 heads, FFN 3072,
// cross-attention every 2nd layer to 1408-wide image features, eps 1e-12),
// and of the ln_vision LayerNorm in front of it (eps 1e-5).
type QFormerConfig struct {
	Queries      int     // learned query tokens Q
	Width        int     // hidden width W
	Layers       int     // BERT layers
	Heads        int     // attention heads
	FF           int     // intermediate (FFN) width
	CrossFreq    int     // cross-attention in layers where i % CrossFreq == 0
	EncoderWidth int     // width of the image features (the ViT width)
	Eps          float32 // LayerNorm epsilon of the BERT layers
	LNVisionEps  float32 // LayerNorm epsilon of ln_vision
}

// HasCross says whether layer i has cross-attention to the image.
func (c QFormerConfig) HasCross(i int) bool { return c.CrossFreq > 0 && i%c.CrossFreq == 0 }

// qformer is ln_vision + the BLIP-2 Q-Former's query path
// (salesforce/LAVIS lavis/models/blip2_models/Qformer.py; XrayGPT's
// encode_img feeds only the query tokens, so the text-side FFN is unused).
// Comments name the checkpoint keys.
type qformer struct {
	config QFormerConfig

	lnVision    norm      // ln_vision [E]
	queryTokens []float32 // query_tokens [1,Q,W]
	embedNorm   norm      // Qformer.bert.embeddings.LayerNorm [W]
	layers      []qformerLayer
}

// bertAttention is a BERT attention sub-layer: self (query, key, value) and
// output (dense, LayerNorm), post-LN with a residual.
type bertAttention struct {
	query, key, value linalg.Dense // self.query [W,W], self.key, self.value [W,KV]
	dense             linalg.Dense // output.dense [W,W]
	norm              norm         // output.LayerNorm [W]
}

// qformerLayer is "Qformer.bert.encoder.layer.N.".
type qformerLayer struct {
	attention    bertAttention  // attention.*
	cross        *bertAttention // crossattention.*, nil in layers without it
	intermediate linalg.Dense   // intermediate_query.dense [FF,W]
	output       linalg.Dense   // output_query.dense [W,FF]
	outputNorm   norm           // output_query.LayerNorm [W]
}

func loadBertAttention(l *loader, p string, W, kv int, eps float32) bertAttention {
	return bertAttention{
		query: l.dense(p+"self.query.", W, W, true, false),
		key:   l.dense(p+"self.key.", W, kv, true, false),
		value: l.dense(p+"self.value.", W, kv, true, false),
		dense: l.dense(p+"output.dense.", W, W, true, false),
		norm:  l.norm(p+"output.LayerNorm.", W, eps),
	}
}

func loadQFormer(l *loader, c QFormerConfig) *qformer {
	W, E := c.Width, c.EncoderWidth
	q := &qformer{config: c}
	q.lnVision = l.norm("ln_vision.", E, c.LNVisionEps)
	q.queryTokens = l.get("query_tokens", 1, c.Queries, W)
	q.embedNorm = l.norm("Qformer.bert.embeddings.LayerNorm.", W, c.Eps)
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("Qformer.bert.encoder.layer.%d.", i)
		ly := qformerLayer{
			attention:    loadBertAttention(l, p+"attention.", W, W, c.Eps),
			intermediate: l.dense(p+"intermediate_query.dense.", c.FF, W, true, false),
			output:       l.dense(p+"output_query.dense.", W, c.FF, true, false),
			outputNorm:   l.norm(p+"output_query.LayerNorm.", W, c.Eps),
		}
		if c.HasCross(i) {
			ca := loadBertAttention(l, p+"crossattention.", W, E, c.Eps)
			ly.cross = &ca
		}
		q.layers = append(q.layers, ly)
	}
	return q
}

// qformerState holds the Q-Former's activations, allocated once.
type qformerState struct {
	img    []float32 // [M,E] ln_vision(image features)
	x      []float32 // [Q,W] hidden states of the queries
	h      []float32 // [Q,W]
	q      []float32 // [Q,W]
	k, v   []float32 // [max(Q,M),W]
	ctx    []float32 // [Q,W] attention output before output.dense
	ff     []float32 // [Q,FF]
	scores []float32 // heads x attnScratch(Q, max(Q,M), W/heads)
}

func newQFormerState(c QFormerConfig, M int) *qformerState {
	Q, W := c.Queries, c.Width
	kv := max(Q, M)
	return &qformerState{
		img: make([]float32, M*c.EncoderWidth),
		x:   make([]float32, Q*W), h: make([]float32, Q*W), q: make([]float32, Q*W),
		k: make([]float32, kv*W), v: make([]float32, kv*W),
		ctx: make([]float32, Q*W), ff: make([]float32, Q*c.FF),
		scores: make([]float32, c.Heads*attnScratch(Q, kv, W/c.Heads)),
	}
}

// attend runs a BERT attention sub-layer for the Q query rows x (ldx = W)
// attending to kv [n, KV] rows, and writes out = LayerNorm(dense(attn) + x).
// out may alias x.
func (qf *qformer) attend(ex linalg.Exec, s *qformerState, a *bertAttention, out, x, kv []float32, n int) {
	c := qf.config
	Q, W := c.Queries, c.Width
	hd := W / c.Heads
	a.query.Apply(ex, s.q, x, Q)
	a.key.Apply(ex, s.k, kv, n)
	a.value.Apply(ex, s.v, kv, n)
	attention(ex, attnArgs{
		q: s.q, k: s.k, v: s.v, o: s.ctx, ldq: W, ldk: W, ldv: W, ldo: W,
		nq: Q, nk: n, heads: c.Heads, hd: hd,
		scale: float32(1 / math.Sqrt(float64(hd))),
	}, s.scores)
	// residual into the dense output, then post-LN
	a.dense.Apply(ex, s.h, s.ctx, Q)
	addRows(s.h[:Q*W], x[:Q*W])
	a.norm.apply(ex, out, s.h, Q)
}

// layer runs one Q-Former layer on the queries s.x in place.
func (qf *qformer) layer(ex linalg.Exec, s *qformerState, ly *qformerLayer, M int) {
	c := qf.config
	Q, W := c.Queries, c.Width
	qf.attend(ex, s, &ly.attention, s.x, s.x, s.x, Q)
	if ly.cross != nil {
		qf.attend(ex, s, ly.cross, s.x, s.x, s.img, M)
	}
	ly.intermediate.Apply(ex, s.ff, s.x, Q)
	gelu(ex, s.ff)
	ly.output.Apply(ex, s.h, s.ff, Q)
	addRows(s.h[:Q*W], s.x)
	ly.outputNorm.apply(ex, s.x, s.h, Q)
}
