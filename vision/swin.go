package vision

import (
	"fmt"
	"math"

	"github.com/xraygpt-go/xraygpt/linalg"
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

// swin is Hugging Face's SwinModel plus MedCLIP's projection head.
// Comments name the keys under "vision_model.model." and
// "vision_model.projection_head.".
type swin struct {
	config SwinConfig

	patchEmbed     linalg.Dense // embeddings.patch_embeddings.projection [C,3,P,P] + bias
	embedNorm      norm         // embeddings.norm [C]
	stages         []swinStage  // encoder.layers.S.
	layernorm      norm         // layernorm [8C]
	projectionHead linalg.Dense // projection_head [ProjDim, 8C], no bias (ProjDim > 0)
}

// swinStage is "encoder.layers.S.": blocks, then patch merging except in the last.
type swinStage struct {
	blocks []swinBlock

	reduction linalg.Dense // downsample.reduction [2C,4C] (no bias); W nil in the last stage
	mergeNorm norm         // downsample.norm [4C]

	res, dim, heads int // input resolution (res x res tokens), width, heads
}

// swinBlock is "encoder.layers.S.blocks.B.".
type swinBlock struct {
	normBefore        norm         // layernorm_before [C]
	biasTable         []float32    // attention.self.relative_position_bias_table [(2w-1)^2, heads]
	query, key, value linalg.Dense // attention.self.{query,key,value} [C,C]
	output            linalg.Dense // attention.output.dense [C,C]
	normAfter         norm         // layernorm_after [C]
	intermediate      linalg.Dense // intermediate.dense [4C,C]
	mlpOut            linalg.Dense // output.dense [C,4C]

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

func loadSwin(l *loader, c SwinConfig) *swin {
	const p = "vision_model.model."
	C, P := c.EmbedDim, c.PatchSize
	m := &swin{config: c}
	m.patchEmbed = linalg.Dense{In: 3 * P * P, Out: C,
		W: l.get(p+"embeddings.patch_embeddings.projection.weight", C, 3, P, P),
		B: l.get(p+"embeddings.patch_embeddings.projection.bias", C)}
	m.embedNorm = l.norm(p+"embeddings.norm.", C, c.Eps)
	res := c.ImageSize / P
	for s, depth := range c.Depths {
		dim, heads := C<<s, c.Heads[s]
		st := swinStage{res: res, dim: dim, heads: heads}
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
			blk := swinBlock{
				normBefore:   l.norm(q+"layernorm_before.", dim, c.Eps),
				biasTable:    l.get(q+"attention.self.relative_position_bias_table", r, heads),
				query:        l.dense(q+"attention.self.query.", dim, dim, true, false),
				key:          l.dense(q+"attention.self.key.", dim, dim, true, false),
				value:        l.dense(q+"attention.self.value.", dim, dim, true, false),
				output:       l.dense(q+"attention.output.dense.", dim, dim, true, false),
				normAfter:    l.norm(q+"layernorm_after.", dim, c.Eps),
				intermediate: l.dense(q+"intermediate.dense.", c.MLPRatio*dim, dim, true, false),
				mlpOut:       l.dense(q+"output.dense.", dim, c.MLPRatio*dim, true, false),
				window:       w,
				shift:        shift,
			}
			if l.err == nil && blk.biasTable != nil {
				blk.prepare(res, heads)
			}
			st.blocks = append(st.blocks, blk)
		}
		if s < len(c.Depths)-1 {
			q := fmt.Sprintf("%sencoder.layers.%d.downsample.", p, s)
			st.reduction = l.dense(q+"reduction.", 2*dim, 4*dim, false, false)
			st.mergeNorm = l.norm(q+"norm.", 4*dim, c.Eps)
			res /= 2
		}
		m.stages = append(m.stages, st)
	}
	W := c.Width()
	m.layernorm = l.norm(p+"layernorm.", W, c.Eps)
	if c.ProjDim > 0 {
		m.projectionHead = l.dense("vision_model.projection_head.", c.ProjDim, W, false, false)
	}
	return m
}

// prepare builds the block's relative position bias, shift mask and the
// token gather order for a res x res input.
func (b *swinBlock) prepare(res, heads int) {
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
				b.bias[h*n*n+i*n+j] = b.biasTable[idx*heads+h]
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
// does, patch conv (kernel = stride = P) as one Linear over im2col rows,
// then LayerNorm -> s.x [L0,C].
func (m *swin) embed(ex linalg.Exec, s *swinState, img []float32) {
	c := m.config
	S, P := c.ImageSize, c.PatchSize
	rgb := img
	if c.Channels == 1 {
		for ch := 0; ch < 3; ch++ {
			copy(s.rgb[ch*S*S:(ch+1)*S*S], img)
		}
		rgb = s.rgb
	}
	G := S / P
	im2col(s.patches, rgb, S, P)
	m.patchEmbed.Apply(ex, s.x, s.patches, G*G)
	m.embedNorm.apply(ex, s.x, s.x, G*G)
}

// block is SwinLayer on s.x [res*res, C] in place: windowed (shifted)
// attention with relative position bias, then the MLP, both pre-norm residual.
func (m *swin) block(ex linalg.Exec, s *swinState, st *swinStage, b *swinBlock) {
	c := m.config
	L, C, heads := st.res*st.res, st.dim, st.heads
	w := b.window
	n := w * w
	nw := L / n
	hd := C / heads
	b.normBefore.apply(ex, s.h, s.x, L)
	for i, src := range b.gather { // roll by -shift and partition into windows
		copy(s.win[i*C:(i+1)*C], s.h[int(src)*C:int(src+1)*C])
	}
	b.query.Apply(ex, s.q, s.win, L)
	b.key.Apply(ex, s.k, s.win, L)
	b.value.Apply(ex, s.v, s.win, L)
	scale := float32(1 / math.Sqrt(float64(hd)))
	linalg.ParallelFor(nw*heads, ex.Threads, func(lo, hi int) {
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
			attendHead(ex, a, h, s.scores[t*sz:(t+1)*sz])
		}
	})
	b.output.Apply(ex, s.win, s.ctx, L)
	for i, dst := range b.gather { // reverse the windows and the roll, add the shortcut
		addRows(s.x[int(dst)*C:int(dst+1)*C], s.win[i*C:(i+1)*C])
	}
	b.normAfter.apply(ex, s.h, s.x, L)
	F := c.MLPRatio * C
	b.intermediate.Apply(ex, s.mlp, s.h, L)
	gelu(ex, s.mlp[:L*F])
	b.mlpOut.AddTo(ex, s.x, s.mlp, L)
}

// downsample is SwinPatchMerging: concatenate each 2x2 neighbourhood in the
// order (0,0), (1,0), (0,1), (1,1) (row, col), LayerNorm, reduce 4C -> 2C.
func (m *swin) downsample(ex linalg.Exec, s *swinState, st *swinStage) {
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
	st.mergeNorm.apply(ex, s.merge, s.merge, h*h)
	st.reduction.Apply(ex, s.x, s.merge, h*h)
}
