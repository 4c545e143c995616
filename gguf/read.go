package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/linalg"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the data alignment used when general.alignment is absent.
const DefaultAlignment = 32

// maxDims is ggml's GGML_MAX_DIMS.
const maxDims = 4

// Sentinel errors that callers can branch on with errors.Is.
var (
	// ErrNotGGUF means the bytes do not start with the GGUF magic.
	ErrNotGGUF = errors.New("not a GGUF file")
	// ErrCorrupt means the file is truncated or its header is inconsistent.
	ErrCorrupt = errors.New("corrupt GGUF file")
	// ErrNotFound means a key or tensor is absent.
	ErrNotFound = errors.New("not found")
	// ErrClosed means the File was used after Close.
	ErrClosed = errors.New("gguf file is closed")
)

// value types in the GGUF metadata encoding.
const (
	vtUint8   = 0
	vtInt8    = 1
	vtUint16  = 2
	vtInt16   = 3
	vtUint32  = 4
	vtInt32   = 5
	vtFloat32 = 6
	vtBool    = 7
	vtString  = 8
	vtArray   = 9
	vtUint64  = 10
	vtInt64   = 11
	vtFloat64 = 12
)

// KV is one metadata key/value pair. Value holds one of the Go types uint8,
// int8, uint16, int16, uint32, int32, uint64, int64, float32, float64, bool,
// string, or a slice of one of them (arrays of arrays are kept as []any).
type KV struct {
	Key   string
	Value any
}

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name string
	Type Type
	// Ne holds the dimensions in GGUF order: Ne[0] varies fastest, so a
	// PyTorch weight of shape [out, in] has Ne = [in, out].
	Ne []uint64
	// Offset is the position of the data relative to the data section.
	Offset uint64
}

// Elements returns the number of elements of the tensor.
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Ne {
		n *= d
	}
	return n
}

