package vision

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"

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

// EVA is the EVA ViT image encoder (salesforce/LAVIS lavis/models/eva_vit.py,
// without its final norm and head). Field names mirror the checkpoint keys
// under "visual_encoder.".
type EVA struct {
	Config EVAConfig

	PatchEmbedProjWeight []float32 // patch_embed.proj.weight [D,3,P,P]
	PatchEmbedProjBias   []float32 // patch_embed.proj.bias [D]
	ClsToken             []float32 // cls_token [1,1,D]
	PosEmbed             []float32 // pos_embed [1,N,D], N = patches+1
	Blocks               []EVABlock
}

// EVABlock is one pre-norm transformer block ("blocks.N.").
type EVABlock struct {
	Norm1Weight, Norm1Bias []float32 // norm1 [D]
	AttnQKVWeight          []float32 // attn.qkv.weight [3D,D] (no bias tensor)
	AttnQBias, AttnVBias   []float32 // attn.q_bias, attn.v_bias [D]; k has no bias
	AttnProjWeight         []float32 // attn.proj.weight [D,D]
	AttnProjBias           []float32 // attn.proj.bias [D]
	Norm2Weight, Norm2Bias []float32 // norm2 [D]
	MLPFc1Weight           []float32 // mlp.fc1.weight [MLP,D]
	MLPFc1Bias             []float32 // mlp.fc1.bias [MLP]
	MLPFc2Weight           []float32 // mlp.fc2.weight [D,MLP]
	MLPFc2Bias             []float32 // mlp.fc2.bias [D]

	qkvBias []float32 // q_bias, zeros, v_bias [3D], built at load

	// The four matrices repacked for linalg's AVX-512 product, when the
	// model uses it (then the Weight fields above are nil: the weights are
	// held once, packed).
	qkv, proj, fc1, fc2 *linalg.Packed
}

func loadEVA(l *loader, prefix string, c EVAConfig) *EVA {
	D, P, N := c.Width, c.PatchSize, c.Tokens()
	e := &EVA{Config: c}
	e.PatchEmbedProjWeight = l.get(prefix+"patch_embed.proj.weight", D, 3, P, P)
	e.PatchEmbedProjBias = l.get(prefix+"patch_embed.proj.bias", D)
	e.ClsToken = l.get(prefix+"cls_token", 1, 1, D)
	e.PosEmbed = l.get(prefix+"pos_embed", 1, N, D)
	for i := 0; i < c.Blocks; i++ {
		p := fmt.Sprintf("%sblocks.%d.", prefix, i)
		// In checkpoint order, as Tensors lists them.
		var b EVABlock
		b.Norm1Weight = l.get(p+"norm1.weight", D)
		b.Norm1Bias = l.get(p+"norm1.bias", D)
		b.AttnQKVWeight, b.qkv = l.matrix(p+"attn.qkv.weight", 3*D, D)
		b.AttnQBias = l.get(p+"attn.q_bias", D)
		b.AttnVBias = l.get(p+"attn.v_bias", D)
		b.AttnProjWeight, b.proj = l.matrix(p+"attn.proj.weight", D, D)
		b.AttnProjBias = l.get(p+"attn.proj.bias", D)
		b.Norm2Weight = l.get(p+"norm2.weight", D)
		b.Norm2Bias = l.get(p+"norm2.bias", D)
		b.MLPFc1Weight, b.fc1 = l.matrix(p+"mlp.fc1.weight", c.MLP, D)
		b.MLPFc1Bias = l.get(p+"mlp.fc1.bias", c.MLP)
		b.MLPFc2Weight, b.fc2 = l.matrix(p+"mlp.fc2.weight", D, c.MLP)
		b.MLPFc2Bias = l.get(p+"mlp.fc2.bias", D)
		if l.err == nil && b.AttnQBias != nil {
			b.qkvBias = make([]float32, 3*D)
			copy(b.qkvBias, b.AttnQBias)
			copy(b.qkvBias[2*D:], b.AttnVBias)
		}
		e.Blocks = append(e.Blocks, b)
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

// patchEmbed turns the CHW image [3,S,S] into tokens s.x [N,D]: a
// patch-by-patch conv (kernel = stride = P) as one GEMM, then CLS and pos_embed.
func (e *EVA) patchEmbed(bl blas.Float32, s *evaState, img []float32, threads int) {
	c := e.Config
	S, P, D := c.ImageSize, c.PatchSize, c.Width
	G := S / P
	K := 3 * P * P
	// im2col: row = patch (raster order), column = (channel, ky, kx) as in the conv weight.
	for py := 0; py < G; py++ {
		for px := 0; px < G; px++ {
			row := s.patches[(py*G+px)*K:]
			for ch := 0; ch < 3; ch++ {
				for ky := 0; ky < P; ky++ {
					src := img[ch*S*S+(py*P+ky)*S+px*P:]
					copy(row[ch*P*P+ky*P:ch*P*P+ky*P+P], src[:P])
				}
			}
		}
	}
	copy(s.x[:D], e.ClsToken)
	linear(bl, s.x[D:], s.patches, G*G, K, D, e.PatchEmbedProjWeight, e.PatchEmbedProjBias, false, threads)
	addRows(s.x, e.PosEmbed)
}

// block runs one pre-norm block on s.x in place:
// x += proj(attn(norm1(x))); x += fc2(gelu(fc1(norm2(x)))).
func (e *EVA) block(bl blas.Float32, s *evaState, b *EVABlock, threads int) {
	c := e.Config
	N, D := c.Tokens(), c.Width
	hd := D / c.Heads
	layerNorm(s.h, s.x, N, D, b.Norm1Weight, b.Norm1Bias, c.Eps, threads)
	dense(bl, s.qkv, s.h, N, D, 3*D, b.AttnQKVWeight, b.qkv, b.qkvBias, false, threads)
	attention(bl, attnArgs{
		q: s.qkv, k: s.qkv[D:], v: s.qkv[2*D:], o: s.att,
		ldq: 3 * D, ldk: 3 * D, ldv: 3 * D, ldo: D,
		nq: N, nk: N, heads: c.Heads, hd: hd,
		scale:  float32(1 / math.Sqrt(float64(hd))),
		packed: b.qkv != nil,
	}, s.scores, threads)
	dense(bl, s.x, s.att, N, D, D, b.AttnProjWeight, b.proj, b.AttnProjBias, true, threads)

	layerNorm(s.h, s.x, N, D, b.Norm2Weight, b.Norm2Bias, c.Eps, threads)
	dense(bl, s.mlp, s.h, N, D, c.MLP, b.MLPFc1Weight, b.fc1, b.MLPFc1Bias, false, threads)
	gelu(s.mlp, threads)
	dense(bl, s.x, s.mlp, N, c.MLP, D, b.MLPFc2Weight, b.fc2, b.MLPFc2Bias, true, threads)
}

// dense is linear with the weight either plain (w) or packed (p, not nil).
func dense(bl blas.Float32, y, x []float32, rows, in, out int, w []float32, p *linalg.Packed, b []float32, accumulate bool, threads int) {
	if p != nil {
		p.Linear(y[:rows*out], x[:rows*in], rows, b, accumulate, threads)
		return
	}
	linear(bl, y, x, rows, in, out, w, b, accumulate, threads)
}
