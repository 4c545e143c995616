package vision

import (
	"fmt"

	"github.com/xraygpt-go/xraygpt/gguf"
)

// Kind names an encoder family; it is stored under KeyKind.
type Kind string

// The encoder families.
const (
	// KindEVAQFormer is XrayGPT's stack: EVA ViT-g/14 -> ln_vision -> Q-Former.
	KindEVAQFormer Kind = "eva_qformer"
	// KindMedCLIPSwin is MedCLIP's vision model: Swin-Tiny + projection head.
	KindMedCLIPSwin Kind = "medclip_swin"
)

// Preprocessing modes, stored under KeyPreprocess; the imaging package
// implements them.
const (
	// PreprocessBLIP2 is blip2_image_eval: RGB, bicubic resize to Size x Size,
	// /255, per-channel Mean/Std.
	PreprocessBLIP2 = "blip2_image_eval"
	// PreprocessMedCLIP pads to a square, resizes bicubic, centre-crops and
	// normalizes one channel.
	PreprocessMedCLIP = "medclip"
)

// Projector inputs, stored under KeyProjectorInput.
const (
	// ProjectTokens applies the projector to every encoder output token.
	ProjectTokens = "tokens"
	// ProjectEmbedding applies it to MedCLIP's pooled, projected vector (one row).
	ProjectEmbedding = "embedding"
)

// GGUF metadata keys of a vision weights file. Integers are stored as
// uint32, epsilons and constants as float32, lists as arrays.
const (
	KeyArchitecture = "general.architecture" // "xraygpt_vision"
	KeyKind         = "xraygpt.vision.kind"  // Kind

	KeyPreprocess = "xraygpt.vision.preprocess" // PreprocessBLIP2 or PreprocessMedCLIP
	KeyImageSize  = "xraygpt.vision.image_size" // model input height = width
	KeyChannels   = "xraygpt.vision.channels"   // channels of the input tensor (3 or 1)
	KeyImageMean  = "xraygpt.vision.image_mean" // []float32, one per channel
	KeyImageStd   = "xraygpt.vision.image_std"  // []float32, one per channel

	KeyEVAPatchSize  = "xraygpt.vision.eva.patch_size"
	KeyEVAWidth      = "xraygpt.vision.eva.embedding_length"
	KeyEVABlocks     = "xraygpt.vision.eva.block_count" // blocks used (39 of the checkpoint's 40)
	KeyEVAHeads      = "xraygpt.vision.eva.head_count"
	KeyEVAMLP        = "xraygpt.vision.eva.feed_forward_length"
	KeyEVAEps        = "xraygpt.vision.eva.layer_norm_epsilon"
	KeyLNVisionEps   = "xraygpt.vision.ln_vision.layer_norm_epsilon"
	KeyQFQueries     = "xraygpt.vision.qformer.query_count"
	KeyQFWidth       = "xraygpt.vision.qformer.embedding_length"
	KeyQFLayers      = "xraygpt.vision.qformer.block_count"
	KeyQFHeads       = "xraygpt.vision.qformer.head_count"
	KeyQFFF          = "xraygpt.vision.qformer.feed_forward_length"
	KeyQFCrossFreq   = "xraygpt.vision.qformer.cross_attention_freq"
	KeyQFEps         = "xraygpt.vision.qformer.layer_norm_epsilon"
	KeySwinPatchSize = "xraygpt.vision.swin.patch_size"
	KeySwinEmbed     = "xraygpt.vision.swin.embedding_length"
	KeySwinDepths    = "xraygpt.vision.swin.depths"      // []uint32
	KeySwinHeads     = "xraygpt.vision.swin.head_counts" // []uint32
	KeySwinWindow    = "xraygpt.vision.swin.window_size"
	KeySwinMLPRatio  = "xraygpt.vision.swin.mlp_ratio"
	KeySwinEps       = "xraygpt.vision.swin.layer_norm_epsilon"
	KeySwinProjDim   = "xraygpt.vision.swin.projection_length" // projection_head width, 0 = none

	KeyProjectorIn    = "xraygpt.vision.projector.input_length"  // absent or 0: no projector
	KeyProjectorOut   = "xraygpt.vision.projector.output_length" // the LLM's width
	KeyProjectorBias  = "xraygpt.vision.projector.bias"          // bool
	KeyProjectorInput = "xraygpt.vision.projector.input"         // ProjectTokens or ProjectEmbedding
)

// Architecture is the value of general.architecture in a vision file.
const Architecture = "xraygpt_vision"

// Projector tensor names (XrayGPT's checkpoint keys, used for both families).
const (
	ProjectorWeight = "llama_proj.weight" // [Out, In]
	ProjectorBias   = "llama_proj.bias"   // [Out]
)

