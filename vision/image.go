package vision

import (
	"context"
	"fmt"
	"image"

	"github.com/xraygpt-go/xraygpt/imaging"
)

// Pixels preprocesses a decoded image into the CHW float32 tensor the
// encoder expects, following the reference preprocessing named by p.Mode.
func (p Preprocess) Pixels(img image.Image) ([]float32, error) {
	switch p.Mode {
	case PreprocessBLIP2:
		if len(p.Mean) != 3 || len(p.Std) != 3 {
			return nil, fmt.Errorf("%w: %s needs 3 means and stds", ErrUnsupported, p.Mode)
		}
		return imaging.BLIP2Eval(img, p.Size, [3]float32(p.Mean), [3]float32(p.Std))
	case PreprocessMedCLIP:
		if len(p.Mean) != 1 || len(p.Std) != 1 {
			return nil, fmt.Errorf("%w: %s needs 1 mean and std", ErrUnsupported, p.Mode)
		}
		return imaging.MedCLIPEval(img, p.Size, p.Mean[0], p.Std[0])
	}
	return nil, fmt.Errorf("%w: preprocessing %q", ErrUnsupported, p.Mode)
}

// EncodeImage preprocesses img as the weights file says and encodes it
// (see Encode).
func (m *Model) EncodeImage(ctx context.Context, img image.Image) (Tensor, error) {
	px, err := m.Config.Preprocess.Pixels(img)
	if err != nil {
		return Tensor{}, fmt.Errorf("vision: preprocess: %w", err)
	}
	return m.Encode(ctx, px)
}
