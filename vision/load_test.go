package vision_test

import (
	"context"
	"errors"
	"image"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/imaging"
	"github.com/xraygpt-go/xraygpt/vision"
	"github.com/xraygpt-go/xraygpt/vision/convert"
)

// rewrite copies the GGUF at src to a new file, letting edit drop (return
// false) or replace tensors and metadata.
func rewrite(t *testing.T, src string, edit func(w *gguf.Writer, info gguf.TensorInfo, data []float32) bool, kv func(k string, v any) any) string {
	t.Helper()
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter()
	for _, e := range f.KVs {
		v := e.Value
		if kv != nil {
			v = kv(e.Key, v)
		}
		if v == nil || e.Key == "general.alignment" {
			continue
		}
		if err := w.AddKV(e.Key, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, info := range f.Tensors {
		data, err := f.TensorFloat32(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil && !edit(w, info, data) {
			continue
		}
		if err := w.AddFloat32(info.Name, info.Ne, data, info.Type); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "edited.gguf")
	if err := w.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func medclipFile(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "medclip.gguf")
	if err := convert.MedCLIP(context.Background(), "testdata/medclip_pytorch_model.bin", "", out, convert.Options{ImageSize: 112}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadErrors(t *testing.T) {
	src := medclipFile(t)
	const name = "vision_model.model.encoder.layers.1.blocks.0.attention.self.key.weight"
	missing := rewrite(t, src, func(_ *gguf.Writer, info gguf.TensorInfo, _ []float32) bool { return info.Name != name }, nil)
	_, err := vision.Open(missing, vision.Options{})
	if !errors.Is(err, vision.ErrMissingTensor) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "[24 24]") {
		t.Errorf("missing tensor: %v", err)
	}
	wrong := rewrite(t, src, func(w *gguf.Writer, info gguf.TensorInfo, d []float32) bool {
		if info.Name == name {
			w.AddFloat32(name, []uint64{12, 48}, d, gguf.TypeF32)
			return false
		}
		return true
	}, nil)
	_, err = vision.Open(wrong, vision.Options{})
	if !errors.Is(err, vision.ErrTensorShape) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "want [24 24]") {
		t.Errorf("wrong shape: %v", err)
	}
	badKind := rewrite(t, src, nil, func(k string, v any) any {
		if k == vision.KeyKind {
			return "resnet"
		}
		return v
	})
	if _, err := vision.Open(badKind, vision.Options{}); !errors.Is(err, vision.ErrUnsupported) {
		t.Errorf("unknown kind: %v", err)
	}
	noKey := rewrite(t, src, nil, func(k string, v any) any {
		if k == vision.KeySwinWindow {
			return nil
		}
		return v
	})
	if _, err := vision.Open(noKey, vision.Options{}); err == nil || !strings.Contains(err.Error(), vision.KeySwinWindow) {
		t.Errorf("missing metadata key: %v", err)
	}
	if _, err := vision.Open("testdata/eva_vit_g.pth", vision.Options{}); err == nil {
		t.Error("a .pth opened as GGUF")
	}
}

func TestEncodeInputChecks(t *testing.T) {
	m, err := vision.Open(medclipFile(t), vision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Encode(context.Background(), make([]float32, 10)); !errors.Is(err, vision.ErrInput) {
		t.Errorf("short input: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Encode(ctx, make([]float32, m.InputSize())); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	// Without a projector Encode returns the last hidden state (49 tokens).
	out, err := m.Encode(context.Background(), make([]float32, m.InputSize()))
	if err != nil || out.Rows != 49 || out.Cols != 48 {
		t.Errorf("Encode: %dx%d, %v", out.Rows, out.Cols, err)
	}
}

// TestTensorsMatchesRealConfigs checks the tensor list of the released models
// against published parameter counts: EVA ViT-g with 39 blocks + ln_vision +
// Q-Former query path + llama_proj, and Swin-T's 27.5M + 768x512.
func TestTensorsMatchesRealConfigs(t *testing.T) {
	count := func(cfg vision.Config) (n int64) {
		specs, err := vision.Tensors(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range specs {
			e := int64(1)
			for _, d := range s.Shape {
				e *= int64(d)
			}
			n += e
		}
		return n
	}
	sw := count(vision.MedCLIPConfig())
	// HF swin-tiny has 27,519,354 parameters; MedCLIP adds 768*512 and we do
	// not load the 6 relative_position_index buffers (not parameters).
	if want := int64(27519354 + 768*512); sw != want {
		t.Errorf("Swin-T + projection: %d parameters, want %d", sw, want)
	}
	x := count(vision.XrayGPTConfig())
	// EVA ViT-g/14: 1,000,000-ish params per LAVIS for 40 blocks; check the
	// exact closed form for 39 blocks.
	D, F, N := int64(1408), int64(6144), int64(257)
	eva := D*3*14*14 + D + D + N*D + 39*(4*D+3*D*D+2*D+D*D+D+F*D+F+D*F+D)
	if x < eva || x > eva+200_000_000 {
		t.Errorf("XrayGPT tensors hold %d parameters, EVA alone %d", x, eva)
	}
}

// TestEncodeImageUsesFilePreprocessing checks that EncodeImage applies the
// preprocessing the file names (MedCLIP: one channel, size 112 here).
func TestEncodeImageUsesFilePreprocessing(t *testing.T) {
	m, err := vision.Open(medclipFile(t), vision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	img := image.NewGray(image.Rect(0, 0, 150, 90))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	px, err := imaging.MedCLIPEval(img, 112, 0.5862785803043838, 0.27950088968644304)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Encode(context.Background(), px)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.EncodeImage(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("EncodeImage differs from Encode(MedCLIPEval(img))")
	}
}

// TestConcurrentEncode runs Encode from several goroutines on one model:
// calls serialize on the shared buffers and all give the same result.
func TestConcurrentEncode(t *testing.T) {
	m, err := vision.Open(medclipFile(t), vision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	in := make([]float32, m.InputSize())
	for i := range in {
		in[i] = float32(i%97)/50 - 1
	}
	want, err := m.Encode(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			got, err := m.Encode(context.Background(), in)
			if err == nil && !reflect.DeepEqual(got, want) {
				err = errors.New("concurrent Encode differs")
			}
			errs <- err
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