// Preprocess describes the image preprocessing the encoder expects.
type Preprocess struct {
	Mode     string    // PreprocessBLIP2 or PreprocessMedCLIP
	Size     int       // output height = width
	Channels int       // 3 (RGB) or 1
	Mean     []float32 // per channel
	Std      []float32 // per channel
}

// ProjectorConfig describes the optional projector to the LLM's width.
type ProjectorConfig struct {
	In, Out int    // Out == 0: no projector
	Bias    bool   // has llama_proj.bias
	Input   string // ProjectTokens or ProjectEmbedding
}

// Config is everything a vision weights file says besides its tensors.
type Config struct {
	Kind       Kind
	Preprocess Preprocess
	EVA        EVAConfig     // KindEVAQFormer
	QFormer    QFormerConfig // KindEVAQFormer
	Swin       SwinConfig    // KindMedCLIPSwin
	Projector  ProjectorConfig
}

// XrayGPTConfig is the configuration of XrayGPT's released vision stack
// (EVA ViT-g/14 with 39 blocks, BLIP-2 Q-Former, llama_proj 768 -> 4096).
func XrayGPTConfig() Config {
	return Config{
		Kind: KindEVAQFormer,
		Preprocess: Preprocess{Mode: PreprocessBLIP2, Size: 224, Channels: 3,
			Mean: []float32{0.48145466, 0.4578275, 0.40821073},
			Std:  []float32{0.26862954, 0.26130258, 0.27577711}},
		EVA: EVAConfig{ImageSize: 224, PatchSize: 14, Width: 1408, Blocks: 39, Heads: 16, MLP: 6144, Eps: 1e-6},
		QFormer: QFormerConfig{Queries: 32, Width: 768, Layers: 12, Heads: 12, FF: 3072, CrossFreq: 2,
			EncoderWidth: 1408, Eps: 1e-12, LNVisionEps: 1e-5},
		Projector: ProjectorConfig{In: 768, Out: 4096, Bias: true, Input: ProjectTokens},
	}
}

// MedCLIPConfig is MedCLIP's vision model (Swin-Tiny, projection 768 -> 512),
// without a projector.
func MedCLIPConfig() Config {
	return Config{
		Kind: KindMedCLIPSwin,
		Preprocess: Preprocess{Mode: PreprocessMedCLIP, Size: 224, Channels: 1,
			Mean: []float32{0.5862785803043838}, Std: []float32{0.27950088968644304}},
		Swin: SwinConfig{ImageSize: 224, Channels: 1, PatchSize: 4, EmbedDim: 96,
			Depths: []int{2, 2, 6, 2}, Heads: []int{3, 6, 12, 24}, WindowSize: 7, MLPRatio: 4,
			Eps: 1e-5, ProjDim: 512},
	}
}

// Validate checks that the configuration is self-consistent and runnable.
func (c Config) Validate() error {
	p := c.Preprocess
	if p.Size <= 0 || (p.Channels != 1 && p.Channels != 3) || len(p.Mean) != p.Channels || len(p.Std) != p.Channels {
		return fmt.Errorf("%w: preprocessing size %d, %d channels, %d means, %d stds",
			ErrUnsupported, p.Size, p.Channels, len(p.Mean), len(p.Std))
	}
	pos := func(name string, vs ...int) error {
		for _, v := range vs {
			if v <= 0 || v > 1<<20 {
				return fmt.Errorf("%w: %s value %d out of range", ErrUnsupported, name, v)
			}
		}
		return nil
	}
	switch c.Kind {
	case KindEVAQFormer:
		e, q := c.EVA, c.QFormer
		if err := pos("eva", e.ImageSize, e.PatchSize, e.Width, e.Blocks, e.Heads, e.MLP); err != nil {
			return err
		}
		if err := pos("qformer", q.Queries, q.Width, q.Layers, q.Heads, q.FF, q.EncoderWidth); err != nil {
			return err
		}
		if e.ImageSize%e.PatchSize != 0 || e.Width%e.Heads != 0 || q.Width%q.Heads != 0 || q.EncoderWidth != e.Width {
			return fmt.Errorf("%w: inconsistent EVA/Q-Former sizes", ErrUnsupported)
		}
		if p.Size != e.ImageSize || p.Channels != 3 {
			return fmt.Errorf("%w: EVA needs 3 channels of %d, preprocessing gives %d of %d", ErrUnsupported, e.ImageSize, p.Channels, p.Size)
		}
		if c.Projector.Out > 0 && (c.Projector.In != q.Width || c.Projector.Input != ProjectTokens) {
			return fmt.Errorf("%w: projector input %d (%s), Q-Former width %d", ErrUnsupported, c.Projector.In, c.Projector.Input, q.Width)
		}
	case KindMedCLIPSwin:
		s := c.Swin
		if err := pos("swin", s.ImageSize, s.PatchSize, s.EmbedDim, s.WindowSize, s.MLPRatio); err != nil {
			return err
		}
		if err := pos("swin depths", s.Depths...); err != nil {
			return err
		}
		if err := s.validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
		if p.Size != s.ImageSize || p.Channels != s.Channels || (s.Channels != 1 && s.Channels != 3) {
			return fmt.Errorf("%w: Swin input %d channels of %d, preprocessing gives %d of %d", ErrUnsupported, s.Channels, s.ImageSize, p.Channels, p.Size)
		}
		if c.Projector.Out > 0 {
			switch {
			case c.Projector.Input == ProjectTokens && c.Projector.In == s.Width():
			case c.Projector.Input == ProjectEmbedding && s.ProjDim > 0 && c.Projector.In == s.ProjDim:
			default:
				return fmt.Errorf("%w: projector input %d (%q) fits neither the %d-wide tokens nor the %d-wide embedding",
					ErrUnsupported, c.Projector.In, c.Projector.Input, s.Width(), s.ProjDim)
			}
		}
	default:
		return fmt.Errorf("%w: kind %q", ErrUnsupported, c.Kind)
	}
	if c.Projector.Out < 0 || c.Projector.Out > 1<<20 {
		return fmt.Errorf("%w: projector width %d", ErrUnsupported, c.Projector.Out)
	}
	return nil
}

