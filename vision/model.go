package vision

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/linalg"
)

// ErrInput means the pixel tensor does not have the size the model expects.
var ErrInput = errors.New("vision: wrong input size")

// Options tune how a model runs. The zero value is a good default.
type Options struct {
	// BLAS runs the matrix products that are not packed; nil means
	// linalg.Default() (native BLAS when it loads, else pure-Go gonum).
	BLAS blas.Float32
	// Threads is the number of goroutines for matrix products (split by
	// rows or columns, one BLAS call each), attention heads and element-wise
	// work; 0 means GOMAXPROCS. The fastest setting measured is a
	// single-threaded BLAS (linalg.SetThreads(impl, 1), a process-wide
	// OpenBLAS setting this package never changes) with Threads = cores.
	Threads int
	// NoPacked runs every product through BLAS. By default, on CPUs with
	// AVX-512 (linalg.FastLinear), the four large matrices of each EVA block
	// are repacked once at load and multiplied by linalg's own kernel.
	NoPacked bool
}

// Tensor is a row-major [Rows, Cols] float32 matrix.
type Tensor struct {
	Rows, Cols int
	Data       []float32
}

// Stage is an intermediate output of a forward pass, for tests and debugging.
type Stage struct {
	Name string
	Tensor
}

// Stage names reported by EncodeStages.
const (
	StagePatchEmbed = "patch_embed" // tokens after the patch embedding (EVA: +CLS +pos_embed; Swin: +norm)
	StageBlock0     = "block0"      // after the first EVA block / first Swin block
	StageBlock1     = "block1"      // after the second Swin block (the first shifted one)
	StageEncoder    = "encoder"     // EVA: after the last block used
	StageLNVision   = "ln_vision"   // EVA: ln_vision(encoder)
	StageQFormer    = "qformer"     // Q-Former query outputs [Q, W]
	StageSwinStage  = "stage"       // Swin: "stage0".."stageN-1", after each stage's patch merging
	StageLastHidden = "last_hidden" // Swin: final LayerNorm [49, 768]
	StagePooled     = "pooled"      // Swin: mean over tokens [1, 768]
	StageEmbedding  = "embedding"   // Swin: projection_head(pooled) [1, 512]
	StageSoftTokens = "soft_tokens" // projector output
)

// Model is a loaded vision encoder with its optional projector. Encode may be
// called from several goroutines; calls run one at a time because the
// activation buffers are allocated once and reused.
type Model struct {
	Config Config

	eva       *eva         // KindEVAQFormer
	qformer   *qformer     // KindEVAQFormer
	swin      *swin        // KindMedCLIPSwin
	projector linalg.Dense // llama_proj or the MedCLIP projector; Out 0 without one

	ex   linalg.Exec
	file *gguf.File
	// WidenedBytes is how many bytes of weights were copied to the heap:
	// f16/bf16 tensors widened to float32, and in such files the f32 ones
	// too, after which the mapping is released. In an all-f32 file every
	// tensor is used in place from the mapping and this is 0.
	WidenedBytes int64
	// PackedBytes is the memory of the packed matrices (see Options.NoPacked),
	// 2 bytes a weight for an f16 file's, 4 otherwise; their mapped pages are
	// released after packing.
	PackedBytes int64

	mu     sync.Mutex
	evaS   *evaState
	qfS    *qformerState
	swS    *swinState
	projed []float32
}

// Open memory-maps a vision GGUF file and loads the model it describes.
// Every tensor is checked for presence and shape.
func Open(path string, opt Options) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vision: %w", err)
	}
	m, err := FromGGUF(f, opt)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("vision: load %s: %w", path, err)
	}
	return m, nil
}

// FromGGUF loads the model from an open GGUF file, which the model then owns
// (Close closes it; it is closed at once when some tensor is f16 or bf16:
// then every tensor is copied into memory, the packed matrices of an f16
// file in half precision, the others widened to float32).
func FromGGUF(f *gguf.File, opt Options) (*Model, error) {
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		return nil, err
	}
	src := &ggufSource{f: f}
	for _, t := range f.Tensors {
		if t.Type == gguf.TypeF16 || t.Type == gguf.TypeBF16 {
			src.copyAll = true
		}
	}
	pack := usePacked(opt)
	m, err := build(cfg, src, opt, pack)
	if err != nil {
		return nil, err
	}
	m.WidenedBytes = src.widened
	if src.aliased {
		m.file = f
	} else {
		// Every tensor was widened into the heap: drop the mapping so its
		// pages do not count twice in the resident set.
		f.Close()
	}
	return m, nil
}

