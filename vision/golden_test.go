package vision_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/xraygpt-go/xraygpt/linalg"
	"github.com/xraygpt-go/xraygpt/vision"
	"github.com/xraygpt-go/xraygpt/vision/convert"
	"github.com/xraygpt-go/xraygpt/vision/npy"
)

// The golden tests convert tiny random-weight checkpoints that have the real
// key names and file layout, run the Go model, and compare every stage with
// PyTorch's outputs. Regenerate the checkpoints and outputs with
//
//	/usr/bin/python3 vision/testdata/gen_golden.py
//
// Tolerance: max abs error <= 1e-4 * max(1, max |expected|).

func golden(t *testing.T, name string) ([]float32, []int) {
	t.Helper()
	d, s, err := npy.ReadFile(filepath.Join("testdata", "golden", name+".npy"))
	if err != nil {
		t.Fatal(err)
	}
	return d, s
}

func compare(t *testing.T, stage string, got vision.Tensor, want []float32, tol float64) {
	t.Helper()
	if len(got.Data) != len(want) {
		t.Errorf("%s: %d values (%dx%d), want %d", stage, len(got.Data), got.Rows, got.Cols, len(want))
		return
	}
	scale, maxErr := 1.0, 0.0
	for i, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
		maxErr = math.Max(maxErr, math.Abs(float64(got.Data[i])-float64(w)))
	}
	t.Logf("%-12s %4dx%-4d max abs err %.3g (scale %.3g)", stage, got.Rows, got.Cols, maxErr, scale)
	if maxErr > tol*scale || math.IsNaN(maxErr) {
		t.Errorf("%s: max abs error %.3g > %.3g", stage, maxErr, tol*scale)
	}
}

func stages(t *testing.T, m *vision.Model, input []float32) map[string]vision.Tensor {
	t.Helper()
	st, err := m.EncodeStages(context.Background(), input)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]vision.Tensor{}
	for _, s := range st {
		out[s.Name] = s.Tensor
	}
	return out
}

func convertXrayGPT(t *testing.T, dtype convert.DType) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "xraygpt-vision.gguf")
	err := convert.XrayGPT(context.Background(), convert.XrayGPTInputs{
		EVA:     "testdata/eva_vit_g.pth",
		QFormer: "testdata/blip2_pretrained_flant5xxl.pth",
		Proj:    "testdata/xraygpt_checkpoint.pth",
	}, out, convert.Options{DType: dtype, EVAHeads: 4, QFormerHeads: 4})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestXrayGPTGolden(t *testing.T) {
	for _, tc := range []struct {
		dtype convert.DType
		tol   float64
	}{{convert.F32, 1e-4}, {convert.Source, 1e-4}, {convert.F16, 2e-2}} {
		for _, noPacked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/nopacked=%v", tc.dtype, noPacked), func(t *testing.T) {
				m, err := vision.Open(convertXrayGPT(t, tc.dtype), vision.Options{NoPacked: noPacked})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				if m.Packed() != (!noPacked && linalg.FastLinear()) {
					t.Errorf("Packed() = %v with NoPacked %v on a CPU with FastLinear %v", m.Packed(), noPacked, linalg.FastLinear())
				}
				if (tc.dtype == convert.F32) != (m.WidenedBytes == 0) {
					t.Errorf("%s file: %d bytes copied to the heap", tc.dtype, m.WidenedBytes)
				}
				// EVA's four matrices per block, packed: 2 bytes a weight
				// when the file holds them in f16.
				var packed int64
				if m.Packed() {
					c := m.Config.EVA
					perWeight := map[convert.DType]int64{convert.F32: 4, convert.F16: 2, convert.Source: 2}[tc.dtype]
					for _, sh := range [][2]int{{3 * c.Width, c.Width}, {c.Width, c.Width}, {c.MLP, c.Width}, {c.Width, c.MLP}} {
						packed += int64(c.Blocks) * int64(linalg.PackedLen(sh[0], sh[1])) * perWeight
					}
				}
				if m.PackedBytes != packed {
					t.Errorf("%s file: %d bytes of packed matrices, want %d", tc.dtype, m.PackedBytes, packed)
				}
				c := m.Config
				if c.EVA.Blocks != 3 || c.QFormer.Layers != 4 || c.QFormer.CrossFreq != 2 || c.Projector.Out != 40 {
					t.Fatalf("config %+v", c)
				}
				in, _ := golden(t, "eva_input")
				got := stages(t, m, in)
				for _, s := range []struct{ stage, file string }{
					{vision.StagePatchEmbed, "eva_embed"},
					{vision.StageBlock0, "eva_block0"},
					{vision.StageEncoder, "eva_out"},
					{vision.StageLNVision, "ln_vision"},
					{vision.StageQFormer, "qformer_out"},
					{vision.StageSoftTokens, "soft_tokens"},
				} {
					want, _ := golden(t, s.file)
					compare(t, s.stage, got[s.stage], want, tc.tol)
				}
				enc, err := m.Encode(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				want, shape := golden(t, "soft_tokens")
				if enc.Rows != shape[0] || enc.Cols != shape[1] {
					t.Errorf("Encode gives %dx%d, want %v", enc.Rows, enc.Cols, shape)
				}
				compare(t, "Encode", enc, want, tc.tol)
			})
		}
	}
}

func TestMedCLIPGolden(t *testing.T) {
	out := filepath.Join(t.TempDir(), "medclip-vision.gguf")
	err := convert.MedCLIP(context.Background(), "testdata/medclip_pytorch_model.bin", "testdata/medclip_proj.pth", out,
		convert.Options{ImageSize: 112})
	if err != nil {
		t.Fatal(err)
	}
	m, err := vision.Open(out, vision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.Config.Swin
	if len(c.Depths) != 3 || c.WindowSize != 7 || c.Heads[2] != 4 || c.ProjDim != 24 || m.Config.Projector.Input != vision.ProjectTokens {
		t.Fatalf("config %+v %+v", c, m.Config.Projector)
	}
	in, _ := golden(t, "swin_input")
	got := stages(t, m, in)
	for _, s := range []struct{ stage, file string }{
		{vision.StagePatchEmbed, "swin_embed"},
		{vision.StageBlock1, "swin_block1"},
		{"stage0", "swin_stage0"},
		{"stage1", "swin_stage1"},
		{"stage2", "swin_stage2"},
		{vision.StageLastHidden, "swin_last_hidden"},
		{vision.StagePooled, "swin_pooled"},
		{vision.StageEmbedding, "swin_embeds"},
		{vision.StageSoftTokens, "swin_soft_tokens"},
	} {
		want, _ := golden(t, s.file)
		compare(t, s.stage, got[s.stage], want, 1e-4)
	}
}
