package vision

import (
	"fmt"
	"math"

	"github.com/xraygpt-go/xraygpt/linalg"
)

// EVAConfig holds the hyperparameters of an EVA ViT (EVA ViT-g/14 in XrayGPT:
// image 224, patch 14, width 1408, 39 blocks used, 16 heads, MLP 6144, eps 1e-6).
type EVAConfig struct {
	ImageSize int     // input height = width in pixels
	PatchSize int     // square patch (conv kernel = stride)
	Width     int     // embedding width D
	Blocks    int     // transformer blocks to run
	Heads     int     // attention heads; D/Heads per head
	MLP       int     // hidden width of the MLP
	Eps       float32 // LayerNorm epsilon inside the blocks
}

// Tokens is the sequence length: one token per patch plus the CLS token.
func (c EVAConfig) Tokens() int { g := c.ImageSize / c.PatchSize; return g*g + 1 }

// eva is the EVA ViT image encoder (salesforce/LAVIS lavis/models/eva_vit.py,
// without its final norm and head). Comments name the checkpoint keys under
// "visual_encoder.".
type eva struct {
	config EVAConfig

	patchEmbed         linalg.Dense // patch_embed.proj [D,3,P,P] + bias, as a Linear over im2col rows
	clsToken, posEmbed []float32    // cls_token [1,1,D], pos_embed [1,N,D] (N = patches+1)
	blocks             []evaBlock   // blocks.N.
}

// evaBlock is one pre-norm transformer block ("blocks.N."). The four large
// matrices are packed for linalg's AVX-512 product when the model uses it.
type evaBlock struct {
	norm1 norm         // norm1
	qkv   linalg.Dense // attn.qkv.weight [3D,D]; bias q_bias, zeros (k has none), v_bias
	proj  linalg.Dense // attn.proj [D,D]
	norm2 norm         // norm2
	fc1   linalg.Dense // mlp.fc1 [MLP,D]
	fc2   linalg.Dense // mlp.fc2 [D,MLP]
}

func loadEVA(l *loader, prefix string, c EVAConfig) *eva {
	D, P, N := c.Width, c.PatchSize, c.Tokens()
	e := &eva{config: c}
	e.patchEmbed = linalg.Dense{In: 3 * P * P, Out: D,
		W: l.get(prefix+"patch_embed.proj.weight", D, 3, P, P),
		B: l.get(prefix+"patch_embed.proj.bias", D)}
	e.clsToken = l.get(prefix+"cls_token", 1, 1, D)
	e.posEmbed = l.get(prefix+"pos_embed", 1, N, D)
	for i := 0; i < c.Blocks; i++ {
		p := fmt.Sprintf("%sblocks.%d.", prefix, i)
		// In checkpoint order, as Tensors lists them.
		var b evaBlock
		b.norm1 = l.norm(p+"norm1.", D, c.Eps)
		b.qkv = l.dense(p+"attn.qkv.", 3*D, D, false, true)
		qb, vb := l.get(p+"attn.q_bias", D), l.get(p+"attn.v_bias", D)
		if l.err == nil && qb != nil {
			b.qkv.B = make([]float32, 3*D)
			copy(b.qkv.B, qb)
			copy(b.qkv.B[2*D:], vb)
		}
		b.proj = l.dense(p+"attn.proj.", D, D, true, true)
		b.norm2 = l.norm(p+"norm2.", D, c.Eps)
		b.fc1 = l.dense(p+"mlp.fc1.", c.MLP, D, true, true)
		b.fc2 = l.dense(p+"mlp.fc2.", D, c.MLP, true, true)
		e.blocks = append(e.blocks, b)
	}
	return e
}

// evaState holds the activations of one EVA forward pass, allocated once.
type evaState struct {
	x       []float32 // [N,D] residual stream
	h       []float32 // [N,D] normalized input of a sub-layer
	qkv     []float32 // [N,3D]
	att     []float32 // [N,D] attention output before proj
	mlp     []float32 // [N,MLP]
	scores  []float32 // heads x attnScratch(N, N, D/heads)
	patches []float32 // [N-1, 3*P*P] im2col of the image
}

func newEVAState(c EVAConfig) *evaState {
	N, D := c.Tokens(), c.Width
	return &evaState{
		x: make([]float32, N*D), h: make([]float32, N*D), qkv: make([]float32, N*3*D),
		att: make([]float32, N*D), mlp: make([]float32, N*c.MLP),
		scores:  make([]float32, c.Heads*attnScratch(N, N, D/c.Heads)),
		patches: make([]float32, (N-1)*3*c.PatchSize*c.PatchSize),
	}
}

// embed turns the CHW image [3,S,S] into tokens s.x [N,D]: the patch conv
// (kernel = stride = P) as one Linear over im2col rows, then CLS and pos_embed.
func (e *eva) embed(ex linalg.Exec, s *evaState, img []float32) {
	c := e.config
	G, D := c.ImageSize/c.PatchSize, c.Width
	im2col(s.patches, img, c.ImageSize, c.PatchSize)
	copy(s.x[:D], e.clsToken)
	e.patchEmbed.Apply(ex, s.x[D:], s.patches, G*G)
	addRows(s.x, e.posEmbed)
}

// block runs one pre-norm block on s.x in place:
// x += proj(attn(norm1(x))); x += fc2(gelu(fc1(norm2(x)))).
func (e *eva) block(ex linalg.Exec, s *evaState, b *evaBlock) {
	c := e.config
	N, D := c.Tokens(), c.Width
	hd := D / c.Heads
	b.norm1.apply(ex, s.h, s.x, N)
	b.qkv.Apply(ex, s.qkv, s.h, N)
	attention(ex, attnArgs{
		q: s.qkv, k: s.qkv[D:], v: s.qkv[2*D:], o: s.att,
		ldq: 3 * D, ldk: 3 * D, ldv: 3 * D, ldo: D,
		nq: N, nk: N, heads: c.Heads, hd: hd,
		scale:  float32(1 / math.Sqrt(float64(hd))),
		packed: b.qkv.P != nil,
	}, s.scores)
	b.proj.AddTo(ex, s.x, s.att, N)

	b.norm2.apply(ex, s.h, s.x, N)
	b.fc1.Apply(ex, s.mlp, s.h, N)
	gelu(ex, s.mlp)
	b.fc2.AddTo(ex, s.x, s.mlp, N)
}
