package vision

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/linalg"
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
	// tensorTemp lends a tensor only until done is called (decoded into
	// buf, or aliasing the file), and alloc makes room for its packed copy,
	// so that a packed matrix is never held twice.
	tensorTemp(name string, shape []int, buf []float32) (t []float32, done func(), err error)
	alloc(n int) []float32
	// halves lends an F16 tensor's values as IEEE half-precision bits
	// (aliasing the file) until done is called, and returns no values for
	// a tensor stored otherwise; allocHalf makes room for its packed copy.
	halves(name string, shape []int) (h []uint16, done func(), err error)
	allocHalf(n int) []uint16
}

// loader collects the first error so that model loading reads as a list of
// names and shapes.
type loader struct {
	src tensorSource
	err error
	// pack says to repack the large matrices for linalg's AVX-512 product
	// (getPacked); tmp is its reusable buffer for decoded tensors.
	pack bool
	tmp  []float32
	// packed counts the bytes of the packed matrices.
	packed int64
}

// matrix reads an [out, in] weight: plain (get), or, when the loader
// packs, repacked for linalg.Packed.Linear with no unpacked copy kept, in
// half precision when the file stores it so (a float16 checkpoint keeps
// its size in memory). Exactly one result is set, except after an error or
// for a source without data.
func (l *loader) matrix(name string, out, in int) ([]float32, *linalg.Packed) {
	if !l.pack {
		return l.get(name, out, in), nil
	}
	if l.err != nil {
		return nil, nil
	}
	h, done, err := l.src.halves(name, []int{out, in})
	if err != nil {
		l.err = err
		return nil, nil
	}
	if h != nil {
		defer done()
		l.packed += int64(linalg.PackedLen(out, in)) * 2
		return nil, linalg.PackHalf(l.src.allocHalf(linalg.PackedLen(out, in)), h, out, in)
	}
	if cap(l.tmp) < out*in {
		l.tmp = make([]float32, out*in)
	}
	t, done, err := l.src.tensorTemp(name, []int{out, in}, l.tmp[:out*in])
	if err != nil {
		l.err = err
		return nil, nil
	}
	defer done()
	if t == nil { // recordSource
		return nil, nil
	}
	l.packed += int64(linalg.PackedLen(out, in)) * 4
	return nil, linalg.Pack(l.src.alloc(linalg.PackedLen(out, in)), t, out, in)
}

// dense reads the Linear layer prefix+"weight" [out, in] (packed when
// packable and the loader packs) and, with bias, prefix+"bias" [out].
func (l *loader) dense(prefix string, out, in int, bias, packable bool) linalg.Dense {
	d := linalg.Dense{In: in, Out: out}
	if packable {
		d.W, d.P = l.matrix(prefix+"weight", out, in)
	} else {
		d.W = l.get(prefix+"weight", out, in)
	}
	if bias {
		d.B = l.get(prefix+"bias", out)
	}
	return d
}

// norm reads the LayerNorm prefix+"weight" and prefix+"bias" [dim].
func (l *loader) norm(prefix string, dim int, eps float32) norm {
	return norm{w: l.get(prefix+"weight", dim), b: l.get(prefix+"bias", dim), eps: eps}
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
	// arena and halfArena hold the copies (widened tensors, packed
	// matrices): chunks advised to use huge pages, carved in load order.
	arena     []float32
	halfArena []uint16
}

// arenaChunk is the size in bytes of an arena chunk (128 MiB). What a
// chunk leaves unused is never touched, so it costs address space, not
// memory.
const arenaChunk = 128 << 20

// carve returns n elements from the arena, starting a new chunk when the
// current one lacks room.
func carve[T float32 | uint16](arena *[]T, n int) []T {
	if len(*arena) < n {
		*arena = make([]T, max(n, arenaChunk/int(unsafe.Sizeof((*arena)[0]))))
		adviseHugePages(*arena)
	}
	t := (*arena)[:n:n]
	*arena = (*arena)[n:]
	return t
}

func (g *ggufSource) alloc(n int) []float32 { return carve(&g.arena, n) }

