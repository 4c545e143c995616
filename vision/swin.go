package vision

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
)

// SwinConfig holds the hyperparameters of a Swin Transformer as Hugging Face
// builds it (MedCLIP: microsoft/swin-tiny-patch4-window7-224, image 224,
// patch 4, embed 96, depths 2,2,6,2, heads 3,6,12,24, window 7, MLP ratio 4,
// eps 1e-5) and of MedCLIP's projection head (768 -> 512, no bias).
type SwinConfig struct {
	ImageSize  int     // input height = width
	Channels   int     // channels of the input tensor (MedCLIP: 1, repeated to 3)
	PatchSize  int     // patch embedding conv kernel = stride
	EmbedDim   int     // width C of the first stage; doubles per stage
	Depths     []int   // blocks per stage
	Heads      []int   // attention heads per stage
	WindowSize int     // attention window (shrinks to the resolution when larger)
	MLPRatio   int     // intermediate width = MLPRatio * C
	Eps        float32 // LayerNorm epsilon
	ProjDim    int     // projection_head output width (0: none)
}

// Width is the width of the last stage (num_features).
func (c SwinConfig) Width() int { return c.EmbedDim << (len(c.Depths) - 1) }

// Tokens is the number of output tokens (7x7 = 49 for Swin-T at 224).
func (c SwinConfig) Tokens() int {
	r := c.ImageSize / c.PatchSize >> (len(c.Depths) - 1)
	return r * r
}

// Swin is Hugging Face's SwinModel plus MedCLIP's projection head.
// Field names mirror the keys under "vision_model.model." and
// "vision_model.projection_head.".
type Swin struct {
	Config SwinConfig

	EmbeddingsPatchEmbeddingsProjectionWeight []float32 // [C,3,P,P]
	EmbeddingsPatchEmbeddingsProjectionBias   []float32 // [C]
	EmbeddingsNormWeight, EmbeddingsNormBias  []float32 // [C]
	Stages                                    []SwinStage
	LayernormWeight, LayernormBias            []float32 // layernorm [8C]
	ProjectionHeadWeight                      []float32 // projection_head.weight [ProjDim, 8C]
}

// SwinStage is "encoder.layers.S.": blocks, then patch merging except in the last.
type SwinStage struct {
	Blocks []SwinBlock

	DownsampleReductionWeight []float32 // downsample.reduction.weight [2C,4C] (no bias)
	DownsampleNormWeight      []float32 // downsample.norm.weight [4C]
	DownsampleNormBias        []float32 // downsample.norm.bias [4C]

	res, dim, heads int // input resolution (res x res tokens), width, heads
}

// SwinBlock is "encoder.layers.S.blocks.B.".
type SwinBlock struct {
	LayernormBeforeWeight, LayernormBeforeBias []float32 // [C]
	AttentionSelfRelativePositionBiasTable     []float32 // [(2w-1)^2, heads]
	AttentionSelfQueryWeight                   []float32 // [C,C]
	AttentionSelfQueryBias                     []float32 // [C]
	AttentionSelfKeyWeight                     []float32
	AttentionSelfKeyBias                       []float32
	AttentionSelfValueWeight                   []float32
	AttentionSelfValueBias                     []float32
	AttentionOutputDenseWeight                 []float32 // [C,C]
	AttentionOutputDenseBias                   []float32
	LayernormAfterWeight, LayernormAfterBias   []float32 // [C]
	IntermediateDenseWeight                    []float32 // [4C,C]
	IntermediateDenseBias                      []float32 // [4C]
	OutputDenseWeight                          []float32 // [C,4C]
	OutputDenseBias                            []float32 // [C]

	window, shift int
	bias          []float32 // relative position bias [heads, w*w, w*w], from the table
	mask          []float32 // shifted-window mask [windows, w*w, w*w], nil without shift
	gather        []int32   // token index for (window, position) after the roll
}

func (c SwinConfig) validate() error {
	if len(c.Depths) == 0 || len(c.Depths) != len(c.Heads) {
		return fmt.Errorf("swin: %d depths and %d head counts", len(c.Depths), len(c.Heads))
	}
	if c.PatchSize <= 0 || c.ImageSize%c.PatchSize != 0 {
		return fmt.Errorf("swin: image size %d not a multiple of patch size %d", c.ImageSize, c.PatchSize)
	}
	res := c.ImageSize / c.PatchSize
	for s := range c.Depths {
		dim := c.EmbedDim << s
		if c.Heads[s] <= 0 || dim%c.Heads[s] != 0 {
			return fmt.Errorf("swin: stage %d width %d not divisible by %d heads", s, dim, c.Heads[s])
		}
		w := min(c.WindowSize, res)
		if w <= 0 || res%w != 0 {
			return fmt.Errorf("swin: stage %d resolution %d not a multiple of window %d (padding unsupported)", s, res, w)
		}
		if s < len(c.Depths)-1 && res%2 != 0 {
			return fmt.Errorf("swin: stage %d resolution %d is odd (padding unsupported)", s, res)
		}
		res /= 2
	}
	return nil
}

