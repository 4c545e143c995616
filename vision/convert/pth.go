package convert

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

var (
	// ErrNotCheckpoint means the file is not a PyTorch zip checkpoint.
	ErrNotCheckpoint = errors.New("not a PyTorch checkpoint")
	// ErrMissingKey means a tensor the model needs is absent from a checkpoint.
	ErrMissingKey = errors.New("missing key")
	// ErrShape means a checkpoint tensor has an unexpected shape.
	ErrShape = errors.New("wrong shape")
)

// Checkpoint is a PyTorch checkpoint saved by torch.save (the zip format of
// torch >= 1.6). Tensor data is read lazily from the archive, one tensor at
// a time, so converting a multi-gigabyte file needs little memory.
type Checkpoint struct {
	// Tensors maps state-dict keys to tensors. When the pickled object is a
	// dict whose "model" (or "state_dict") entry is a dict, the keys are
	// that entry's; otherwise the top-level dict's. Nested dicts are
	// flattened with ".".
	Tensors map[string]*Tensor
	name    string
	closer  io.Closer
}

// Tensor is one tensor of a checkpoint.
type Tensor struct {
	Name   string
	DType  string // "float32", "float16", "bfloat16", "float64", "int64", ...
	Shape  []int
	stride []int
	offset int // in elements
	st     *storage
}

// storage is a lazily read typed storage record "data/<key>" of the archive.
type storage struct {
	dtype  string
	size   int // elements
	record *zip.File
}

type storageClass struct{ dtype string }

var storageClasses = map[string]struct {
	dtype string
	size  int
}{
	"FloatStorage":    {"float32", 4},
	"HalfStorage":     {"float16", 2},
	"BFloat16Storage": {"bfloat16", 2},
	"DoubleStorage":   {"float64", 8},
	"LongStorage":     {"int64", 8},
	"IntStorage":      {"int32", 4},
	"ShortStorage":    {"int16", 2},
	"CharStorage":     {"int8", 1},
	"ByteStorage":     {"uint8", 1},
	"BoolStorage":     {"bool", 1},
}

func elemSize(dtype string) int {
	for _, c := range storageClasses {
		if c.dtype == dtype {
			return c.size
		}
	}
	return 0
}

// OpenCheckpoint opens a PyTorch checkpoint file.
func OpenCheckpoint(filename string) (*Checkpoint, error) {
	f, err := os.Open(filename)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoint %s: %w", filename, err)
	}
	c, err := ReadCheckpoint(f, fi.Size(), filename)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.closer = f
	return c, nil
}

