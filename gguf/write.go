package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/linalg"
)

// Writer builds a GGUF version 3 file. Add metadata and tensors, then call
// WriteTo or WriteFile. The zero value is not usable: call NewWriter.
type Writer struct {
	// Alignment of tensor data; 0 means DefaultAlignment. A value other than
	// the default is recorded as general.alignment.
	Alignment uint64

	kvs     []KV
	keys    map[string]bool
	tensors []writerTensor
	names   map[string]bool
}

type writerTensor struct {
	info TensorInfo
	size uint64
	data []byte
	// write, when set, produces the data at write time instead of data.
	write func(io.Writer) error
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{keys: map[string]bool{}, names: map[string]bool{}}
}

// AddKV adds a metadata key. The value must be one of the Go types listed
// for KV.Value; integers and floats keep their exact width.
func (w *Writer) AddKV(key string, value any) error {
	if w.keys[key] {
		return fmt.Errorf("gguf writer: duplicate key %q", key)
	}
	if _, err := valueType(value); err != nil {
		return fmt.Errorf("gguf writer: key %q: %w", key, err)
	}
	w.keys[key] = true
	w.kvs = append(w.kvs, KV{Key: key, Value: value})
	return nil
}

// AddTensor adds a tensor with raw data of the given type and dimensions
// (GGUF order, Ne[0] fastest). The data is not copied.
func (w *Writer) AddTensor(name string, typ Type, ne []uint64, data []byte) error {
	t, err := w.newTensor(name, typ, ne)
	if err != nil {
		return err
	}
	if uint64(len(data)) != t.size {
		return fmt.Errorf("gguf writer: tensor %s: %d bytes of data, %s%v needs %d", name, len(data), typ, ne, t.size)
	}
	t.data = data
	w.tensors = append(w.tensors, t)
	return nil
}

// AddTensorFunc adds a tensor whose data write produces when the file is
// written, so that files larger than memory can be made. write must write
// exactly the tensor's size in bytes.
func (w *Writer) AddTensorFunc(name string, typ Type, ne []uint64, write func(io.Writer) error) error {
	t, err := w.newTensor(name, typ, ne)
	if err != nil {
		return err
	}
	t.write = write
	w.tensors = append(w.tensors, t)
	return nil
}

func (w *Writer) newTensor(name string, typ Type, ne []uint64) (writerTensor, error) {
	if w.names[name] {
		return writerTensor{}, fmt.Errorf("gguf writer: duplicate tensor %q", name)
	}
	if len(ne) == 0 || len(ne) > maxDims {
		return writerTensor{}, fmt.Errorf("gguf writer: tensor %s: %d dimensions (want 1 to %d)", name, len(ne), maxDims)
	}
	info := TensorInfo{Name: name, Type: typ, Ne: append([]uint64(nil), ne...)}
	size, err := info.Size()
	if err != nil {
		return writerTensor{}, fmt.Errorf("gguf writer: %w", err)
	}
	w.names[name] = true
	return writerTensor{info: info, size: size}, nil
}

// AddFloat32 adds a tensor given as float32 values, stored as F32, F16 or BF16.
func (w *Writer) AddFloat32(name string, ne []uint64, data []float32, as Type) error {
	var b []byte
	switch as {
	case TypeF32:
		b = make([]byte, 4*len(data))
		for i, v := range data {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
	case TypeF16, TypeBF16:
		conv := linalg.Float32To16
		if as == TypeBF16 {
			conv = linalg.Float32ToBF16
		}
		b = make([]byte, 2*len(data))
		for i, v := range data {
			binary.LittleEndian.PutUint16(b[2*i:], conv(v))
		}
	default:
		return fmt.Errorf("gguf writer: tensor %s: cannot store float32 data as %s", name, as)
	}
	return w.AddTensor(name, as, ne, b)
}

func (w *Writer) alignment() uint64 {
	if w.Alignment == 0 {
		return DefaultAlignment
	}
	return w.Alignment
}

// WriteTo writes the file to out.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	align := w.alignment()
	if align&(align-1) != 0 || align > math.MaxUint32 {
		return 0, fmt.Errorf("gguf writer: alignment %d is not a power of two", align)
	}
	kvs := w.kvs
	if align != DefaultAlignment && !w.keys["general.alignment"] {
		kvs = append(append([]KV(nil), kvs...), KV{Key: "general.alignment", Value: uint32(align)})
	}
	bw := &countingWriter{w: bufio.NewWriterSize(out, 1<<20)}
	bw.write([]byte(Magic))
	bw.u32(3)
	bw.u64(uint64(len(w.tensors)))
	bw.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		bw.str(kv.Key)
		if err := bw.value(kv.Value, true); err != nil {
			return bw.n, fmt.Errorf("gguf writer: key %q: %w", kv.Key, err)
		}
	}
	offset := uint64(0)
	offsets := make([]uint64, len(w.tensors))
	for i, t := range w.tensors {
		offsets[i] = offset
		bw.str(t.info.Name)
		bw.u32(uint32(len(t.info.Ne)))
		for _, d := range t.info.Ne {
			bw.u64(d)
		}
		bw.u32(uint32(t.info.Type))
		bw.u64(offset)
		offset = alignUp(offset+t.size, align)
	}
	bw.pad(align)
	start := uint64(bw.n)
	for i, t := range w.tensors {
		bw.pad(align)
		if uint64(bw.n)-start != offsets[i] {
			return bw.n, fmt.Errorf("gguf writer: internal offset mismatch for %s", t.info.Name)
		}
		if t.write == nil {
			bw.write(t.data)
			continue
		}
		before := bw.n
		if err := t.write(bw); err != nil && bw.err == nil {
			bw.err = fmt.Errorf("tensor %s: %w", t.info.Name, err)
		}
		if n := uint64(bw.n - before); bw.err == nil && n != t.size {
			bw.err = fmt.Errorf("gguf writer: tensor %s: wrote %d bytes, want %d", t.info.Name, n, t.size)
		}
	}
	if bw.err == nil {
		bw.err = bw.w.(*bufio.Writer).Flush()
	}
	return bw.n, bw.err
}