func loadSwin(l *loader, c SwinConfig) *Swin {
	const p = "vision_model.model."
	C, P := c.EmbedDim, c.PatchSize
	m := &Swin{Config: c}
	m.EmbeddingsPatchEmbeddingsProjectionWeight = l.get(p+"embeddings.patch_embeddings.projection.weight", C, 3, P, P)
	m.EmbeddingsPatchEmbeddingsProjectionBias = l.get(p+"embeddings.patch_embeddings.projection.bias", C)
	m.EmbeddingsNormWeight = l.get(p+"embeddings.norm.weight", C)
	m.EmbeddingsNormBias = l.get(p+"embeddings.norm.bias", C)
	res := c.ImageSize / P
	for s, depth := range c.Depths {
		dim, heads := C<<s, c.Heads[s]
		st := SwinStage{res: res, dim: dim, heads: heads}
		for b := 0; b < depth; b++ {
			q := fmt.Sprintf("%sencoder.layers.%d.blocks.%d.", p, s, b)
			w, shift := c.WindowSize, 0
			if b%2 == 1 {
				shift = c.WindowSize / 2
			}
			if res <= w { // as HF: a window covering the image never shifts
				w, shift = res, 0
			}
			r := (2*w - 1) * (2*w - 1)
			blk := SwinBlock{
				LayernormBeforeWeight:                  l.get(q+"layernorm_before.weight", dim),
				LayernormBeforeBias:                    l.get(q+"layernorm_before.bias", dim),
				AttentionSelfRelativePositionBiasTable: l.get(q+"attention.self.relative_position_bias_table", r, heads),
				AttentionSelfQueryWeight:               l.get(q+"attention.self.query.weight", dim, dim),
				AttentionSelfQueryBias:                 l.get(q+"attention.self.query.bias", dim),
				AttentionSelfKeyWeight:                 l.get(q+"attention.self.key.weight", dim, dim),
				AttentionSelfKeyBias:                   l.get(q+"attention.self.key.bias", dim),
				AttentionSelfValueWeight:               l.get(q+"attention.self.value.weight", dim, dim),
				AttentionSelfValueBias:                 l.get(q+"attention.self.value.bias", dim),
				AttentionOutputDenseWeight:             l.get(q+"attention.output.dense.weight", dim, dim),
				AttentionOutputDenseBias:               l.get(q+"attention.output.dense.bias", dim),
				LayernormAfterWeight:                   l.get(q+"layernorm_after.weight", dim),
				LayernormAfterBias:                     l.get(q+"layernorm_after.bias", dim),
				IntermediateDenseWeight:                l.get(q+"intermediate.dense.weight", c.MLPRatio*dim, dim),
				IntermediateDenseBias:                  l.get(q+"intermediate.dense.bias", c.MLPRatio*dim),
				OutputDenseWeight:                      l.get(q+"output.dense.weight", dim, c.MLPRatio*dim),
				OutputDenseBias:                        l.get(q+"output.dense.bias", dim),
				window:                                 w,
				shift:                                  shift,
			}
			if l.err == nil && blk.AttentionSelfRelativePositionBiasTable != nil {
				blk.prepare(res, heads)
			}
			st.Blocks = append(st.Blocks, blk)
		}
		if s < len(c.Depths)-1 {
			q := fmt.Sprintf("%sencoder.layers.%d.downsample.", p, s)
			st.DownsampleReductionWeight = l.get(q+"reduction.weight", 2*dim, 4*dim)
			st.DownsampleNormWeight = l.get(q+"norm.weight", 4*dim)
			st.DownsampleNormBias = l.get(q+"norm.bias", 4*dim)
			res /= 2
		}
		m.Stages = append(m.Stages, st)
	}
	W := c.Width()
	m.LayernormWeight = l.get(p+"layernorm.weight", W)
	m.LayernormBias = l.get(p+"layernorm.bias", W)
	if c.ProjDim > 0 {
		m.ProjectionHeadWeight = l.get("vision_model.projection_head.weight", c.ProjDim, W)
	}
	return m
}