// Random builds a model with random weights of cfg's real sizes, for
// benchmarks and tests that need no file.
func Random(cfg Config, seed uint64, opt Options) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return build(cfg, &randSource{state: seed*0x9E3779B97F4A7C15 | 1}, opt, usePacked(opt))
}

// build loads the model from src; pack says to repack EVA's large matrices
// for linalg's packed product.
func build(cfg Config, src tensorSource, opt Options, pack bool) (*Model, error) {
	m := &Model{Config: cfg, ex: linalg.Exec{BLAS: opt.BLAS, Threads: opt.Threads}}
	l := &loader{src: src, pack: pack}
	switch cfg.Kind {
	case KindEVAQFormer:
		m.eva = loadEVA(l, "visual_encoder.", cfg.EVA)
		m.qformer = loadQFormer(l, cfg.QFormer)
	case KindMedCLIPSwin:
		m.swin = loadSwin(l, cfg.Swin)
	default:
		return nil, fmt.Errorf("%w: kind %q", ErrUnsupported, cfg.Kind)
	}
	if p := cfg.Projector; p.Out > 0 {
		w := l.get(ProjectorWeight, p.Out, p.In)
		var b []float32
		if p.Bias {
			b = l.get(ProjectorBias, p.Out)
		}
		m.projector = linalg.Dense{In: p.In, Out: p.Out, W: w, B: b}
	}
	if l.err != nil {
		return nil, l.err
	}
	m.PackedBytes = l.packed
	return m, nil
}

// Close releases the weights file. The model must not be used afterwards.
func (m *Model) Close() error {
	if m.file == nil {
		return nil
	}
	err := m.file.Close()
	m.file = nil
	return err
}

// InputSize is the number of float32 values Encode expects: the
// preprocessed CHW image, Channels x Size x Size.
func (m *Model) InputSize() int {
	p := m.Config.Preprocess
	return p.Channels * p.Size * p.Size
}

// Encode runs the encoder (and the projector, when the file has one) on a
// preprocessed CHW image and returns a new tensor: the soft tokens with a
// projector, else the encoder's tokens (XrayGPT: Q-Former output 32x768;
// MedCLIP: the last hidden state 49x768).
func (m *Model) Encode(ctx context.Context, pixels []float32) (Tensor, error) {
	var out Tensor
	err := m.forward(ctx, pixels, func(name string, t Tensor) {
		switch {
		case name == StageSoftTokens,
			m.projector.Out == 0 && (name == StageQFormer || name == StageLastHidden):
			out = Tensor{Rows: t.Rows, Cols: t.Cols, Data: append([]float32(nil), t.Data...)}
		}
	})
	return out, err
}

// EncodeStages is Encode that also returns a copy of every intermediate
// stage (see the Stage* names), in order.
func (m *Model) EncodeStages(ctx context.Context, pixels []float32) ([]Stage, error) {
	var stages []Stage
	err := m.forward(ctx, pixels, func(name string, t Tensor) {
		stages = append(stages, Stage{Name: name, Tensor: Tensor{Rows: t.Rows, Cols: t.Cols, Data: append([]float32(nil), t.Data...)}})
	})
	return stages, err
}