// WriteFile writes the file to path through a temporary file in the same
// folder that is renamed into place, so path never holds a partial file. It
// gets mode 0644 less the umask.
func (w *Writer) WriteFile(path string) error {
	err := fileio.WriteAtomic(path, 0o644, func(out io.Writer) error {
		_, err := w.WriteTo(out)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

// Write makes countingWriter an io.Writer for AddTensorFunc callbacks.
func (c *countingWriter) Write(b []byte) (int, error) {
	c.write(b)
	if c.err != nil {
		return 0, c.err
	}
	return len(b), nil
}

func (c *countingWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
}

func (c *countingWriter) u32(v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	c.write(b[:])
}

func (c *countingWriter) u64(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	c.write(b[:])
}

func (c *countingWriter) str(s string) {
	c.u64(uint64(len(s)))
	c.write([]byte(s))
}

func (c *countingWriter) pad(align uint64) {
	if r := uint64(c.n) % align; r != 0 {
		c.write(make([]byte, align-r))
	}
}

// valueType returns the GGUF value type of v (vtArray for slices).
func valueType(v any) (uint32, error) {
	switch v.(type) {
	case uint8:
		return vtUint8, nil
	case int8:
		return vtInt8, nil
	case uint16:
		return vtUint16, nil
	case int16:
		return vtInt16, nil
	case uint32:
		return vtUint32, nil
	case int32:
		return vtInt32, nil
	case uint64:
		return vtUint64, nil
	case int64:
		return vtInt64, nil
	case float32:
		return vtFloat32, nil
	case float64:
		return vtFloat64, nil
	case bool:
		return vtBool, nil
	case string:
		return vtString, nil
	case []uint8, []int8, []uint16, []int16, []uint32, []int32, []uint64, []int64,
		[]float32, []float64, []bool, []string:
		return vtArray, nil
	}
	return 0, fmt.Errorf("unsupported metadata value type %T", v)
}

// value writes v, with its type tag when tagged is true.
func (c *countingWriter) value(v any, tagged bool) error {
	vt, err := valueType(v)
	if err != nil {
		return err
	}
	if tagged {
		c.u32(vt)
	}
	le := binary.LittleEndian
	switch x := v.(type) {
	case uint8:
		c.write([]byte{x})
	case int8:
		c.write([]byte{byte(x)})
	case bool:
		if x {
			c.write([]byte{1})
		} else {
			c.write([]byte{0})
		}
	case uint16:
		c.write(le.AppendUint16(nil, x))
	case int16:
		c.write(le.AppendUint16(nil, uint16(x)))
	case uint32:
		c.u32(x)
	case int32:
		c.u32(uint32(x))
	case uint64:
		c.u64(x)
	case int64:
		c.u64(uint64(x))
	case float32:
		c.u32(math.Float32bits(x))
	case float64:
		c.u64(math.Float64bits(x))
	case string:
		c.str(x)
	case []uint8:
		writeArray(c, vtUint8, x)
	case []int8:
		writeArray(c, vtInt8, x)
	case []uint16:
		writeArray(c, vtUint16, x)
	case []int16:
		writeArray(c, vtInt16, x)
	case []uint32:
		writeArray(c, vtUint32, x)
	case []int32:
		writeArray(c, vtInt32, x)
	case []uint64:
		writeArray(c, vtUint64, x)
	case []int64:
		writeArray(c, vtInt64, x)
	case []float32:
		writeArray(c, vtFloat32, x)
	case []float64:
		writeArray(c, vtFloat64, x)
	case []bool:
		writeArray(c, vtBool, x)
	case []string:
		writeArray(c, vtString, x)
	}
	return c.err
}

func writeArray[T any](c *countingWriter, et uint32, xs []T) {
	c.u32(et)
	c.u64(uint64(len(xs)))
	for _, x := range xs {
		c.value(any(x), false)
	}
}
