package convert

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/vision"
)

// The checkpoints in ../testdata are tiny random-weight files with the real
// key names and layout, made by
//
//	/usr/bin/python3 vision/testdata/gen_golden.py
//
// The end-to-end numerical comparison with PyTorch is in package vision
// (golden_test.go); these tests cover the checkpoint reader and the errors.

const td = "../testdata/"

var tinyOpt = Options{EVAHeads: 4, QFormerHeads: 4}

func open(t *testing.T, name string) *Checkpoint {
	t.Helper()
	c, err := OpenCheckpoint(td + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestReadCheckpointLayouts(t *testing.T) {
	eva := open(t, "eva_vit_g.pth") // plain fp16 state_dict
	if tt := eva.Tensors["blocks.0.attn.qkv.weight"]; tt == nil || tt.DType != "float16" || !reflect.DeepEqual(tt.Shape, []int{144, 48}) {
		t.Errorf("eva qkv: %+v", tt)
	}
	if _, ok := eva.Tensors["blocks.3.norm1.weight"]; !ok {
		t.Error("the extra 4th block is not visible in the checkpoint")
	}
	blip := open(t, "blip2_pretrained_flant5xxl.pth") // {"model": ...}
	if tt := blip.Tensors["query_tokens"]; tt == nil || tt.DType != "float32" || !reflect.DeepEqual(tt.Shape, []int{1, 8, 32}) {
		t.Errorf("query_tokens: %+v", tt)
	}
	proj := open(t, "xraygpt_checkpoint.pth") // {"model": ..., "optimizer": ..., "config": ...}
	if len(proj.Tensors) != 2 {
		t.Errorf("xraygpt checkpoint tensors: %v", proj.Keys())
	}
	med := open(t, "medclip_pytorch_model.bin")
	idx := med.Tensors["vision_model.model.encoder.layers.0.blocks.0.attention.self.relative_position_index"]
	if idx == nil || idx.DType != "int64" {
		t.Errorf("relative_position_index: %+v", idx)
	}
	if _, err := idx.Float32(); err == nil {
		t.Error("int64 tensor read as float")
	}
	// fp16 values widen exactly: LayerNorm weights are near 1.
	w, err := eva.Float32("blocks.0.norm1.weight", []int{48})
	if err != nil {
		t.Fatal(err)
	}
	if w[0] < 0.5 || w[0] > 1.5 {
		t.Errorf("norm1.weight[0] = %v", w[0])
	}
}

func TestConfigFromCheckpoints(t *testing.T) {
	cfg, err := XrayGPTConfig(open(t, "eva_vit_g.pth"), open(t, "blip2_pretrained_flant5xxl.pth"), open(t, "xraygpt_checkpoint.pth"), tinyOpt)
	if err != nil {
		t.Fatal(err)
	}
	want := vision.EVAConfig{ImageSize: 56, PatchSize: 14, Width: 48, Blocks: 3, Heads: 4, MLP: 209, Eps: 1e-6}
	if cfg.EVA != want {
		t.Errorf("EVA %+v, want %+v", cfg.EVA, want)
	}
	if q := cfg.QFormer; q.Queries != 8 || q.Width != 32 || q.Layers != 4 || q.CrossFreq != 2 || q.FF != 64 || q.EncoderWidth != 48 {
		t.Errorf("Q-Former %+v", q)
	}
	if p := cfg.Projector; p.In != 32 || p.Out != 40 || !p.Bias {
		t.Errorf("projector %+v", p)
	}
	// Without explicit head counts the tiny widths cannot follow LAVIS's rules.
	if _, err := XrayGPTConfig(open(t, "eva_vit_g.pth"), open(t, "blip2_pretrained_flant5xxl.pth"), nil, Options{}); err == nil ||
		!strings.Contains(err.Error(), "head count") {
		t.Errorf("default heads on width 48: %v", err)
	}
	mc, err := MedCLIPConfig(open(t, "medclip_pytorch_model.bin"), nil, Options{ImageSize: 112})
	if err != nil {
		t.Fatal(err)
	}
	if s := mc.Swin; !reflect.DeepEqual(s.Depths, []int{2, 2, 2}) || !reflect.DeepEqual(s.Heads, []int{1, 2, 4}) ||
		s.WindowSize != 7 || s.EmbedDim != 12 || s.MLPRatio != 4 || s.ProjDim != 24 || mc.Projector.Out != 0 {
		t.Errorf("Swin %+v projector %+v", s, mc.Projector)
	}
}

// TestBadCheckpoints checks that the converter passes the checkpoint
// reader's errors on and writes nothing; the reader's own cases (truncated,
// compressed, TorchScript, ...) are tested in package torchfile.
func TestBadCheckpoints(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.pth")
	if err := os.WriteFile(text, []byte("this is not a checkpoint\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in  XrayGPTInputs
		bad string
	}{
		{XrayGPTInputs{EVA: text, QFormer: td + "blip2_pretrained_flant5xxl.pth"}, text},
		{XrayGPTInputs{EVA: td + "eva_vit_g.pth", QFormer: td + "legacy_format.pth"}, td + "legacy_format.pth"},
	} {
		out := filepath.Join(dir, "x.gguf")
		err := XrayGPT(context.Background(), tc.in, out, tinyOpt)
		if !errors.Is(err, ErrNotCheckpoint) || !strings.Contains(err.Error(), tc.bad) {
			t.Errorf("%s: error %v, want ErrNotCheckpoint naming the file", tc.bad, err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: output exists after a failed conversion: %v", tc.bad, err)
		}
	}
	if _, err := OpenCheckpoint(filepath.Join(dir, "missing.pth")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestWrongShapeInCheckpoint(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.gguf")
	err := XrayGPT(context.Background(), XrayGPTInputs{
		EVA: td + "eva_vit_g.pth", QFormer: td + "blip2_pretrained_flant5xxl.pth", Proj: td + "bad_proj_shape.pth",
	}, out, tinyOpt)
	if !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "llama_proj.bias") || !strings.Contains(err.Error(), "[40]") {
		t.Errorf("bad projector bias: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output exists after a failed conversion: %v", err)
	}
}

// TestMissingAndMisshapenKeys edits the loaded key table, then converts.
func TestMissingAndMisshapenKeys(t *testing.T) {
	for _, tc := range []struct {
		key    string
		edit   func(*Checkpoint, string)
		target error
	}{
		{"blocks.1.attn.q_bias", func(c *Checkpoint, k string) { delete(c.Tensors, k) }, ErrMissingKey},
		{"blocks.2.mlp.fc2.weight", func(c *Checkpoint, k string) {
			tt := *c.Tensors[k]
			tt.Shape = []int{tt.Shape[1], tt.Shape[0]}
			tt.Stride = []int{tt.Stride[1], tt.Stride[0]}
			c.Tensors[k] = &tt
		}, ErrShape},
	} {
		eva, qf := open(t, "eva_vit_g.pth"), open(t, "blip2_pretrained_flant5xxl.pth")
		tc.edit(eva, tc.key)
		cfg, err := XrayGPTConfig(eva, qf, nil, tinyOpt)
		if err != nil {
			t.Fatal(err)
		}
		err = write(context.Background(), cfg, filepath.Join(t.TempDir(), "x.gguf"), tinyOpt, func(name string) (*Checkpoint, string) {
			if strings.HasPrefix(name, "visual_encoder.") {
				return eva, strings.TrimPrefix(name, "visual_encoder.")
			}
			return qf, name
		})
		if !errors.Is(err, tc.target) || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v, want %v naming the key", tc.key, err, tc.target)
		}
	}
	// Missing Q-Former key found by the whole-file path.
	qf := open(t, "blip2_pretrained_flant5xxl.pth")
	delete(qf.Tensors, "ln_vision.bias")
	cfg, err := XrayGPTConfig(open(t, "eva_vit_g.pth"), qf, nil, tinyOpt)
	if err != nil {
		t.Fatal(err)
	}
	err = write(context.Background(), cfg, filepath.Join(t.TempDir(), "x.gguf"), tinyOpt, func(string) (*Checkpoint, string) { return qf, "ln_vision.bias" })
	if !errors.Is(err, ErrMissingKey) || !strings.Contains(err.Error(), "ln_vision.bias") {
		t.Errorf("missing ln_vision.bias: %v", err)
	}
}

func TestNonContiguousView(t *testing.T) {
	eva := open(t, "eva_vit_g.pth")
	tt := *eva.Tensors["blocks.0.attn.proj.weight"] // [48,48]
	want, err := tt.Float32()
	if err != nil {
		t.Fatal(err)
	}
	tr := tt
	tr.Stride = []int{1, 48} // the transpose, as a view
	got, err := tr.Float32()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 48; i++ {
		for j := 0; j < 48; j++ {
			if got[i*48+j] != want[j*48+i] {
				t.Fatalf("transposed view differs at %d,%d", i, j)
			}
		}
	}
}

func TestDTypeOption(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.gguf")
	err := MedCLIP(context.Background(), td+"medclip_pytorch_model.bin", "", out, Options{ImageSize: 112, DType: "q4"})
	if err == nil || !strings.Contains(err.Error(), "q4") {
		t.Errorf("dtype q4: %v", err)
	}
}

// TestSourceDType converts XrayGPT's checkpoints keeping each matrix's own
// precision: EVA's fp16 tensors of more than one dimension stay F16, BLIP-2's float32 Q-Former and the
// projector stay F32, vectors are F32 as always, and the file type names the
// precision of most of the weights.
func TestSourceDType(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.gguf")
	opt := tinyOpt
	opt.DType = Source
	err := XrayGPT(context.Background(), XrayGPTInputs{
		EVA: td + "eva_vit_g.pth", QFormer: td + "blip2_pretrained_flant5xxl.pth", Proj: td + "xraygpt_checkpoint.pth",
	}, out, opt)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var f16, f32 int
	for _, ti := range f.Tensors {
		want := gguf.TypeF32
		if len(ti.Ne) > 1 && strings.HasPrefix(ti.Name, "visual_encoder.") {
			want = gguf.TypeF16
		}
		if ti.Type != want {
			t.Errorf("%s %v: type %v, want %v", ti.Name, ti.Ne, ti.Type, want)
		}
		if ti.Type == gguf.TypeF16 {
			f16 += int(ti.Elements())
		} else {
			f32 += int(ti.Elements())
		}
	}
	ft, err := f.Uint("general.file_type")
	if want := map[bool]uint64{true: 1, false: 0}[f16 > f32]; err != nil || ft != want {
		t.Errorf("general.file_type %d (%v), want %d for %d f16 and %d f32 elements", ft, err, want, f16, f32)
	}
}
