package torchfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/xraygpt-go/xraygpt/linalg"
)

// DType is a tensor element type, named as PyTorch names it (torch.float16
// is "float16").
type DType string

// The element types of PyTorch's storage classes.
const (
	Float32  DType = "float32"
	Float16  DType = "float16"
	BFloat16 DType = "bfloat16"
	Float64  DType = "float64"
	Int64    DType = "int64"
	Int32    DType = "int32"
	Int16    DType = "int16"
	Int8     DType = "int8"
	Uint8    DType = "uint8"
	Bool     DType = "bool"
)

// Size returns the bytes one element takes, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case Float64, Int64:
		return 8
	case Float32, Int32:
		return 4
	case Float16, BFloat16, Int16:
		return 2
	case Int8, Uint8, Bool:
		return 1
	}
	return 0
}

// storageRecord is a typed storage: a stored zip record of the checkpoint,
// starting at byte start of r and holding elems elements.
type storageRecord struct {
	dtype DType
	elems int
	start int64
	r     io.ReaderAt
}

// Tensor is one tensor of a checkpoint: a strided view into a storage
// record, read on demand. Shape, Stride and Offset are as PyTorch reports
// them (t.shape, t.stride(), t.storage_offset()); Read has checked that the
// view lies in its storage and the storage in the file.
type Tensor struct {
	Name   string
	DType  DType
	Shape  []int // slowest-varying dimension first; empty for a scalar
	Stride []int // in elements, one per dimension
	Offset int   // of the first element in the storage, in elements

	storage *storageRecord
}

// NumElements returns the number of elements, the product of Shape.
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// NBytes returns the bytes the elements take when stored densely.
func (t *Tensor) NBytes() int64 {
	return int64(t.NumElements()) * int64(t.DType.Size())
}

// Contiguous reports whether the elements lie densely in row-major order,
// so that the tensor's bytes are one section of the file.
func (t *Tensor) Contiguous() bool {
	want := 1
	for i := len(t.Shape) - 1; i >= 0; i-- {
		if t.Shape[i] != 1 && t.Stride[i] != want {
			return false
		}
		want *= t.Shape[i]
	}
	return true
}

// DataOffset returns the position in the checkpoint file of the tensor's
// first byte. For a contiguous tensor the NBytes bytes from there are its
// elements, little-endian, row-major.
func (t *Tensor) DataOffset() int64 {
	return t.storage.start + int64(t.Offset)*int64(t.DType.Size())
}

// Reader returns the bytes of a contiguous tensor (NBytes of them,
// little-endian, row-major) as a section of the checkpoint, read lazily.
// A non-contiguous tensor gives ErrNotContiguous.
func (t *Tensor) Reader() (*io.SectionReader, error) {
	if err := checkView(t.Offset, t.Shape, t.Stride, t.storage.elems); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	if !t.Contiguous() {
		return nil, fmt.Errorf("tensor %s (shape %v, stride %v): %w", t.Name, t.Shape, t.Stride, ErrNotContiguous)
	}
	return io.NewSectionReader(t.storage.r, t.DataOffset(), t.NBytes()), nil
}

// Float32 reads the tensor's values as float32, row-major, whatever its
// strides. float16, bfloat16 and float64 values are converted; integer
// tensors give ErrDType.
func (t *Tensor) Float32() ([]float32, error) {
	es := t.DType.Size()
	if !isFloat(t.DType) {
		return nil, fmt.Errorf("tensor %s: %w %s: want a floating-point tensor", t.Name, ErrDType, t.DType)
	}
	if err := checkView(t.Offset, t.Shape, t.Stride, t.storage.elems); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	n := t.NumElements()
	out := make([]float32, n)
	if n == 0 {
		return out, nil
	}
	// The storage span the view touches; Read bounded it by the storage.
	span := 1
	for i, d := range t.Shape {
		span += (d - 1) * t.Stride[i]
	}
	raw := make([]byte, span*es)
	if _, err := t.storage.r.ReadAt(raw, t.DataOffset()); err != nil {
		return nil, fmt.Errorf("tensor %s: reading %d bytes: %w", t.Name, len(raw), err)
	}
	if t.Contiguous() {
		if err := DecodeFloat32(out, raw, t.DType); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		return out, nil
	}
	// Gather the view in row-major order, one element at a time.
	idx := make([]int, len(t.Shape))
	one := make([]float32, 1)
	for i := range out {
		pos := 0
		for d, v := range idx {
			pos += v * t.Stride[d]
		}
		DecodeFloat32(one, raw[pos*es:(pos+1)*es], t.DType)
		out[i] = one[0]
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.Shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

func isFloat(d DType) bool {
	switch d {
	case Float32, Float16, BFloat16, Float64:
		return true
	}
	return false
}

// DecodeFloat32 converts little-endian elements of type dtype in src to
// dst; len(src) must be len(dst) times the element size. float32, float16,
// bfloat16 and float64 are supported.
func DecodeFloat32(dst []float32, src []byte, dtype DType) error {
	if !isFloat(dtype) {
		return fmt.Errorf("%w %s: want a floating-point type", ErrDType, dtype)
	}
	if len(src) != len(dst)*dtype.Size() {
		return fmt.Errorf("decode %s: %d bytes for %d values", dtype, len(src), len(dst))
	}
	switch dtype {
	case Float32:
		linalg.DecodeF32(dst, src)
	case Float16:
		linalg.DecodeF16(dst, src)
	case BFloat16:
		linalg.DecodeBF16(dst, src)
	case Float64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	}
	return nil
}
