// Package convert turns the PyTorch checkpoints users download into the
// vision package's GGUF weights files: XrayGPT's EVA ViT-g + BLIP-2 Q-Former
// + llama_proj, and MedCLIP's Swin vision model with an optional projector.
//
// The hyperparameters are read from the tensor shapes where the checkpoint
// holds them; the rest (head counts, image size, epsilons) are the reference
// code's constants, overridable in Options for non-standard models. Extra
// checkpoint keys are ignored; a missing key or a wrong shape is an error
// naming it. Output goes to a temporary file renamed into place.
package convert

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/torchfile"
	"github.com/xraygpt-go/xraygpt/vision"
)

// DType is the storage type of the weight matrices in the output file.
// Vectors (biases, LayerNorm parameters) are always stored as f32.
type DType string

// Storage types.
const (
	F32  DType = "f32" // the zero value means F32
	F16  DType = "f16"
	BF16 DType = "bf16"
	// Source keeps each matrix in its checkpoint's own precision (float32,
	// float16 or bfloat16; float64 becomes f32): the released EVA stays in
	// f16 and BLIP-2's float32 Q-Former stays exact.
	Source DType = "source"
)

// ggufType is the storage type of a matrix stored as src in its checkpoint.
func (d DType) ggufType(src torchfile.DType) (gguf.Type, error) {
	switch d {
	case "", F32:
		return gguf.TypeF32, nil
	case F16:
		return gguf.TypeF16, nil
	case BF16:
		return gguf.TypeBF16, nil
	case Source:
		switch src {
		case torchfile.Float16:
			return gguf.TypeF16, nil
		case torchfile.BFloat16:
			return gguf.TypeBF16, nil
		}
		return gguf.TypeF32, nil
	}
	return 0, fmt.Errorf("convert: dtype %q: want f32, f16, bf16 or source", d)
}

// XrayGPTInputs names the three checkpoints of XrayGPT's vision stack.
type XrayGPTInputs struct {
	EVA     string // eva_vit_g.pth: a plain state_dict
	QFormer string // blip2_pretrained_flant5xxl.pth: {"model": query_tokens, ln_vision.*, Qformer.bert.*}
	Proj    string // XrayGPT's checkpoint: {"model": llama_proj.*}; "" for no projector
}

// Options override what the checkpoints do not say. The zero value converts
// the released models.
type Options struct {
	DType DType
	// EVABlocks is how many EVA blocks to keep; 0 means all but the last
	// (LAVIS builds EVA ViT-g with 39 of the checkpoint's 40 blocks).
	EVABlocks int
	// EVAHeads is the EVA head count; 0 means width/88 (LAVIS's rule).
	EVAHeads int
	// QFormerHeads is the Q-Former head count; 0 means width/64 (BERT-base: 12).
	QFormerHeads int
	// ImageSize is Swin's input size; 0 means 224 (EVA's comes from pos_embed).
	ImageSize int
}

var (
	evaBlockRe = regexp.MustCompile(`^blocks\.(\d+)\.`)
	qfLayerRe  = regexp.MustCompile(`^Qformer\.bert\.encoder\.layer\.(\d+)\.`)
	swinRe     = regexp.MustCompile(`^vision_model\.model\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.`)
)

// countIndexed returns 1 + the largest index captured by re among keys
// (0 if none), and the set of indices seen.
func countIndexed(keys []string, re *regexp.Regexp) (int, map[int]bool) {
	seen := map[int]bool{}
	n := 0
	for _, k := range keys {
		if m := re.FindStringSubmatch(k); m != nil {
			i, err := strconv.Atoi(m[1])
			if err == nil && i < 1<<16 {
				seen[i] = true
				n = max(n, i+1)
			}
		}
	}
	return n, seen
}

// shapeOf returns a tensor's shape, or an error naming the missing key.
func shapeOf(c *Checkpoint, key string, rank int) ([]int, error) {
	t, ok := c.Tensors[key]
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: %w %s", c.name, ErrMissingKey, key)
	}
	if len(t.Shape) != rank {
		return nil, fmt.Errorf("checkpoint %s: %w: %s has shape %v, want %d dimensions", c.name, ErrShape, key, t.Shape, rank)
	}
	return t.Shape, nil
}