// Size returns the number of bytes of the tensor's data.
func (t TensorInfo) Size() (uint64, error) {
	if len(t.Ne) == 0 {
		return t.Type.RowSize(1)
	}
	row, err := t.Type.RowSize(t.Ne[0])
	if err != nil {
		return 0, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	n := row
	for _, d := range t.Ne[1:] {
		if d != 0 && n > math.MaxUint64/d {
			return 0, fmt.Errorf("tensor %s: size overflows", t.Name)
		}
		n *= d
	}
	return n, nil
}

// File is a parsed GGUF file whose bytes stay in memory (memory-mapped when
// opened with Open). Tensor data returned by TensorBytes aliases that memory
// and is valid until Close.
type File struct {
	Version   uint32
	KVs       []KV
	Tensors   []TensorInfo
	Alignment uint64
	// DataOffset is the file offset of the tensor data section.
	DataOffset uint64

	data    []byte
	unmap   func() error
	kvIndex map[string]int
	tIndex  map[string]int
	closed  bool
}

// Open memory-maps and parses the GGUF file at path.
func Open(path string) (*File, error) {
	fd, err := fileio.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("open gguf: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("open gguf %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("open gguf %s: is a directory", path)
	}
	data, unmap, err := mapFile(fd, st.Size())
	if err != nil {
		return nil, fmt.Errorf("open gguf %s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		unmap()
		return nil, fmt.Errorf("open gguf %s: %w", path, err)
	}
	f.unmap = unmap
	return f, nil
}

// Parse parses a GGUF file held in data. The File aliases data.
func Parse(data []byte) (*File, error) {
	r := &reader{b: data}
	magic, err := r.bytes(4)
	if err != nil || string(magic) != Magic {
		return nil, ErrNotGGUF
	}
	f := &File{data: data, Alignment: DefaultAlignment}
	if f.Version, err = r.u32(); err != nil {
		return nil, err
	}
	if f.Version != 2 && f.Version != 3 {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrCorrupt, f.Version)
	}
	nTensors, err := r.u64()
	if err != nil {
		return nil, err
	}
	nKV, err := r.u64()
	if err != nil {
		return nil, err
	}
	// Each KV takes at least 12 bytes and each tensor info at least 24:
	// reject counts that the remaining bytes cannot hold before allocating.
	if nKV > uint64(r.remaining())/12 || nTensors > uint64(r.remaining())/24 {
		return nil, fmt.Errorf("%w: %d keys and %d tensors do not fit in %d bytes", ErrCorrupt, nKV, nTensors, len(data))
	}
	f.KVs = make([]KV, 0, nKV)
	f.kvIndex = make(map[string]int, nKV)
	for i := uint64(0); i < nKV; i++ {
		key, err := r.str()
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		vt, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		v, err := r.value(vt, 0)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		if _, dup := f.kvIndex[key]; dup {
			return nil, fmt.Errorf("%w: duplicate key %q", ErrCorrupt, key)
		}
		f.kvIndex[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{Key: key, Value: v})
	}
	if a, ok := f.Value("general.alignment"); ok {
		al, ok := a.(uint32)
		if !ok || al == 0 || al&(al-1) != 0 {
			return nil, fmt.Errorf("%w: general.alignment %v is not a power of two uint32", ErrCorrupt, a)
		}
		f.Alignment = uint64(al)
	}
	f.Tensors = make([]TensorInfo, 0, nTensors)
	f.tIndex = make(map[string]int, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		t, err := r.tensorInfo()
		if err != nil {
			return nil, fmt.Errorf("tensor %d: %w", i, err)
		}
		if _, dup := f.tIndex[t.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate tensor %q", ErrCorrupt, t.Name)
		}
		f.tIndex[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	f.DataOffset = alignUp(uint64(r.off), f.Alignment)
	for _, t := range f.Tensors {
		size, err := t.Size()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if t.Offset%f.Alignment != 0 {
			return nil, fmt.Errorf("%w: tensor %s: offset %d not aligned to %d", ErrCorrupt, t.Name, t.Offset, f.Alignment)
		}
		end := f.DataOffset + t.Offset + size
		if t.Offset > uint64(len(data)) || end < t.Offset || end > uint64(len(data)) {
			return nil, fmt.Errorf("%w: tensor %s (%d bytes at %d) lies beyond the end of the file (%d bytes): truncated?", ErrCorrupt, t.Name, size, f.DataOffset+t.Offset, len(data))
		}
	}
	return f, nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

// Close releases the file's memory mapping. It is safe to call more than once.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.data = nil
	if f.unmap != nil {
		return f.unmap()
	}
	return nil
}

// Value returns the value of a metadata key.
func (f *File) Value(key string) (any, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return nil, false
	}
	return f.KVs[i].Value, true
}

func (f *File) lookup(key string) (any, error) {
	v, ok := f.Value(key)
	if !ok {
		return nil, fmt.Errorf("metadata key %s: %w", key, ErrNotFound)
	}
	return v, nil
}

// String returns a string metadata value.
func (f *File) String(key string) (string, error) {
	v, err := f.lookup(key)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("metadata key %s: %T, want string", key, v)
	}
	return s, nil
}

// Int returns an integer metadata value of any integer type.
func (f *File) Int(key string) (int64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case uint8:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("metadata key %s: %d overflows int64", key, x)
		}
		return int64(x), nil
	}
	return 0, fmt.Errorf("metadata key %s: %T, want an integer", key, v)
}

// Uint returns a non-negative integer metadata value of any integer type.
func (f *File) Uint(key string) (uint64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	if x, ok := v.(uint64); ok {
		return x, nil
	}
	n, err := f.Int(key)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("metadata key %s: %d is negative", key, n)
	}
	return uint64(n), nil
}

// Float returns a floating-point (or integer) metadata value.
func (f *File) Float(key string) (float64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	n, err := f.Int(key)
	if err != nil {
		return 0, fmt.Errorf("metadata key %s: %T, want a number", key, v)
	}
	return float64(n), nil
}

// Bool returns a boolean metadata value.
func (f *File) Bool(key string) (bool, error) {
	v, err := f.lookup(key)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("metadata key %s: %T, want bool", key, v)
	}
	return b, nil
}