// forward runs the model, calling hook (which must not keep t.Data) at
// every stage boundary.
func (m *Model) forward(ctx context.Context, pixels []float32, hook func(string, Tensor)) error {
	if len(pixels) != m.InputSize() {
		return fmt.Errorf("%w: got %d values, want %d (%dx%dx%d)", ErrInput, len(pixels), m.InputSize(),
			m.Config.Preprocess.Channels, m.Config.Preprocess.Size, m.Config.Preprocess.Size)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var tokens Tensor
	var err error
	switch m.Config.Kind {
	case KindEVAQFormer:
		tokens, err = m.forwardEVAQFormer(ctx, pixels, hook)
	case KindMedCLIPSwin:
		tokens, err = m.forwardSwin(ctx, pixels, hook)
	}
	if err != nil || m.projector.Out == 0 {
		return err
	}
	rows, out := tokens.Rows, m.projector.Out
	if cap(m.projed) < rows*out {
		m.projed = make([]float32, rows*out)
	}
	dst := m.projed[:rows*out]
	m.projector.Apply(m.ex, dst, tokens.Data, rows)
	hook(StageSoftTokens, Tensor{Rows: rows, Cols: out, Data: dst})
	return nil
}

// forwardEVAQFormer is XrayGPT's encode_img without llama_proj:
// Q-Former(queries, ln_vision(EVA(image))). It returns the projector input.
func (m *Model) forwardEVAQFormer(ctx context.Context, img []float32, hook func(string, Tensor)) (Tensor, error) {
	e, qf, ex := m.eva, m.qformer, m.ex
	s, q := m.states()
	N, D := e.config.Tokens(), e.config.Width
	tok := func(x []float32, rows, cols int) Tensor { return Tensor{Rows: rows, Cols: cols, Data: x[:rows*cols]} }

	e.embed(ex, s, img)
	hook(StagePatchEmbed, tok(s.x, N, D))
	for i := range e.blocks {
		if err := ctx.Err(); err != nil {
			return Tensor{}, err
		}
		e.block(ex, s, &e.blocks[i])
		if i == 0 {
			hook(StageBlock0, tok(s.x, N, D))
		}
	}
	hook(StageEncoder, tok(s.x, N, D))

	c := qf.config
	qf.lnVision.apply(ex, q.img, s.x, N)
	hook(StageLNVision, tok(q.img, N, D))
	qf.embedNorm.apply(ex, q.x, qf.queryTokens, c.Queries)
	for i := range qf.layers {
		if err := ctx.Err(); err != nil {
			return Tensor{}, err
		}
		qf.layer(ex, q, &qf.layers[i], N)
	}
	out := tok(q.x, c.Queries, c.Width)
	hook(StageQFormer, out)
	return out, nil
}

// states returns the activation buffers of an EVA + Q-Former model,
// allocated on first use.
func (m *Model) states() (*evaState, *qformerState) {
	if m.evaS == nil {
		m.evaS = newEVAState(m.eva.config)
		m.qfS = newQFormerState(m.qformer.config, m.eva.config.Tokens())
	}
	return m.evaS, m.qfS
}

// swinStates returns the activation buffers of a Swin model, allocated on
// first use.
func (m *Model) swinStates() *swinState {
	if m.swS == nil {
		m.swS = newSwinState(m.swin.config)
	}
	return m.swS
}

// forwardSwin is MedCLIP's vision model: Swin stages, final LayerNorm, mean
// pooling and the projection head. It returns the projector input.
func (m *Model) forwardSwin(ctx context.Context, img []float32, hook func(string, Tensor)) (Tensor, error) {
	sw, ex := m.swin, m.ex
	c := sw.config
	s := m.swinStates()
	tok := func(x []float32, rows, cols int) Tensor { return Tensor{Rows: rows, Cols: cols, Data: x[:rows*cols]} }

	sw.embed(ex, s, img)
	res := c.ImageSize / c.PatchSize
	hook(StagePatchEmbed, tok(s.x, res*res, c.EmbedDim))
	for si := range sw.stages {
		st := &sw.stages[si]
		L := st.res * st.res
		for bi := range st.blocks {
			if err := ctx.Err(); err != nil {
				return Tensor{}, err
			}
			sw.block(ex, s, st, &st.blocks[bi])
			if si == 0 && bi <= 1 {
				hook([]string{StageBlock0, StageBlock1}[bi], tok(s.x, L, st.dim))
			}
		}
		if st.reduction.W != nil {
			sw.downsample(ex, s, st)
			hook(fmt.Sprintf("%s%d", StageSwinStage, si), tok(s.x, L/4, 2*st.dim))
		} else {
			hook(fmt.Sprintf("%s%d", StageSwinStage, si), tok(s.x, L, st.dim))
		}
	}
	W, T := c.Width(), c.Tokens()
	sw.layernorm.apply(ex, s.h, s.x, T)
	last := tok(s.h, T, W)
	hook(StageLastHidden, last)
	pooled := s.win[:W]
	clear(pooled)
	for t := 0; t < T; t++ {
		addRows(pooled, last.Data[t*W:(t+1)*W])
	}
	for i := range pooled {
		pooled[i] /= float32(T)
	}
	hook(StagePooled, tok(pooled, 1, W))
	var emb Tensor
	if c.ProjDim > 0 {
		sw.projectionHead.Apply(ex, s.q[:c.ProjDim], pooled, 1)
		emb = tok(s.q, 1, c.ProjDim)
		hook(StageEmbedding, emb)
	}
	if m.Config.Projector.Input == ProjectEmbedding {
		return emb, nil
	}
	return last, nil
}

// usePacked says whether a model with these options multiplies the large
// matrices with linalg's packed AVX-512 product.
func usePacked(opt Options) bool { return !opt.NoPacked && linalg.FastLinear() }

// Packed reports whether the model multiplies its large matrices with
// linalg's packed AVX-512 product rather than BLAS.
func (m *Model) Packed() bool {
	return m.eva != nil && len(m.eva.blocks) > 0 && m.eva.blocks[0].qkv.P != nil
}

// TensorSpec names a tensor of a vision file and its PyTorch shape
// (outermost dimension first).
type TensorSpec struct {
	Name  string
	Shape []int

	packed bool // loaded by loader.matrix while packing
}

// Tensors lists, in load order, every tensor a model of configuration cfg
// reads from its weights file: what a converter must write.
func Tensors(cfg Config) ([]TensorSpec, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rec := &recordSource{}
	// Packing on, to record which tensors are packed whatever the CPU.
	if _, err := build(cfg, rec, Options{BLAS: gonum.Implementation{}}, true); err != nil {
		return nil, err
	}
	return rec.specs, nil
}

// recordSource records what the loader asks for and returns no data.
type recordSource struct{ specs []TensorSpec }

func (r *recordSource) tensor(name string, shape []int) ([]float32, error) {
	r.specs = append(r.specs, TensorSpec{Name: name, Shape: append([]int(nil), shape...)})
	return nil, nil
}

func (r *recordSource) tensorTemp(name string, shape []int, _ []float32) ([]float32, func(), error) {
	r.specs = append(r.specs, TensorSpec{Name: name, Shape: append([]int(nil), shape...), packed: true})
	return nil, func() {}, nil
}

func (r *recordSource) alloc(int) []float32 { return nil }

func (r *recordSource) halves(string, []int) ([]uint16, func(), error) { return nil, nil, nil }

func (r *recordSource) allocHalf(int) []uint16 { return nil }

// randSource makes random weights: LayerNorm-like vectors near 1, others
// uniform with standard deviation 0.02, so activations keep a sane scale
// through deep stacks. It is a cheap xorshift generator: real-size models
// have a billion weights.
type randSource struct{ state uint64 }

func (r *randSource) next() float32 {
	r.state ^= r.state << 13
	r.state ^= r.state >> 7
	r.state ^= r.state << 17
	return float32(r.state>>40)/(1<<24)*2 - 1 // uniform [-1, 1)
}

func (r *randSource) tensor(name string, shape []int) ([]float32, error) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	t := make([]float32, n)
	r.fill(t, name, shape)
	return t, nil
}

func (r *randSource) tensorTemp(name string, shape []int, buf []float32) ([]float32, func(), error) {
	r.fill(buf, name, shape)
	return buf, func() {}, nil
}

func (r *randSource) alloc(n int) []float32 { return make([]float32, n) }

func (r *randSource) halves(string, []int) ([]uint16, func(), error) { return nil, nil, nil }

func (r *randSource) allocHalf(n int) []uint16 { return make([]uint16, n) }

func (r *randSource) fill(t []float32, name string, shape []int) {
	norm := len(shape) == 1 && (hasSuffix(name, "norm.weight") || hasSuffix(name, "LayerNorm.weight") ||
		hasSuffix(name, "layernorm.weight") || hasSuffix(name, "norm1.weight") || hasSuffix(name, "norm2.weight") ||
		hasSuffix(name, "ln_vision.weight") || hasSuffix(name, "_before.weight") || hasSuffix(name, "_after.weight"))
	for i := range t {
		if norm {
			t[i] = 1 + 0.05*r.next()
		} else {
			t[i] = 0.0346 * r.next() // std 0.02
		}
	}
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }
