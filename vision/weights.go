package vision

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/xraygpt-go/xraygpt/gguf"
)

var (
	// ErrMissingTensor means the weights file lacks a tensor the model needs.
	ErrMissingTensor = errors.New("missing tensor")
	// ErrTensorShape means a tensor's shape differs from what the metadata implies.
	ErrTensorShape = errors.New("wrong tensor shape")
	// ErrUnsupported means the file describes something this package cannot run.
	ErrUnsupported = errors.New("unsupported vision model")
)

// tensorSource hands the loader float32 tensors by checkpoint name, checked
// against the expected PyTorch shape (outermost dimension first).
type tensorSource interface {
	tensor(name string, shape []int) ([]float32, error)
}

// loader collects the first error so that model loading reads as a list of
// names and shapes.
type loader struct {
	src tensorSource
	err error
}

func (l *loader) get(name string, shape ...int) []float32 {
	if l.err != nil {
		return nil
	}
	t, err := l.src.tensor(name, shape)
	if err != nil {
		l.err = err
		return nil
	}
	return t
}

// ggufSource reads tensors from a memory-mapped GGUF file. F32 tensors alias
// the mapping (no copy; valid until the file is closed); F16 and BF16 are
// widened to float32 because every product runs in float32 BLAS.
type ggufSource struct {
	f *gguf.File
	// widened counts bytes allocated for widened tensors.
	widened int64
	// aliased says whether some tensor points into the mapping.
	aliased bool
	// copyAll copies f32 tensors too (set for files with f16/bf16 tensors,
	// so that the mapping can be released after loading).
	copyAll bool
	// arena, when not nil, holds the copies: one allocation advised to use
	// huge pages, carved in load order.
	arena []float32
}

// alloc returns n floats from the arena, or a new slice when it is full.
func (g *ggufSource) alloc(n int) []float32 {
	if len(g.arena) >= n {
		t := g.arena[:n:n]
		g.arena = g.arena[n:]
		return t
	}
	return make([]float32, n)
}

// NeOf converts a PyTorch shape (outermost first) to GGUF's ne order
// (innermost first).
func NeOf(shape []int) []uint64 {
	ne := make([]uint64, len(shape))
	for i, d := range shape {
		ne[len(shape)-1-i] = uint64(d)
	}
	return ne
}

func (g *ggufSource) tensor(name string, shape []int) ([]float32, error) {
	info, ok := g.f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s (want shape %v)", ErrMissingTensor, name, shape)
	}
	want := NeOf(shape)
	// Trailing singleton dims may be dropped by writers; compare element-wise
	// after padding the shorter with ones.
	if !sameDims(info.Ne, want) {
		got := make([]int, len(info.Ne))
		for i, d := range info.Ne {
			got[len(info.Ne)-1-i] = int(d)
		}
		return nil, fmt.Errorf("%w: %s has shape %v, want %v", ErrTensorShape, name, got, shape)
	}
	b, err := g.f.TensorBytes(name)
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	switch info.Type {
	case gguf.TypeF32:
		if len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%4 == 0 && !g.copyAll {
			g.aliased = true
			populate(b)
			return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), nil
		}
	case gguf.TypeF16, gguf.TypeBF16:
	default:
		return nil, fmt.Errorf("%w: tensor %s has type %v (want F32, F16 or BF16)", ErrUnsupported, name, info.Type)
	}
	t := g.alloc(int(info.Elements()))
	populate(b) // one call instead of a page fault per 4 KiB read
	// Decode in parallel pieces of 64Ki elements (bytes per element: w).
	const piece = 1 << 16
	w := len(b) / max(len(t), 1)
	var derr error
	var mu sync.Mutex
	parallelFor((len(t)+piece-1)/piece, 0, func(lo, hi int) {
		e0, e1 := lo*piece, min(hi*piece, len(t))
		if err := gguf.DecodeFloat32(t[e0:e1], b[e0*w:e1*w], info.Type); err != nil {
			mu.Lock()
			derr = err
			mu.Unlock()
		}
	})
	if derr != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, derr)
	}
	dropPages(b)
	g.widened += int64(len(t)) * 4
	return t, nil
}

func sameDims(a, b []uint64) bool {
	n := max(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := uint64(1), uint64(1)
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return false
		}
	}
	return true
}