// Strings returns a string-array metadata value.
func (f *File) Strings(key string) ([]string, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	s, ok := v.([]string)
	if !ok {
		return nil, fmt.Errorf("metadata key %s: %T, want []string", key, v)
	}
	return s, nil
}

// Tensor returns the header of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// TensorBytes returns the raw data of the named tensor. The slice aliases
// the file's memory and must not be written to or used after Close.
func (f *File) TensorBytes(name string) ([]byte, error) {
	if f.closed {
		return nil, ErrClosed
	}
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("tensor %s: %w", name, ErrNotFound)
	}
	size, _ := t.Size() // checked by Parse
	start := f.DataOffset + t.Offset
	return f.data[start : start+size : start+size], nil
}

// TensorFloat32 returns the named tensor's data converted to float32. Only
// F32, F16 and BF16 tensors are supported.
func (f *File) TensorFloat32(name string) ([]float32, error) {
	b, err := f.TensorBytes(name)
	if err != nil {
		return nil, err
	}
	t, _ := f.Tensor(name)
	out := make([]float32, t.Elements())
	if err := DecodeFloat32(out, b, t.Type); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	return out, nil
}

// DecodeFloat32 converts raw little-endian data of type typ into dst, which
// must have exactly the number of elements that data holds. Supported types
// are F32, F16 and BF16.
func DecodeFloat32(dst []float32, data []byte, typ Type) error {
	var width int
	switch typ {
	case TypeF32:
		width = 4
	case TypeF16, TypeBF16:
		width = 2
	default:
		return fmt.Errorf("cannot convert %s to float32", typ)
	}
	if len(data) != len(dst)*width {
		return fmt.Errorf("%d bytes of %s for %d elements", len(data), typ, len(dst))
	}
	switch typ {
	case TypeF32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
	case TypeF16:
		convertHalves(dst, data, linalg.F16ToF32, linalg.Float16To32)
	case TypeBF16:
		convertHalves(dst, data, linalg.BF16ToF32, linalg.BFloat16To32)
	}
	return nil
}

// convertHalves converts 16-bit values with the vectorized bulk function
// when data can be viewed as []uint16 (aligned, little-endian host), else
// one by one.
func convertHalves(dst []float32, data []byte, bulk func([]float32, []uint16), one func(uint16) float32) {
	if len(data) > 0 && uintptr(unsafe.Pointer(&data[0]))%2 == 0 && littleEndian {
		bulk(dst, unsafe.Slice((*uint16)(unsafe.Pointer(&data[0])), len(dst)))
		return
	}
	for i := range dst {
		dst[i] = one(binary.LittleEndian.Uint16(data[2*i:]))
	}
}

