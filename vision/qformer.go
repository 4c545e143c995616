package vision

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
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

// QFormer is ln_vision + the BLIP-2 Q-Former's query path
// (salesforce/LAVIS lavis/models/blip2_models/Qformer.py; XrayGPT's
// encode_img feeds only the query tokens, so the text-side FFN is unused).
// Names mirror the checkpoint keys.
type QFormer struct {
	Config QFormerConfig

	LNVisionWeight, LNVisionBias []float32 // ln_vision [E]
	QueryTokens                  []float32 // query_tokens [1,Q,W]
	EmbeddingsLayerNormWeight    []float32 // Qformer.bert.embeddings.LayerNorm.weight [W]
	EmbeddingsLayerNormBias      []float32 // Qformer.bert.embeddings.LayerNorm.bias [W]
	Layers                       []QFormerLayer
}

// BertAttention is a BERT attention sub-layer: self (query, key, value) and
// output (dense, LayerNorm), post-LN with a residual.
type BertAttention struct {
	SelfQueryWeight, SelfQueryBias []float32 // self.query [W,W]
	SelfKeyWeight, SelfKeyBias     []float32 // self.key [W,KV]
	SelfValueWeight, SelfValueBias []float32 // self.value [W,KV]
	OutputDenseWeight              []float32 // output.dense.weight [W,W]
	OutputDenseBias                []float32 // output.dense.bias [W]
	OutputLayerNormWeight          []float32 // output.LayerNorm.weight [W]
	OutputLayerNormBias            []float32 // output.LayerNorm.bias [W]
	kvWidth                        int
}

// QFormerLayer is "Qformer.bert.encoder.layer.N.".
type QFormerLayer struct {
	Attention      BertAttention  // attention.*
	CrossAttention *BertAttention // crossattention.*, nil in layers without it

	IntermediateQueryDenseWeight []float32 // intermediate_query.dense.weight [FF,W]
	IntermediateQueryDenseBias   []float32 // intermediate_query.dense.bias [FF]
	OutputQueryDenseWeight       []float32 // output_query.dense.weight [W,FF]
	OutputQueryDenseBias         []float32 // output_query.dense.bias [W]
	OutputQueryLayerNormWeight   []float32 // output_query.LayerNorm.weight [W]
	OutputQueryLayerNormBias     []float32 // output_query.LayerNorm.bias [W]
}

func loadBertAttention(l *loader, p string, W, kv int) BertAttention {
	return BertAttention{
		SelfQueryWeight:       l.get(p+"self.query.weight", W, W),
		SelfQueryBias:         l.get(p+"self.query.bias", W),
		SelfKeyWeight:         l.get(p+"self.key.weight", W, kv),
		SelfKeyBias:           l.get(p+"self.key.bias", W),
		SelfValueWeight:       l.get(p+"self.value.weight", W, kv),
		SelfValueBias:         l.get(p+"self.value.bias", W),
		OutputDenseWeight:     l.get(p+"output.dense.weight", W, W),
		OutputDenseBias:       l.get(p+"output.dense.bias", W),
		OutputLayerNormWeight: l.get(p+"output.LayerNorm.weight", W),
		OutputLayerNormBias:   l.get(p+"output.LayerNorm.bias", W),
		kvWidth:               kv,
	}
}

func loadQFormer(l *loader, c QFormerConfig) *QFormer {
	W, E := c.Width, c.EncoderWidth
	q := &QFormer{Config: c}
	q.LNVisionWeight = l.get("ln_vision.weight", E)
	q.LNVisionBias = l.get("ln_vision.bias", E)
	q.QueryTokens = l.get("query_tokens", 1, c.Queries, W)
	q.EmbeddingsLayerNormWeight = l.get("Qformer.bert.embeddings.LayerNorm.weight", W)
	q.EmbeddingsLayerNormBias = l.get("Qformer.bert.embeddings.LayerNorm.bias", W)
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("Qformer.bert.encoder.layer.%d.", i)
		ly := QFormerLayer{
			Attention:                    loadBertAttention(l, p+"attention.", W, W),
			IntermediateQueryDenseWeight: l.get(p+"intermediate_query.dense.weight", c.FF, W),
			IntermediateQueryDenseBias:   l.get(p+"intermediate_query.dense.bias", c.FF),
			OutputQueryDenseWeight:       l.get(p+"output_query.dense.weight", W, c.FF),
			OutputQueryDenseBias:         l.get(p+"output_query.dense.bias", W),
			OutputQueryLayerNormWeight:   l.get(p+"output_query.LayerNorm.weight", W),
			OutputQueryLayerNormBias:     l.get(p+"output_query.LayerNorm.bias", W),
		}
		if c.HasCross(i) {
			ca := loadBertAttention(l, p+"crossattention.", W, E)
			ly.CrossAttention = &ca
		}
		q.Layers = append(q.Layers, ly)
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
// attending to kv [n, a.kvWidth] rows, and writes
// out = LayerNorm(dense(attn) + x). out may alias x.
func (qf *QFormer) attend(bl blas.Float32, s *qformerState, a *BertAttention, out, x, kv []float32, n, threads int) {
	c := qf.Config
	Q, W := c.Queries, c.Width
	hd := W / c.Heads
	linear(bl, s.q, x, Q, W, W, a.SelfQueryWeight, a.SelfQueryBias, false, threads)
	linear(bl, s.k, kv, n, a.kvWidth, W, a.SelfKeyWeight, a.SelfKeyBias, false, threads)
	linear(bl, s.v, kv, n, a.kvWidth, W, a.SelfValueWeight, a.SelfValueBias, false, threads)
	attention(bl, attnArgs{
		q: s.q, k: s.k, v: s.v, o: s.ctx, ldq: W, ldk: W, ldv: W, ldo: W,
		nq: Q, nk: n, heads: c.Heads, hd: hd,
		scale: float32(1 / math.Sqrt(float64(hd))),
	}, s.scores, threads)
	// residual into the dense output, then post-LN
	linear(bl, s.h, s.ctx, Q, W, W, a.OutputDenseWeight, a.OutputDenseBias, false, threads)
	addRows(s.h[:Q*W], x[:Q*W])
	layerNorm(out, s.h, Q, W, a.OutputLayerNormWeight, a.OutputLayerNormBias, c.Eps, threads)
}

// layer runs one Q-Former layer on the queries s.x in place.
func (qf *QFormer) layer(bl blas.Float32, s *qformerState, ly *QFormerLayer, M, threads int) {
	c := qf.Config
	Q, W := c.Queries, c.Width
	qf.attend(bl, s, &ly.Attention, s.x, s.x, s.x, Q, threads)
	if ly.CrossAttention != nil {
		qf.attend(bl, s, ly.CrossAttention, s.x, s.x, s.img, M, threads)
	}
	linear(bl, s.ff, s.x, Q, W, c.FF, ly.IntermediateQueryDenseWeight, ly.IntermediateQueryDenseBias, false, threads)
	gelu(s.ff, threads)
	linear(bl, s.h, s.ff, Q, c.FF, W, ly.OutputQueryDenseWeight, ly.OutputQueryDenseBias, false, threads)
	addRows(s.h[:Q*W], s.x)
	layerNorm(s.x, s.h, Q, W, ly.OutputQueryLayerNormWeight, ly.OutputQueryLayerNormBias, c.Eps, threads)
}