// ReadCheckpoint reads a checkpoint from r (size bytes); name is used in errors.
func ReadCheckpoint(r io.ReaderAt, size int64, name string) (c *Checkpoint, err error) {
	// gopickle is third-party code fed untrusted bytes: turn a panic into an error.
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("checkpoint %s: %w: malformed pickle (%v)", name, ErrNotCheckpoint, p)
		}
	}()
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w: %v (only the zip format of torch >= 1.6 is supported)", name, ErrNotCheckpoint, err)
	}
	records := map[string]*zip.File{}
	var pkl *zip.File
	for _, f := range zr.File {
		dir, base := path.Split(f.Name)
		if base == "data.pkl" && strings.Count(dir, "/") == 1 {
			pkl = f
		}
		// storages live in "<archive>/data/<key>"
		if strings.HasSuffix(dir, "/data/") {
			records[base] = f
		}
		if base == "constants.pkl" {
			return nil, fmt.Errorf("checkpoint %s: %w: TorchScript archives are not supported", name, ErrNotCheckpoint)
		}
	}
	if pkl == nil {
		return nil, fmt.Errorf("checkpoint %s: %w: no data.pkl in the zip", name, ErrNotCheckpoint)
	}
	if pkl.UncompressedSize64 > 1<<30 {
		return nil, fmt.Errorf("checkpoint %s: %w: data.pkl of %d bytes", name, ErrNotCheckpoint, pkl.UncompressedSize64)
	}
	rc, err := pkl.Open()
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: data.pkl: %w", name, err)
	}
	defer rc.Close()

	storages := map[string]*storage{}
	u := pickle.NewUnpickler(rc)
	u.FindClass = func(module, cls string) (any, error) {
		switch module + "." + cls {
		case "torch._utils._rebuild_tensor_v2":
			return rebuildTensor{}, nil
		case "torch._utils._rebuild_parameter":
			return rebuildParameter{}, nil
		}
		if module == "torch" {
			if sc, ok := storageClasses[cls]; ok {
				return &storageClass{dtype: sc.dtype}, nil
			}
		}
		// Anything else (optimizer state, configs) is kept opaque.
		return types.NewGenericClass(module, cls), nil
	}
	u.PersistentLoad = func(id any) (any, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 5 {
			return nil, fmt.Errorf("persistent id %v: want a 5-tuple", id)
		}
		kind, _ := t.Get(0).(string)
		sc, ok1 := t.Get(1).(*storageClass)
		key, ok2 := t.Get(2).(string)
		n, ok3 := t.Get(4).(int)
		if kind != "storage" || !ok1 || !ok2 || !ok3 || n < 0 {
			return nil, fmt.Errorf("persistent id %v: not a typed storage", id)
		}
		if s, ok := storages[key]; ok {
			return s, nil
		}
		rec, ok := records[key]
		if !ok {
			return nil, fmt.Errorf("storage %q: no record data/%s in the zip", key, key)
		}
		// torch.save stores records uncompressed; requiring that bounds every
		// allocation by the file's size.
		if rec.Method != zip.Store || rec.CompressedSize64 != rec.UncompressedSize64 || rec.CompressedSize64 > uint64(size) {
			return nil, fmt.Errorf("storage %q: record is compressed or larger than the file", key)
		}
		need := uint64(n) * uint64(elemSize(sc.dtype))
		if rec.UncompressedSize64 < need {
			return nil, fmt.Errorf("storage %q: record holds %d bytes, %d %s values need %d (truncated?)",
				key, rec.UncompressedSize64, n, sc.dtype, need)
		}
		s := &storage{dtype: sc.dtype, size: n, record: rec}
		storages[key] = s
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w: unpickle: %v", name, ErrNotCheckpoint, err)
	}
	c = &Checkpoint{Tensors: map[string]*Tensor{}, name: name}
	sd := obj
	for _, k := range []string{"model", "state_dict"} {
		if v, ok := dictGet(obj, k); ok && isDict(v) {
			sd = v
			break
		}
	}
	if !isDict(sd) {
		return nil, fmt.Errorf("checkpoint %s: %w: top-level object is %T, not a dict", name, ErrNotCheckpoint, obj)
	}
	c.collect("", sd, 0)
	return c, nil
}

// collect adds the tensors of dict d (recursively) under prefix.
func (c *Checkpoint) collect(prefix string, d any, depth int) {
	if depth > 8 {
		return
	}
	dictEach(d, func(k, v any) {
		key, ok := k.(string)
		if !ok {
			return
		}
		switch x := v.(type) {
		case *Tensor:
			t := *x
			t.Name = prefix + key
			c.Tensors[t.Name] = &t
		default:
			if isDict(v) {
				c.collect(prefix+key+".", v, depth+1)
			}
		}
	})
}

func isDict(v any) bool {
	switch v.(type) {
	case *types.Dict, *types.OrderedDict:
		return true
	}
	return false
}

func dictGet(d any, key string) (any, bool) {
	switch x := d.(type) {
	case *types.Dict:
		return x.Get(key)
	case *types.OrderedDict:
		return x.Get(key)
	}
	return nil, false
}

func dictEach(d any, fn func(k, v any)) {
	switch x := d.(type) {
	case *types.Dict:
		for _, e := range *x {
			fn(e.Key, e.Value)
		}
	case *types.OrderedDict:
		for e := x.List.Front(); e != nil; e = e.Next() {
			if oe, ok := e.Value.(*types.OrderedDictEntry); ok {
				fn(oe.Key, oe.Value)
			}
		}
	}
}

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...).
type rebuildTensor struct{}

func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %d arguments", len(args))
	}
	st, ok := args[0].(*storage)
	off, ok2 := args[1].(int)
	size, err1 := intTuple(args[2])
	stride, err2 := intTuple(args[3])
	if !ok || !ok2 || err1 != nil || err2 != nil || len(size) != len(stride) || off < 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: unexpected arguments")
	}
	// The largest element index must lie inside the storage.
	last := off
	for i, d := range size {
		if d < 0 || stride[i] < 0 {
			return nil, fmt.Errorf("_rebuild_tensor_v2: negative size or stride")
		}
		if d == 0 {
			last = -1
			break
		}
		if d > 1<<40 || stride[i] > 1<<40 {
			return nil, fmt.Errorf("_rebuild_tensor_v2: size %v too large", size)
		}
		last += (d - 1) * stride[i]
		if last > 1<<50 {
			return nil, fmt.Errorf("_rebuild_tensor_v2: size %v too large", size)
		}
	}
	if last >= st.size {
		return nil, fmt.Errorf("_rebuild_tensor_v2: view %v (stride %v, offset %d) exceeds storage of %d", size, stride, off, st.size)
	}
	return &Tensor{DType: st.dtype, Shape: size, stride: stride, offset: off, st: st}, nil
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad, hooks).
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("_rebuild_parameter: no arguments")
	}
	if t, ok := args[0].(*Tensor); ok {
		return t, nil
	}
	return nil, fmt.Errorf("_rebuild_parameter: %T is not a tensor", args[0])
}

