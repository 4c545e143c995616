package convert

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// torchStorage is what a PyTorch pickle's persistent id resolves to: one
// storage record of the zip archive, not yet read.
type torchStorage struct {
	dtype string // "F32", "F16" or "BF16"
	key   string
}

// torchStorageClass stands for torch.FloatStorage and friends in the pickle.
type torchStorageClass struct{ dtype string }

// torchTensor is a tensor reference rebuilt from the pickle:
// a view (offset, shape, stride) into a storage record.
type torchTensor struct {
	storage *torchStorage
	offset  int64 // in elements
	shape   []uint64
	stride  []int64
}

type rebuildTensor struct{}

// Call implements torch._utils._rebuild_tensor_v2(storage, storage_offset,
// size, stride, requires_grad, backward_hooks[, metadata]).
func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %d arguments, want at least 4", len(args))
	}
	st, ok := args[0].(*torchStorage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage is %T", args[0])
	}
	off, ok := args[1].(int)
	if !ok || off < 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: bad storage offset %v", args[1])
	}
	size, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size: %w", err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: stride: %w", err)
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size %v and stride %v differ in rank", size, stride)
	}
	t := &torchTensor{storage: st, offset: int64(off), stride: stride}
	for _, d := range size {
		if d < 0 {
			return nil, fmt.Errorf("_rebuild_tensor_v2: negative size %v", size)
		}
		t.shape = append(t.shape, uint64(d))
	}
	return t, nil
}

type rebuildParameter struct{}

// Call implements torch._utils._rebuild_parameter(data, requires_grad, hooks).
func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("_rebuild_parameter: no arguments")
	}
	return args[0], nil
}

func intTuple(v any) ([]int64, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("got %T, want a tuple", v)
	}
	out := make([]int64, t.Len())
	for i := range out {
		n, ok := t.Get(i).(int)
		if !ok {
			return nil, fmt.Errorf("element %d is %T, want int", i, t.Get(i))
		}
		out[i] = int64(n)
	}
	return out, nil
}

func torchFindClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensor{}, nil
	case "torch._utils._rebuild_parameter":
		return rebuildParameter{}, nil
	case "torch.FloatStorage":
		return &torchStorageClass{"F32"}, nil
	case "torch.HalfStorage":
		return &torchStorageClass{"F16"}, nil
	case "torch.BFloat16Storage":
		return &torchStorageClass{"BF16"}, nil
	case "torch.DoubleStorage", "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage",
		"torch.CharStorage", "torch.ByteStorage", "torch.BoolStorage":
		return &torchStorageClass{strings.TrimSuffix(name, "Storage")}, nil
	}
	return nil, fmt.Errorf("unsupported pickled class %s.%s", module, name)
}

// readTorch lists the tensors of a PyTorch zip checkpoint (torch.save since
// PyTorch 1.6) without reading their data: each tensor's bytes are read
// from the archive when the tensor is written.
func readTorch(file string) ([]*tensor, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		if errors.Is(err, zip.ErrFormat) {
			return nil, fmt.Errorf("%s: not a PyTorch zip checkpoint (legacy torch.save files from PyTorch < 1.6 are not supported; re-save it or convert it to safetensors)", file)
		}
		return nil, err
	}
	defer zr.Close()

	records := make(map[string]*zip.File, len(zr.File))
	var pkl *zip.File
	for _, f := range zr.File {
		records[f.Name] = f
		if path.Base(f.Name) == "data.pkl" && (pkl == nil || len(f.Name) < len(pkl.Name)) {
			pkl = f
		}
	}
	if pkl == nil {
		return nil, fmt.Errorf("%s: no data.pkl in the archive", file)
	}
	prefix := path.Dir(pkl.Name)

	if pkl.UncompressedSize64 > maxPickle {
		return nil, fmt.Errorf("%s: %s is %d bytes, more than a state dict index holds", file, pkl.Name, pkl.UncompressedSize64)
	}
	rc, err := pkl.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	pb, err := io.ReadAll(io.LimitReader(rc, maxPickle))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", file, pkl.Name, err)
	}
	if err := checkPickle(pb); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", file, pkl.Name, err)
	}
	obj, err := unpickle(pb)
	if err != nil {
		return nil, fmt.Errorf("%s: unpickle: %w", file, err)
	}
	return torchTensors(file, obj, records, prefix)
}