// prepare builds the block's relative position bias, shift mask and the
// token gather order for a res x res input.
func (b *SwinBlock) prepare(res, heads int) {
	w, sh := b.window, b.shift
	n := w * w
	// relative position bias [heads, n, n] from the table [(2w-1)^2, heads]
	b.bias = make([]float32, heads*n*n)
	for i := 0; i < n; i++ {
		yi, xi := i/w, i%w
		for j := 0; j < n; j++ {
			yj, xj := j/w, j%w
			idx := (yi-yj+w-1)*(2*w-1) + (xi - xj + w - 1)
			for h := 0; h < heads; h++ {
				b.bias[h*n*n+i*n+j] = b.AttentionSelfRelativePositionBiasTable[idx*heads+h]
			}
		}
	}
	// Window (wy,wx), position (py,px) of the image rolled by -shift reads
	// token ((y+shift) mod res, (x+shift) mod res) of the unrolled image.
	nw := (res / w) * (res / w)
	b.gather = make([]int32, nw*n)
	for wy := 0; wy < res/w; wy++ {
		for wx := 0; wx < res/w; wx++ {
			for py := 0; py < w; py++ {
				for px := 0; px < w; px++ {
					y, x := (wy*w+py+sh)%res, (wx*w+px+sh)%res
					b.gather[((wy*(res/w)+wx)*w+py)*w+px] = int32(y*res + x)
				}
			}
		}
	}
	if sh == 0 {
		return
	}
	// Rolled coordinates fall in 3 bands per axis; tokens of different
	// regions must not attend to each other (-100, as HF does).
	band := func(v int) int {
		switch {
		case v < res-w:
			return 0
		case v < res-sh:
			return 1
		}
		return 2
	}
	b.mask = make([]float32, nw*n*n)
	label := make([]int, n)
	for win := 0; win < nw; win++ {
		wy, wx := win/(res/w), win%(res/w)
		for p := 0; p < n; p++ {
			label[p] = band(wy*w+p/w)*3 + band(wx*w+p%w)
		}
		m := b.mask[win*n*n:]
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				if label[i] != label[j] {
					m[i*n+j] = -100
				}
			}
		}
	}
}

// swinState holds the Swin activations, sized for the first (largest) stage.
type swinState struct {
	rgb     []float32 // [3,S,S] the input with its channel repeated
	patches []float32 // [L0, 3*P*P]
	x       []float32 // [L,C] residual stream
	h       []float32 // [L,C] normalized
	win     []float32 // [L,C] tokens in window order
	q, k, v []float32 // [L,C]
	ctx     []float32 // [L,C] attention output in window order
	mlp     []float32 // [L,MLP*C]
	merge   []float32 // [L/4, 4C]
	scores  []float32 // windows*heads x attnScratch(w*w, w*w, head width), the largest over stages
}

func newSwinState(c SwinConfig) *swinState {
	res := c.ImageSize / c.PatchSize
	L0, C := res*res, c.EmbedDim
	n := L0 * C // L*C halves per stage, so the first stage is the largest
	sc := 0
	r := res
	for s := range c.Depths {
		w := min(c.WindowSize, r)
		sc = max(sc, (r/w)*(r/w)*c.Heads[s]*attnScratch(w*w, w*w, (C<<s)/c.Heads[s]))
		r /= 2
	}
	return &swinState{
		rgb:     make([]float32, 3*c.ImageSize*c.ImageSize),
		patches: make([]float32, L0*3*c.PatchSize*c.PatchSize),
		x:       make([]float32, n), h: make([]float32, n), win: make([]float32, n),
		q: make([]float32, n), k: make([]float32, n), v: make([]float32, n), ctx: make([]float32, n),
		mlp:    make([]float32, n*c.MLPRatio),
		merge:  make([]float32, n),
		scores: make([]float32, sc),
	}
}