// Call makes a storage class callable as pickle expects of globals; torch
// never calls it in a checkpoint.
func (s *storageClass) Call(args ...any) (any, error) {
	return nil, fmt.Errorf("storage class %s called", s.dtype)
}

func intTuple(v any) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%T is not a tuple", v)
	}
	out := make([]int, t.Len())
	for i := range out {
		n, ok := t.Get(i).(int)
		if !ok {
			return nil, fmt.Errorf("tuple entry %v is not an int", t.Get(i))
		}
		out[i] = n
	}
	return out, nil
}

// Close closes the underlying file.
func (c *Checkpoint) Close() error {
	if c.closer == nil {
		return nil
	}
	err := c.closer.Close()
	c.closer = nil
	return err
}

// Keys returns the tensor names in sorted order.
func (c *Checkpoint) Keys() []string {
	keys := make([]string, 0, len(c.Tensors))
	for k := range c.Tensors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Float32 reads tensor name as float32 values in row-major order, checking
// its shape when shape is not nil. Float16, bfloat16 and float64 tensors are
// converted.
func (c *Checkpoint) Float32(name string, shape []int) ([]float32, error) {
	t, ok := c.Tensors[name]
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: %w %s (want shape %v)", c.name, ErrMissingKey, name, shape)
	}
	if shape != nil && !equalInts(t.Shape, shape) {
		return nil, fmt.Errorf("checkpoint %s: %w: %s has shape %v, want %v", c.name, ErrShape, name, t.Shape, shape)
	}
	v, err := t.Float32()
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", c.name, err)
	}
	return v, nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Float32 reads the tensor's values, row-major, as float32.
func (t *Tensor) Float32() ([]float32, error) {
	es := elemSize(t.DType)
	var decode func([]byte) float32
	switch t.DType {
	case "float32":
		decode = func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }
	case "float16":
		decode = func(b []byte) float32 { return halfToFloat32(binary.LittleEndian.Uint16(b)) }
	case "bfloat16":
		decode = func(b []byte) float32 { return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16) }
	case "float64":
		decode = func(b []byte) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(b))) }
	default:
		return nil, fmt.Errorf("tensor %s: dtype %s is not floating point", t.Name, t.DType)
	}
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	// Read the storage span the view touches.
	span := 0
	if n > 0 {
		span = 1
		for i, d := range t.Shape {
			span += (d - 1) * t.stride[i]
		}
	}
	rc, err := t.st.record.Open()
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	defer rc.Close()
	if _, err := io.CopyN(io.Discard, rc, int64(t.offset*es)); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	raw := make([]byte, span*es)
	if _, err := io.ReadFull(rc, raw); err != nil {
		return nil, fmt.Errorf("tensor %s: reading %d bytes: %w", t.Name, len(raw), err)
	}
	out := make([]float32, n)
	if n == 0 {
		return out, nil
	}
	// Walk the view in row-major order (contiguous tensors take the fast path).
	contiguous := true
	want := 1
	for i := len(t.Shape) - 1; i >= 0; i-- {
		if t.Shape[i] != 1 && t.stride[i] != want {
			contiguous = false
		}
		want *= t.Shape[i]
	}
	if contiguous {
		for i := range out {
			out[i] = decode(raw[i*es:])
		}
		return out, nil
	}
	idx := make([]int, len(t.Shape))
	for i := range out {
		pos := 0
		for d, v := range idx {
			pos += v * t.stride[d]
		}
		out[i] = decode(raw[pos*es:])
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

// halfToFloat32 widens an IEEE 754 binary16 value exactly.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // zero
		return math.Float32frombits(sign)
	}
	// subnormal: value = mant * 2^-24
	f := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		f = -f
	}
	return f
}
