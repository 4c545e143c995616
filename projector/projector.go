// Package projector maps vision-encoder tokens to the language model's
// embedding width with one linear layer (XrayGPT's llama_proj, 768 -> 4096),
// every row in a single GEMM through the blas.Float32 seam.
package projector

import (
	"errors"
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/xraygpt-go/xraygpt/linalg"
)

// ErrShape reports weights or buffers whose sizes do not fit the layer.
var ErrShape = errors.New("projector: shape mismatch")

// Linear is y = x W^T + b, as torch.nn.Linear.
type Linear struct {
	In, Out int
	Weight  []float32 // [Out, In] row-major, PyTorch layout
	Bias    []float32 // [Out], or nil for no bias
	// BLAS runs the product; nil means pure-Go gonum.
	BLAS blas.Float32
}

// New checks the shapes and returns the layer. bias may be nil.
func New(in, out int, weight, bias []float32, impl blas.Float32) (*Linear, error) {
	if in <= 0 || out <= 0 {
		return nil, fmt.Errorf("%w: in %d, out %d", ErrShape, in, out)
	}
	if len(weight) != in*out {
		return nil, fmt.Errorf("%w: weight has %d values, want [%d,%d]", ErrShape, len(weight), out, in)
	}
	if bias != nil && len(bias) != out {
		return nil, fmt.Errorf("%w: bias has %d values, want [%d]", ErrShape, len(bias), out)
	}
	return &Linear{In: in, Out: out, Weight: weight, Bias: bias, BLAS: impl}, nil
}

// Forward writes dst[rows,Out] = x[rows,In] W^T + b. dst and x must not overlap.
func (l *Linear) Forward(dst, x []float32, rows int) error {
	if rows < 0 || len(x) < rows*l.In || len(dst) < rows*l.Out {
		return fmt.Errorf("%w: %d rows need x of %d and dst of %d values, have %d and %d",
			ErrShape, rows, rows*l.In, rows*l.Out, len(x), len(dst))
	}
	if rows == 0 {
		return nil
	}
	bl := l.BLAS
	if bl == nil {
		bl = gonum.Implementation{}
	}
	linalg.Linear(bl, dst[:rows*l.Out], x[:rows*l.In], rows, l.Weight, l.In, l.Out, l.Bias)
	return nil
}

// Apply is Forward into a new slice.
func (l *Linear) Apply(x []float32, rows int) ([]float32, error) {
	dst := make([]float32, rows*l.Out)
	if err := l.Forward(dst, x, rows); err != nil {
		return nil, err
	}
	return dst, nil
}