// embed is SwinEmbeddings: repeat a single input channel to RGB as MedCLIP
// does, patch conv (kernel = stride = P) as one GEMM, then LayerNorm -> s.x [L0,C].
func (m *Swin) embed(bl blas.Float32, s *swinState, img []float32, threads int) {
	c := m.Config
	S, P, C := c.ImageSize, c.PatchSize, c.EmbedDim
	rgb := img
	if c.Channels == 1 {
		for ch := 0; ch < 3; ch++ {
			copy(s.rgb[ch*S*S:(ch+1)*S*S], img)
		}
		rgb = s.rgb
	}
	G, K := S/P, 3*P*P
	for py := 0; py < G; py++ {
		for px := 0; px < G; px++ {
			row := s.patches[(py*G+px)*K:]
			for ch := 0; ch < 3; ch++ {
				for ky := 0; ky < P; ky++ {
					copy(row[ch*P*P+ky*P:ch*P*P+ky*P+P], rgb[ch*S*S+(py*P+ky)*S+px*P:])
				}
			}
		}
	}
	linear(bl, s.x, s.patches, G*G, K, C, m.EmbeddingsPatchEmbeddingsProjectionWeight, m.EmbeddingsPatchEmbeddingsProjectionBias, false, threads)
	layerNorm(s.x, s.x, G*G, C, m.EmbeddingsNormWeight, m.EmbeddingsNormBias, c.Eps, threads)
}

// block is SwinLayer on s.x [res*res, C] in place: windowed (shifted)
// attention with relative position bias, then the MLP, both pre-norm residual.
func (m *Swin) block(bl blas.Float32, s *swinState, st *SwinStage, b *SwinBlock, threads int) {
	c := m.Config
	L, C, heads := st.res*st.res, st.dim, st.heads
	w := b.window
	n := w * w
	nw := L / n
	hd := C / heads
	layerNorm(s.h, s.x, L, C, b.LayernormBeforeWeight, b.LayernormBeforeBias, c.Eps, threads)
	for i, src := range b.gather { // roll by -shift and partition into windows
		copy(s.win[i*C:(i+1)*C], s.h[int(src)*C:int(src+1)*C])
	}
	linear(bl, s.q, s.win, L, C, C, b.AttentionSelfQueryWeight, b.AttentionSelfQueryBias, false, threads)
	linear(bl, s.k, s.win, L, C, C, b.AttentionSelfKeyWeight, b.AttentionSelfKeyBias, false, threads)
	linear(bl, s.v, s.win, L, C, C, b.AttentionSelfValueWeight, b.AttentionSelfValueBias, false, threads)
	scale := float32(1 / math.Sqrt(float64(hd)))
	parallelFor(nw*heads, threads, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			win, h := t/heads, t%heads
			a := attnArgs{
				q: s.q[win*n*C:], k: s.k[win*n*C:], v: s.v[win*n*C:], o: s.ctx[win*n*C:],
				ldq: C, ldk: C, ldv: C, ldo: C,
				nq: n, nk: n, heads: heads, hd: hd, scale: scale, bias: b.bias,
			}
			if b.mask != nil {
				a.mask = b.mask[win*n*n : (win+1)*n*n]
			}
			sz := attnScratch(n, n, hd)
			attendHead(bl, a, h, s.scores[t*sz:(t+1)*sz])
		}
	})
	linear(bl, s.win, s.ctx, L, C, C, b.AttentionOutputDenseWeight, b.AttentionOutputDenseBias, false, threads)
	for i, dst := range b.gather { // reverse the windows and the roll, add the shortcut
		addRows(s.x[int(dst)*C:int(dst+1)*C], s.win[i*C:(i+1)*C])
	}
	layerNorm(s.h, s.x, L, C, b.LayernormAfterWeight, b.LayernormAfterBias, c.Eps, threads)
	F := c.MLPRatio * C
	linear(bl, s.mlp, s.h, L, C, F, b.IntermediateDenseWeight, b.IntermediateDenseBias, false, threads)
	gelu(s.mlp[:L*F], threads)
	linear(bl, s.x, s.mlp, L, F, C, b.OutputDenseWeight, b.OutputDenseBias, true, threads)
}

// downsample is SwinPatchMerging: concatenate each 2x2 neighbourhood in the
// order (0,0), (1,0), (0,1), (1,1) (row, col), LayerNorm, reduce 4C -> 2C.
func (m *Swin) downsample(bl blas.Float32, s *swinState, st *SwinStage, threads int) {
	r, C := st.res, st.dim
	h := r / 2
	offs := [4][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}}
	for y := 0; y < h; y++ {
		for x := 0; x < h; x++ {
			dst := s.merge[(y*h+x)*4*C:]
			for i, o := range offs {
				src := ((2*y+o[0])*r + 2*x + o[1]) * C
				copy(dst[i*C:(i+1)*C], s.x[src:src+C])
			}
		}
	}
	layerNorm(s.merge, s.merge, h*h, 4*C, st.DownsampleNormWeight, st.DownsampleNormBias, m.Config.Eps, threads)
	linear(bl, s.x, s.merge, h*h, 4*C, 2*C, st.DownsampleReductionWeight, nil, false, threads)
}