// XrayGPTConfig derives the vision configuration from XrayGPT's checkpoints.
func XrayGPTConfig(eva, qf, proj *Checkpoint, opt Options) (vision.Config, error) {
	cfg := vision.XrayGPTConfig()
	pw, err := shapeOf(eva, "patch_embed.proj.weight", 4)
	if err != nil {
		return cfg, err
	}
	pos, err := shapeOf(eva, "pos_embed", 3)
	if err != nil {
		return cfg, err
	}
	D, P := pw[0], pw[2]
	grid := int(math.Round(math.Sqrt(float64(pos[1] - 1))))
	if grid*grid != pos[1]-1 || pw[1] != 3 || pw[3] != P {
		return cfg, fmt.Errorf("checkpoint %s: %w: pos_embed %v and patch_embed.proj.weight %v do not describe a square ViT", eva.name, ErrShape, pos, pw)
	}
	blocks, seen := countIndexed(eva.Keys(), evaBlockRe)
	if len(seen) != blocks || blocks == 0 {
		return cfg, fmt.Errorf("checkpoint %s: %w blocks.N (found %d of %d blocks)", eva.name, ErrMissingKey, len(seen), blocks)
	}
	use := opt.EVABlocks
	if use == 0 {
		use = max(blocks-1, 1)
	}
	if use > blocks {
		return cfg, fmt.Errorf("checkpoint %s: %d EVA blocks asked for, %d present", eva.name, use, blocks)
	}
	fc1, err := shapeOf(eva, "blocks.0.mlp.fc1.weight", 2)
	if err != nil {
		return cfg, err
	}
	heads := opt.EVAHeads
	if heads == 0 {
		if D%88 != 0 {
			return cfg, fmt.Errorf("checkpoint %s: width %d is not a multiple of 88: set the EVA head count", eva.name, D)
		}
		heads = D / 88
	}
	cfg.EVA = vision.EVAConfig{ImageSize: grid * P, PatchSize: P, Width: D, Blocks: use, Heads: heads, MLP: fc1[0], Eps: 1e-6}
	cfg.Preprocess.Size = grid * P

	qt, err := shapeOf(qf, "query_tokens", 3)
	if err != nil {
		return cfg, err
	}
	W := qt[2]
	layers, seenL := countIndexed(qf.Keys(), qfLayerRe)
	if len(seenL) != layers || layers == 0 {
		return cfg, fmt.Errorf("checkpoint %s: %w Qformer.bert.encoder.layer.N (found %d of %d layers)", qf.name, ErrMissingKey, len(seenL), layers)
	}
	ff, err := shapeOf(qf, "Qformer.bert.encoder.layer.0.intermediate_query.dense.weight", 2)
	if err != nil {
		return cfg, err
	}
	var cross []int
	for i := 0; i < layers; i++ {
		if _, ok := qf.Tensors[fmt.Sprintf("Qformer.bert.encoder.layer.%d.crossattention.self.key.weight", i)]; ok {
			cross = append(cross, i)
		}
	}
	freq := 0
	switch {
	case len(cross) == 0:
	case len(cross) == 1:
		freq = layers // only layer 0
	default:
		freq = cross[1] - cross[0]
	}
	if len(cross) > 0 && cross[0] != 0 {
		return cfg, fmt.Errorf("checkpoint %s: cross-attention starts at layer %d, want 0", qf.name, cross[0])
	}
	for i := 0; i < layers; i++ {
		has := len(cross) > 0 && i%freq == 0
		_, ok := qf.Tensors[fmt.Sprintf("Qformer.bert.encoder.layer.%d.crossattention.self.key.weight", i)]
		if has != ok {
			return cfg, fmt.Errorf("checkpoint %s: cross-attention layers %v are not every %d-th layer", qf.name, cross, freq)
		}
	}
	qh := opt.QFormerHeads
	if qh == 0 {
		if W%64 != 0 {
			return cfg, fmt.Errorf("checkpoint %s: Q-Former width %d is not a multiple of 64: set the head count", qf.name, W)
		}
		qh = W / 64
	}
	cfg.QFormer = vision.QFormerConfig{Queries: qt[1], Width: W, Layers: layers, Heads: qh, FF: ff[0],
		CrossFreq: freq, EncoderWidth: D, Eps: 1e-12, LNVisionEps: 1e-5}
	cfg.Projector = vision.ProjectorConfig{}
	if proj != nil {
		w, err := shapeOf(proj, vision.ProjectorWeight, 2)
		if err != nil {
			return cfg, err
		}
		_, hasBias := proj.Tensors[vision.ProjectorBias]
		cfg.Projector = vision.ProjectorConfig{In: w[1], Out: w[0], Bias: hasBias, Input: vision.ProjectTokens}
	}
	return cfg, cfg.Validate()
}