// KVs returns the configuration as GGUF metadata, for writers.
func (c Config) KVs() []gguf.KV {
	u := func(v int) uint32 { return uint32(v) }
	us := func(vs []int) []uint32 {
		out := make([]uint32, len(vs))
		for i, v := range vs {
			out[i] = uint32(v)
		}
		return out
	}
	p := c.Preprocess
	kv := []gguf.KV{
		{Key: KeyArchitecture, Value: Architecture},
		{Key: KeyKind, Value: string(c.Kind)},
		{Key: KeyPreprocess, Value: p.Mode},
		{Key: KeyImageSize, Value: u(p.Size)},
		{Key: KeyChannels, Value: u(p.Channels)},
		{Key: KeyImageMean, Value: append([]float32(nil), p.Mean...)},
		{Key: KeyImageStd, Value: append([]float32(nil), p.Std...)},
	}
	switch c.Kind {
	case KindEVAQFormer:
		e, q := c.EVA, c.QFormer
		kv = append(kv,
			gguf.KV{Key: KeyEVAPatchSize, Value: u(e.PatchSize)},
			gguf.KV{Key: KeyEVAWidth, Value: u(e.Width)},
			gguf.KV{Key: KeyEVABlocks, Value: u(e.Blocks)},
			gguf.KV{Key: KeyEVAHeads, Value: u(e.Heads)},
			gguf.KV{Key: KeyEVAMLP, Value: u(e.MLP)},
			gguf.KV{Key: KeyEVAEps, Value: e.Eps},
			gguf.KV{Key: KeyLNVisionEps, Value: q.LNVisionEps},
			gguf.KV{Key: KeyQFQueries, Value: u(q.Queries)},
			gguf.KV{Key: KeyQFWidth, Value: u(q.Width)},
			gguf.KV{Key: KeyQFLayers, Value: u(q.Layers)},
			gguf.KV{Key: KeyQFHeads, Value: u(q.Heads)},
			gguf.KV{Key: KeyQFFF, Value: u(q.FF)},
			gguf.KV{Key: KeyQFCrossFreq, Value: u(q.CrossFreq)},
			gguf.KV{Key: KeyQFEps, Value: q.Eps},
		)
	case KindMedCLIPSwin:
		s := c.Swin
		kv = append(kv,
			gguf.KV{Key: KeySwinPatchSize, Value: u(s.PatchSize)},
			gguf.KV{Key: KeySwinEmbed, Value: u(s.EmbedDim)},
			gguf.KV{Key: KeySwinDepths, Value: us(s.Depths)},
			gguf.KV{Key: KeySwinHeads, Value: us(s.Heads)},
			gguf.KV{Key: KeySwinWindow, Value: u(s.WindowSize)},
			gguf.KV{Key: KeySwinMLPRatio, Value: u(s.MLPRatio)},
			gguf.KV{Key: KeySwinEps, Value: s.Eps},
			gguf.KV{Key: KeySwinProjDim, Value: u(s.ProjDim)},
		)
	}
	if c.Projector.Out > 0 {
		kv = append(kv,
			gguf.KV{Key: KeyProjectorIn, Value: u(c.Projector.In)},
			gguf.KV{Key: KeyProjectorOut, Value: u(c.Projector.Out)},
			gguf.KV{Key: KeyProjectorBias, Value: c.Projector.Bias},
			gguf.KV{Key: KeyProjectorInput, Value: c.Projector.Input},
		)
	}
	return kv
}

