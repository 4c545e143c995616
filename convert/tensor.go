package convert

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	oconvert "github.com/ollama/ollama/convert"

	"github.com/xraygpt-go/xraygpt/linalg"
	"github.com/xraygpt-go/xraygpt/torchfile"
)

// GGUF tensor kinds this package writes.
const (
	kindF32  uint32 = 0
	kindF16  uint32 = 1
	kindBF16 uint32 = 30
)

// tensor is one source tensor, read lazily. It implements ollama's
// convert.Tensor, so ollama's LLaMA converter can rename it and attach the
// q/k repacker, and fs/ggml's GGUF writer can stream it.
type tensor struct {
	srcName string   // name in the checkpoint
	name    string   // GGUF name
	shape   []uint64 // PyTorch order (slowest dimension first)
	dtype   string   // source type: F32, F16 or BF16
	size    int64    // source bytes
	open    func() (io.ReadCloser, error)

	kind     uint32
	repacker oconvert.Repacker
	job      *job
}

var _ oconvert.Tensor = (*tensor)(nil)

func (t *tensor) Name() string                     { return t.name }
func (t *tensor) Shape() []uint64                  { return t.shape }
func (t *tensor) Kind() uint32                     { return t.kind }
func (t *tensor) SetRepacker(fn oconvert.Repacker) { t.repacker = fn }
func (t *tensor) Clone() oconvert.Tensor           { c := *t; return &c }
func (t *tensor) outBytes() int64                  { return int64(elements(t.shape)) * kindSize(t.kind) }

func kindSize(k uint32) int64 {
	if k == kindF32 {
		return 4
	}
	return 2
}

// sameType reports whether source bytes of dtype are already in kind.
func sameType(dtype string, kind uint32) bool {
	switch dtype {
	case "F32":
		return kind == kindF32
	case "F16":
		return kind == kindF16
	case "BF16":
		return kind == kindBF16
	}
	return false
}

// WriteTo converts the tensor to its output kind (applying the repacker, if
// any) and writes it to w.
func (t *tensor) WriteTo(w io.Writer) (int64, error) {
	if err := t.job.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := t.write(w)
	if err != nil {
		return n, fmt.Errorf("tensor %s (%s): %w", t.srcName, t.name, err)
	}
	t.job.done(n)
	return n, nil
}

func (t *tensor) write(w io.Writer) (int64, error) {
	rc, err := t.open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 1<<20)
	if t.repacker == nil && sameType(t.dtype, t.kind) {
		n, err := io.CopyN(w, r, t.size)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}

	raw := make([]byte, t.size)
	if _, err := io.ReadFull(r, raw); err != nil {
		return 0, err
	}
	f32 := make([]float32, elements(t.shape))
	if err := torchfile.DecodeFloat32(f32, raw, torchDType(t.dtype)); err != nil {
		return 0, err
	}
	raw = nil
	if t.repacker != nil {
		if f32, err = t.repacker(t.name, f32, t.shape); err != nil {
			return 0, err
		}
	}

	out := make([]byte, int64(len(f32))*kindSize(t.kind))
	switch t.kind {
	case kindF32:
		for i, v := range f32 {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case kindF16:
		for i, v := range f32 {
			binary.LittleEndian.PutUint16(out[2*i:], linalg.Float32To16(v))
		}
	case kindBF16:
		for i, v := range f32 {
			binary.LittleEndian.PutUint16(out[2*i:], linalg.Float32ToBF16(v))
		}
	}
	n, err := w.Write(out)
	return int64(n), err
}

// torchDType maps a source type name (F32, F16, BF16) to PyTorch's.
func torchDType(dtype string) torchfile.DType {
	switch dtype {
	case "F32":
		return torchfile.Float32
	case "F16":
		return torchfile.Float16
	case "BF16":
		return torchfile.BFloat16
	}
	return ""
}

// dtypeSize returns the bytes of one element of a source type, or 0 for a
// type this package does not convert.
func dtypeSize(dtype string) int64 { return int64(torchDType(dtype).Size()) }

func elements(shape []uint64) uint64 {
	n := uint64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

type readCloser struct {
	io.Reader
	io.Closer
}