// littleEndian reports whether the host stores integers little-endian.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// reader decodes little-endian GGUF fields with bounds checks.
type reader struct {
	b   []byte
	off int
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) bytes(n uint64) ([]byte, error) {
	if n > uint64(r.remaining()) {
		return nil, fmt.Errorf("%w: want %d bytes at offset %d, file has %d", ErrCorrupt, n, r.off, len(r.b))
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s, nil
}

func (r *reader) u32() (uint32, error) {
	b, err := r.bytes(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (r *reader) u64() (uint64, error) {
	b, err := r.bytes(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (r *reader) str() (string, error) {
	n, err := r.u64()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// scalarSize returns the encoded size of a fixed-width value type.
func scalarSize(vt uint32) int {
	switch vt {
	case vtUint8, vtInt8, vtBool:
		return 1
	case vtUint16, vtInt16:
		return 2
	case vtUint32, vtInt32, vtFloat32:
		return 4
	case vtUint64, vtInt64, vtFloat64:
		return 8
	}
	return 0
}

func (r *reader) value(vt uint32, depth int) (any, error) {
	if vt == vtString {
		return r.str()
	}
	if vt == vtArray {
		return r.array(depth)
	}
	size := scalarSize(vt)
	if size == 0 {
		return nil, fmt.Errorf("%w: unknown value type %d", ErrCorrupt, vt)
	}
	b, err := r.bytes(uint64(size))
	if err != nil {
		return nil, err
	}
	return decodeScalar(vt, b), nil
}

func decodeScalar(vt uint32, b []byte) any {
	le := binary.LittleEndian
	switch vt {
	case vtUint8:
		return b[0]
	case vtInt8:
		return int8(b[0])
	case vtBool:
		return b[0] != 0
	case vtUint16:
		return le.Uint16(b)
	case vtInt16:
		return int16(le.Uint16(b))
	case vtUint32:
		return le.Uint32(b)
	case vtInt32:
		return int32(le.Uint32(b))
	case vtFloat32:
		return math.Float32frombits(le.Uint32(b))
	case vtUint64:
		return le.Uint64(b)
	case vtInt64:
		return int64(le.Uint64(b))
	case vtFloat64:
		return math.Float64frombits(le.Uint64(b))
	}
	panic("unreachable")
}

func (r *reader) array(depth int) (any, error) {
	if depth > 4 {
		return nil, fmt.Errorf("%w: arrays nested too deeply", ErrCorrupt)
	}
	et, err := r.u32()
	if err != nil {
		return nil, err
	}
	n, err := r.u64()
	if err != nil {
		return nil, err
	}
	min := uint64(scalarSize(et))
	if et == vtString {
		min = 8
	} else if et == vtArray {
		min = 12
	} else if min == 0 {
		return nil, fmt.Errorf("%w: unknown array element type %d", ErrCorrupt, et)
	}
	if n > uint64(r.remaining())/min {
		return nil, fmt.Errorf("%w: array of %d elements does not fit in the file", ErrCorrupt, n)
	}
	switch et {
	case vtString:
		out := make([]string, n)
		for i := range out {
			if out[i], err = r.str(); err != nil {
				return nil, err
			}
		}
		return out, nil
	case vtArray:
		out := make([]any, n)
		for i := range out {
			if out[i], err = r.array(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	b, err := r.bytes(n * min)
	if err != nil {
		return nil, err
	}
	return decodeScalarArray(et, b, int(n)), nil
}

func decodeScalarArray(et uint32, b []byte, n int) any {
	switch et {
	case vtUint8:
		return append([]uint8(nil), b...)
	case vtInt8:
		return scalars[int8](et, b, n)
	case vtBool:
		return scalars[bool](et, b, n)
	case vtUint16:
		return scalars[uint16](et, b, n)
	case vtInt16:
		return scalars[int16](et, b, n)
	case vtUint32:
		return scalars[uint32](et, b, n)
	case vtInt32:
		return scalars[int32](et, b, n)
	case vtFloat32:
		return scalars[float32](et, b, n)
	case vtUint64:
		return scalars[uint64](et, b, n)
	case vtInt64:
		return scalars[int64](et, b, n)
	case vtFloat64:
		return scalars[float64](et, b, n)
	}
	panic("unreachable")
}

func scalars[T any](et uint32, b []byte, n int) []T {
	w := scalarSize(et)
	out := make([]T, n)
	for i := range out {
		out[i] = decodeScalar(et, b[i*w:]).(T)
	}
	return out
}

func (r *reader) tensorInfo() (TensorInfo, error) {
	var t TensorInfo
	var err error
	if t.Name, err = r.str(); err != nil {
		return t, err
	}
	nd, err := r.u32()
	if err != nil {
		return t, err
	}
	if nd > maxDims {
		return t, fmt.Errorf("%w: tensor %s has %d dimensions (at most %d)", ErrCorrupt, t.Name, nd, maxDims)
	}
	t.Ne = make([]uint64, nd)
	for i := range t.Ne {
		if t.Ne[i], err = r.u64(); err != nil {
			return t, err
		}
	}
	typ, err := r.u32()
	if err != nil {
		return t, err
	}
	t.Type = Type(typ)
	if _, ok := traits[t.Type]; !ok {
		return t, fmt.Errorf("%w: tensor %s has unknown type %d", ErrCorrupt, t.Name, typ)
	}
	if t.Offset, err = r.u64(); err != nil {
		return t, err
	}
	return t, nil
}