// unpickle loads a checked state-dict pickle, turning a panic of the
// unpickler on malformed input into an error.
func unpickle(pb []byte) (obj any, err error) {
	defer func() {
		if r := recover(); r != nil {
			obj, err = nil, fmt.Errorf("malformed pickle: %v", r)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(pb))
	u.FindClass = torchFindClass
	u.PersistentLoad = func(id any) (any, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 3 {
			return nil, fmt.Errorf("persistent id %v: want ('storage', class, key, ...)", id)
		}
		if s, _ := t.Get(0).(string); s != "storage" {
			return nil, fmt.Errorf("persistent id %v: want a storage", id)
		}
		class, ok := t.Get(1).(*torchStorageClass)
		if !ok {
			return nil, fmt.Errorf("persistent id %v: unknown storage class", id)
		}
		key, ok := t.Get(2).(string)
		if !ok {
			return nil, fmt.Errorf("persistent id %v: storage key is not a string", id)
		}
		return &torchStorage{dtype: class.dtype, key: key}, nil
	}
	return u.Load()
}

// torchTensors lists the tensors of an unpickled state dict.
func torchTensors(file string, obj any, records map[string]*zip.File, prefix string) ([]*tensor, error) {
	var names []string
	values := map[string]any{}
	switch d := obj.(type) {
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			k, ok := entry.Key.(string)
			if !ok {
				return nil, fmt.Errorf("%s: state dict key %v is not a string", file, entry.Key)
			}
			names = append(names, k)
			values[k] = entry.Value
		}
	case *types.Dict:
		for _, entry := range *d {
			k, ok := entry.Key.(string)
			if !ok {
				return nil, fmt.Errorf("%s: state dict key %v is not a string", file, entry.Key)
			}
			names = append(names, k)
			values[k] = entry.Value
		}
	default:
		return nil, fmt.Errorf("%s: top-level object is %T, want a state dict", file, obj)
	}

	var out []*tensor
	for _, name := range names {
		tt, ok := values[name].(*torchTensor)
		if !ok {
			return nil, fmt.Errorf("%s: %s is %T, not a tensor", file, name, values[name])
		}
		esize := dtypeSize(tt.storage.dtype)
		if esize == 0 {
			return nil, fmt.Errorf("%s: tensor %s has unsupported dtype %s (want float32, float16 or bfloat16)", file, name, tt.storage.dtype)
		}
		if !contiguous(tt.shape, tt.stride) {
			return nil, fmt.Errorf("%s: tensor %s is not contiguous (shape %v, stride %v)", file, name, tt.shape, tt.stride)
		}
		rec, ok := records[prefix+"/data/"+tt.storage.key]
		if !ok {
			return nil, fmt.Errorf("%s: tensor %s: storage record %s/data/%s missing", file, name, prefix, tt.storage.key)
		}
		n := elements(tt.shape)
		off := tt.offset * esize
		size := int64(n) * esize
		if off+size > int64(rec.UncompressedSize64) {
			return nil, fmt.Errorf("%s: tensor %s: bytes [%d,%d) outside its %d-byte storage", file, name, off, off+size, rec.UncompressedSize64)
		}
		open, err := zipSection(file, rec, off, size)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", file, name, err)
		}
		out = append(out, &tensor{
			srcName: name,
			shape:   tt.shape,
			dtype:   tt.storage.dtype,
			size:    size,
			open:    open,
		})
	}
	return out, nil
}

// zipSection opens the bytes [off, off+size) of a zip record. Stored
// (uncompressed) records, which torch.save writes, are read in place.
// rec must belong to an open zip reader.
func zipSection(file string, rec *zip.File, off, size int64) (func() (io.ReadCloser, error), error) {
	var start int64
	if rec.Method == zip.Store {
		var err error
		if start, err = rec.DataOffset(); err != nil {
			return nil, err
		}
	}
	name := rec.Name
	return func() (io.ReadCloser, error) {
		if rec.Method == zip.Store {
			f, err := os.Open(file)
			if err != nil {
				return nil, err
			}
			return readCloser{io.NewSectionReader(f, start+off, size), f}, nil
		}
		zr, err := zip.OpenReader(file)
		if err != nil {
			return nil, err
		}
		var target *zip.File
		for _, f := range zr.File {
			if f.Name == name {
				target = f
			}
		}
		if target == nil {
			zr.Close()
			return nil, fmt.Errorf("zip record %s vanished", name)
		}
		rc, err := target.Open()
		if err != nil {
			zr.Close()
			return nil, err
		}
		if _, err := io.CopyN(io.Discard, rc, off); err != nil {
			rc.Close()
			zr.Close()
			return nil, err
		}
		return readCloser{io.LimitReader(rc, size), closers{rc, zr}}, nil
	}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

type closers []io.Closer

func (cs closers) Close() error {
	var err error
	for _, c := range cs {
		err = errors.Join(err, c.Close())
	}
	return err
}

func contiguous(shape []uint64, stride []int64) bool {
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= int64(shape[i])
	}
	return true
}

func elements(shape []uint64) uint64 {
	n := uint64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

func dtypeSize(dtype string) int64 {
	switch dtype {
	case "F32":
		return 4
	case "F16", "BF16":
		return 2
	}
	return 0
}
