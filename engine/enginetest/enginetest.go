// Package enginetest makes the tiny XrayGPT models that tests of the engine
// and the CLI run on: engine/testdata's Hugging Face LLaMA folder and
// EVA/Q-Former/llama_proj checkpoints (written by engine/testdata/gen_e2e.py),
// converted with our own converters.
package enginetest

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/xraygpt-go/xraygpt/convert"
	visconvert "github.com/xraygpt-go/xraygpt/vision/convert"
)

// TestdataDir is the absolute path of engine/testdata.
func TestdataDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

// Image is the reference X-ray of engine/testdata.
func Image() string { return filepath.Join(TestdataDir(), "e2e_image.png") }

// Convert writes the tiny language model (f32) and vision model (f32) into
// dir and returns their paths.
func Convert(ctx context.Context, dir string) (llm, vision string, err error) {
	td := TestdataDir()
	llm = filepath.Join(dir, "tinyllama-f32.gguf")
	vision = filepath.Join(dir, "tiny-vision.gguf")
	if err := convert.LLM(ctx, filepath.Join(td, "tinyllama"), llm, convert.Options{Precision: convert.F32}); err != nil {
		return "", "", fmt.Errorf("convert the tiny language model: %w", err)
	}
	err = visconvert.XrayGPT(ctx, visconvert.XrayGPTInputs{
		EVA:     filepath.Join(td, "vision", "eva_vit_g.pth"),
		QFormer: filepath.Join(td, "vision", "blip2_pretrained_flant5xxl.pth"),
		Proj:    filepath.Join(td, "vision", "xraygpt_checkpoint.pth"),
	}, vision, visconvert.Options{DType: visconvert.F32, EVAHeads: 4, QFormerHeads: 4}) // gen_e2e.py's EVA_HEADS, Q_HEADS
	if err != nil {
		return "", "", fmt.Errorf("convert the tiny vision model: %w", err)
	}
	return llm, vision, nil
}