// XrayGPT converts XrayGPT's vision checkpoints into one GGUF file at out.
func XrayGPT(ctx context.Context, in XrayGPTInputs, out string, opt Options) error {
	eva, err := OpenCheckpoint(in.EVA)
	if err != nil {
		return err
	}
	defer eva.Close()
	qf, err := OpenCheckpoint(in.QFormer)
	if err != nil {
		return err
	}
	defer qf.Close()
	var proj *Checkpoint
	if in.Proj != "" {
		if proj, err = OpenCheckpoint(in.Proj); err != nil {
			return err
		}
		defer proj.Close()
	}
	cfg, err := XrayGPTConfig(eva, qf, proj, opt)
	if err != nil {
		return err
	}
	return write(ctx, cfg, out, opt, func(name string) (*Checkpoint, string) {
		switch {
		case strings.HasPrefix(name, "visual_encoder."):
			return eva, strings.TrimPrefix(name, "visual_encoder.")
		case strings.HasPrefix(name, "llama_proj."):
			return proj, name
		}
		return qf, name
	})
}

// MedCLIPConfig derives the vision configuration from MedCLIP's checkpoint
// and an optional projector checkpoint.
func MedCLIPConfig(med, proj *Checkpoint, opt Options) (vision.Config, error) {
	cfg := vision.MedCLIPConfig()
	const p = "vision_model.model."
	pw, err := shapeOf(med, p+"embeddings.patch_embeddings.projection.weight", 4)
	if err != nil {
		return cfg, err
	}
	C, P := pw[0], pw[2]
	// stages and blocks per stage
	depths := map[int]int{}
	nStages := 0
	for _, k := range med.Keys() {
		if m := swinRe.FindStringSubmatch(k); m != nil {
			s, _ := strconv.Atoi(m[1])
			b, _ := strconv.Atoi(m[2])
			if s < 64 && b < 1<<10 {
				depths[s] = max(depths[s], b+1)
				nStages = max(nStages, s+1)
			}
		}
	}
	if nStages == 0 {
		return cfg, fmt.Errorf("checkpoint %s: %w %sencoder.layers.N.blocks.M.*", med.name, ErrMissingKey, p)
	}
	cfg.Swin.Depths = make([]int, nStages)
	cfg.Swin.Heads = make([]int, nStages)
	for s := 0; s < nStages; s++ {
		if depths[s] == 0 {
			return cfg, fmt.Errorf("checkpoint %s: %w %sencoder.layers.%d.blocks.0.*", med.name, ErrMissingKey, p, s)
		}
		cfg.Swin.Depths[s] = depths[s]
		tab, err := shapeOf(med, fmt.Sprintf("%sencoder.layers.%d.blocks.0.attention.self.relative_position_bias_table", p, s), 2)
		if err != nil {
			return cfg, err
		}
		cfg.Swin.Heads[s] = tab[1]
		if s == 0 {
			w := (int(math.Round(math.Sqrt(float64(tab[0])))) + 1) / 2
			if (2*w-1)*(2*w-1) != tab[0] {
				return cfg, fmt.Errorf("checkpoint %s: %w: relative_position_bias_table %v is not [(2w-1)^2, heads]", med.name, ErrShape, tab)
			}
			cfg.Swin.WindowSize = w
		}
	}
	inter, err := shapeOf(med, p+"encoder.layers.0.blocks.0.intermediate.dense.weight", 2)
	if err != nil {
		return cfg, err
	}
	size := opt.ImageSize
	if size == 0 {
		size = 224
	}
	cfg.Swin.ImageSize, cfg.Preprocess.Size = size, size
	cfg.Swin.PatchSize, cfg.Swin.EmbedDim = P, C
	if inter[0]%C != 0 {
		return cfg, fmt.Errorf("checkpoint %s: %w: intermediate width %d is not a multiple of %d", med.name, ErrShape, inter[0], C)
	}
	cfg.Swin.MLPRatio = inter[0] / C
	cfg.Swin.ProjDim = 0
	if t, ok := med.Tensors["vision_model.projection_head.weight"]; ok && len(t.Shape) == 2 {
		cfg.Swin.ProjDim = t.Shape[0]
	}
	cfg.Projector = vision.ProjectorConfig{}
	if proj != nil {
		w, err := shapeOf(proj, vision.ProjectorWeight, 2)
		if err != nil {
			return cfg, err
		}
		_, hasBias := proj.Tensors[vision.ProjectorBias]
		cfg.Projector = vision.ProjectorConfig{In: w[1], Out: w[0], Bias: hasBias, Input: vision.ProjectTokens}
		if w[1] != cfg.Swin.Width() && w[1] == cfg.Swin.ProjDim {
			cfg.Projector.Input = vision.ProjectEmbedding
		}
	}
	return cfg, cfg.Validate()
}