func (g *ggufSource) allocHalf(n int) []uint16 { return carve(&g.halfArena, n) }

// NeOf converts a PyTorch shape (outermost first) to GGUF's ne order
// (innermost first).
func NeOf(shape []int) []uint64 {
	ne := make([]uint64, len(shape))
	for i, d := range shape {
		ne[len(shape)-1-i] = uint64(d)
	}
	return ne
}

// lookup finds a tensor, checks its shape and type, and returns its bytes.
func (g *ggufSource) lookup(name string, shape []int) (gguf.TensorInfo, []byte, error) {
	info, ok := g.f.Tensor(name)
	if !ok {
		return info, nil, fmt.Errorf("%w: %s (want shape %v)", ErrMissingTensor, name, shape)
	}
	want := NeOf(shape)
	// Trailing singleton dims may be dropped by writers; compare element-wise
	// after padding the shorter with ones.
	if !sameDims(info.Ne, want) {
		got := make([]int, len(info.Ne))
		for i, d := range info.Ne {
			got[len(info.Ne)-1-i] = int(d)
		}
		return info, nil, fmt.Errorf("%w: %s has shape %v, want %v", ErrTensorShape, name, got, shape)
	}
	switch info.Type {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
	default:
		return info, nil, fmt.Errorf("%w: tensor %s has type %v (want F32, F16 or BF16)", ErrUnsupported, name, info.Type)
	}
	b, err := g.f.TensorBytes(name)
	if err != nil {
		return info, nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	return info, b, nil
}

// alias returns an F32 tensor's bytes as floats when they can be used in
// place (aligned), after populating the pages.
func alias(info gguf.TensorInfo, b []byte) []float32 {
	if info.Type != gguf.TypeF32 || len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		return nil
	}
	populate(b)
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

func (g *ggufSource) tensor(name string, shape []int) ([]float32, error) {
	info, b, err := g.lookup(name, shape)
	if err != nil {
		return nil, err
	}
	if !g.copyAll {
		if t := alias(info, b); t != nil {
			g.aliased = true
			return t, nil
		}
	}
	t := g.alloc(int(info.Elements()))
	if err := decodeInto(t, b, info); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	dropPages(b)
	g.widened += int64(len(t)) * 4
	return t, nil
}

// tensorTemp implements packSource: F32 tensors alias the mapping, whose
// pages done drops; others are decoded into buf.
func (g *ggufSource) tensorTemp(name string, shape []int, buf []float32) ([]float32, func(), error) {
	info, b, err := g.lookup(name, shape)
	if err != nil {
		return nil, nil, err
	}
	done := func() { dropPages(b) }
	if t := alias(info, b); t != nil {
		return t, done, nil
	}
	if err := decodeInto(buf, b, info); err != nil {
		return nil, nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	return buf, done, nil
}

// halves implements tensorSource: an F16 tensor aliases the mapping, whose
// pages done drops.
func (g *ggufSource) halves(name string, shape []int) ([]uint16, func(), error) {
	info, b, err := g.lookup(name, shape)
	hostLE := binary.NativeEndian.Uint16([]byte{1, 0}) == 1 // GGUF is little-endian
	if err != nil || info.Type != gguf.TypeF16 || len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%2 != 0 || !hostLE {
		return nil, nil, err
	}
	populate(b)
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2), func() { dropPages(b) }, nil
}

// decodeInto widens b (F32, F16 or BF16) into t, in parallel pieces.
func decodeInto(t []float32, b []byte, info gguf.TensorInfo) error {
	populate(b) // one call instead of a page fault per 4 KiB read
	// Decode in parallel pieces of 64Ki elements (bytes per element: w).
	const piece = 1 << 16
	w := len(b) / max(len(t), 1)
	var derr error
	var mu sync.Mutex
	linalg.ParallelFor((len(t)+piece-1)/piece, 0, func(lo, hi int) {
		e0, e1 := lo*piece, min(hi*piece, len(t))
		if err := gguf.DecodeFloat32(t[e0:e1], b[e0*w:e1*w], info.Type); err != nil {
			mu.Lock()
			derr = err
			mu.Unlock()
		}
	})
	return derr
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