// ConfigFromGGUF reads the configuration from a vision file's metadata.
func ConfigFromGGUF(f *gguf.File) (Config, error) {
	r := &kvReader{f: f}
	var c Config
	if arch := r.str(KeyArchitecture); r.err == nil && arch != Architecture {
		return c, fmt.Errorf("%w: general.architecture is %q, want %q", ErrUnsupported, arch, Architecture)
	}
	c.Kind = Kind(r.str(KeyKind))
	c.Preprocess = Preprocess{
		Mode: r.str(KeyPreprocess), Size: r.int(KeyImageSize), Channels: r.int(KeyChannels),
		Mean: r.floats(KeyImageMean), Std: r.floats(KeyImageStd),
	}
	if r.err != nil {
		return c, r.err
	}
	switch c.Kind {
	case KindEVAQFormer:
		c.EVA = EVAConfig{
			ImageSize: c.Preprocess.Size, PatchSize: r.int(KeyEVAPatchSize), Width: r.int(KeyEVAWidth),
			Blocks: r.int(KeyEVABlocks), Heads: r.int(KeyEVAHeads), MLP: r.int(KeyEVAMLP), Eps: r.float(KeyEVAEps),
		}
		c.QFormer = QFormerConfig{
			Queries: r.int(KeyQFQueries), Width: r.int(KeyQFWidth), Layers: r.int(KeyQFLayers),
			Heads: r.int(KeyQFHeads), FF: r.int(KeyQFFF), CrossFreq: r.int(KeyQFCrossFreq),
			EncoderWidth: c.EVA.Width, Eps: r.float(KeyQFEps), LNVisionEps: r.float(KeyLNVisionEps),
		}
	case KindMedCLIPSwin:
		c.Swin = SwinConfig{
			ImageSize: c.Preprocess.Size, Channels: c.Preprocess.Channels,
			PatchSize: r.int(KeySwinPatchSize), EmbedDim: r.int(KeySwinEmbed),
			Depths: r.ints(KeySwinDepths), Heads: r.ints(KeySwinHeads),
			WindowSize: r.int(KeySwinWindow), MLPRatio: r.int(KeySwinMLPRatio),
			Eps: r.float(KeySwinEps), ProjDim: r.int(KeySwinProjDim),
		}
	}
	if _, ok := f.Value(KeyProjectorOut); ok {
		c.Projector = ProjectorConfig{
			In: r.int(KeyProjectorIn), Out: r.int(KeyProjectorOut),
			Bias: r.bool(KeyProjectorBias), Input: r.str(KeyProjectorInput),
		}
	}
	if r.err != nil {
		return c, r.err
	}
	return c, c.Validate()
}

// kvReader reads typed metadata, keeping the first error.
type kvReader struct {
	f   *gguf.File
	err error
}

func (r *kvReader) keep(err error) {
	if r.err == nil && err != nil {
		r.err = fmt.Errorf("vision metadata: %w", err)
	}
}

func (r *kvReader) str(k string) string {
	s, err := r.f.String(k)
	r.keep(err)
	return s
}

func (r *kvReader) int(k string) int {
	v, err := r.f.Uint(k)
	if err == nil && v > 1<<30 {
		err = fmt.Errorf("%s: value %d too large", k, v)
	}
	r.keep(err)
	return int(v)
}

func (r *kvReader) float(k string) float32 {
	v, err := r.f.Float(k)
	r.keep(err)
	return float32(v)
}

func (r *kvReader) bool(k string) bool {
	v, err := r.f.Bool(k)
	r.keep(err)
	return v
}

func (r *kvReader) floats(k string) []float32 {
	v, ok := r.f.Value(k)
	switch x := v.(type) {
	case []float32:
		return append([]float32(nil), x...)
	case []float64:
		out := make([]float32, len(x))
		for i, f := range x {
			out[i] = float32(f)
		}
		return out
	}
	if !ok {
		r.keep(fmt.Errorf("key %s: %w", k, gguf.ErrNotFound))
	} else {
		r.keep(fmt.Errorf("key %s: %T is not a float array", k, v))
	}
	return nil
}

func (r *kvReader) ints(k string) []int {
	v, ok := r.f.Value(k)
	var out []int
	switch x := v.(type) {
	case []uint32:
		for _, e := range x {
			out = append(out, int(e))
		}
	case []int32:
		for _, e := range x {
			out = append(out, int(e))
		}
	case []uint64:
		for _, e := range x {
			out = append(out, int(min(e, 1<<30)))
		}
	case []int64:
		for _, e := range x {
			out = append(out, int(e))
		}
	default:
		if !ok {
			r.keep(fmt.Errorf("key %s: %w", k, gguf.ErrNotFound))
		} else {
			r.keep(fmt.Errorf("key %s: %T is not an integer array", k, v))
		}
	}
	if len(out) > 64 {
		r.keep(fmt.Errorf("key %s: %d entries", k, len(out)))
	}
	return out
}