// MedCLIP converts MedCLIP's pytorch_model.bin (and, if proj is not "", a
// projector checkpoint holding weight/bias or llama_proj.weight/bias) into
// one GGUF file at out.
func MedCLIP(ctx context.Context, in, proj, out string, opt Options) error {
	med, err := OpenCheckpoint(in)
	if err != nil {
		return err
	}
	defer med.Close()
	var pc *Checkpoint
	if proj != "" {
		if pc, err = OpenCheckpoint(proj); err != nil {
			return err
		}
		defer pc.Close()
		normalizeProjector(pc)
	}
	cfg, err := MedCLIPConfig(med, pc, opt)
	if err != nil {
		return err
	}
	return write(ctx, cfg, out, opt, func(name string) (*Checkpoint, string) {
		if strings.HasPrefix(name, "llama_proj.") {
			return pc, name
		}
		return med, name
	})
}

// normalizeProjector lets a bare nn.Linear state dict (weight, bias) stand
// for llama_proj.*.
func normalizeProjector(c *Checkpoint) {
	if _, ok := c.Tensors[vision.ProjectorWeight]; ok {
		return
	}
	for _, k := range []string{"weight", "bias"} {
		if t, ok := c.Tensors[k]; ok {
			c.Tensors["llama_proj."+k] = t
		}
	}
}

// write reads every tensor the configuration needs from the checkpoint that
// source names and writes the GGUF file.
func write(ctx context.Context, cfg vision.Config, out string, opt Options, source func(string) (*Checkpoint, string)) error {
	if _, err := opt.DType.ggufType(torchfile.Float32); err != nil {
		return err
	}
	specs, err := vision.Tensors(cfg)
	if err != nil {
		return err
	}
	w := gguf.NewWriter()
	for _, kv := range cfg.KVs() {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
	}
	elements := map[gguf.Type]int{} // matrix elements per storage type
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			return err
		}
		ck, key := source(s.Name)
		if ck == nil {
			return fmt.Errorf("convert: %w %s: no checkpoint given for it", ErrMissingKey, s.Name)
		}
		data, err := ck.Float32(key, s.Shape)
		if err != nil {
			return err
		}
		t := gguf.TypeF32
		if len(s.Shape) > 1 {
			if t, err = opt.DType.ggufType(ck.Tensors[key].DType); err != nil {
				return err
			}
			elements[t] += len(data)
		}
		if err := w.AddFloat32(s.Name, vision.NeOf(s.Shape), data, t); err != nil {
			return fmt.Errorf("convert: %w", err)
		}
	}
	// The file type names the storage of most of the weights.
	most := gguf.TypeF32
	for t, n := range elements {
		if n > elements[most] {
			most = t
		}
	}
	if err := w.AddKV("general.file_type", fileType(most)); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	if err := w.WriteFile(out); err != nil {
		return fmt.Errorf("convert: write %s: %w", out, err)
	}
	return nil
}

// fileType is llama.cpp's general.file_type for an all-F32/F16/BF16 file.
func fileType(t gguf.Type) uint32 {
	switch t {
	case gguf.TypeF16:
		return 1
	case gguf.TypeBF16:
		return 32
	}
	return 0
}
