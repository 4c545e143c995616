package torchfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// maxPickle bounds the size of a checkpoint's data.pkl (the tensor index;
// a 7B LLaMA's is about 30 KB).
const maxPickle = 64 << 20

// checkPickle walks the opcodes of a pickle and checks every length it
// declares fits in the bytes that follow, so that the unpickler never
// allocates more than the data holds.
func checkPickle(b []byte) error {
	i := 0
	need := func(n uint64) error {
		if n > uint64(len(b)-i) {
			return fmt.Errorf("pickle: opcode at byte %d needs %d bytes, %d left", i, n, len(b)-i)
		}
		return nil
	}
	length := func(size int) (uint64, error) {
		if err := need(uint64(size)); err != nil {
			return 0, err
		}
		var n uint64
		switch size {
		case 1:
			n = uint64(b[i])
		case 4:
			n = uint64(binary.LittleEndian.Uint32(b[i:]))
		case 8:
			n = binary.LittleEndian.Uint64(b[i:])
		}
		i += size
		return n, need(n)
	}
	line := func() error {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return fmt.Errorf("pickle: unterminated line at byte %d", i)
		}
		i += j + 1
		return nil
	}
	for i < len(b) {
		op := b[i]
		i++
		var err error
		switch op {
		case '.': // STOP
			return nil
		case 0x80, 'K', 'q', 'h', 0x82: // PROTO BININT1 BINPUT BINGET EXT1
			err = need(1)
			i++
		case 'M', 0x83: // BININT2 EXT2
			err = need(2)
			i += 2
		case 'J', 'r', 'j', 0x84: // BININT LONG_BINPUT LONG_BINGET EXT4
			err = need(4)
			i += 4
		case 'G': // BINFLOAT
			err = need(8)
			i += 8
		case 0x8a, 'U', 0x8c, 'C': // LONG1 SHORT_BINSTRING SHORT_BINUNICODE SHORT_BINBYTES
			var n uint64
			n, err = length(1)
			i += int(n)
		case 0x8b, 'T', 'X', 'B': // LONG4 BINSTRING BINUNICODE BINBYTES
			var n uint64
			n, err = length(4)
			i += int(n)
		case 0x8d, 0x8e, 0x96: // BINUNICODE8 BINBYTES8 BYTEARRAY8
			var n uint64
			n, err = length(8)
			i += int(n)
		case 0x95: // FRAME: the frame's bytes follow and are walked as opcodes
			_, err = length(8)
		case 'I', 'L', 'F', 'S', 'V', 'g', 'p', 'P': // newline-terminated argument
			err = line()
		case 'c', 'i': // GLOBAL, INST: module and name lines
			if err = line(); err == nil {
				err = line()
			}
		case '(', '0', '1', '2', 'N', 0x88, 0x89, ']', 'a', 'e', 'l', ')', 't', 0x85, 0x86, 0x87,
			'}', 'd', 's', 'u', 0x8f, 0x90, 0x91, 'b', 'R', 0x81, 0x92, 0x93, 0x94, 'Q', 'o', 0x97, 0x98:
		default:
			return fmt.Errorf("pickle: unknown opcode 0x%02x at byte %d", op, i-1)
		}
		if err != nil {
			return err
		}
	}
	return errors.New("pickle: no STOP opcode")
}

// unpickle loads a checked data.pkl, turning a panic of the third-party
// unpickler on malformed input into an error. Storages resolve through
// storage, which validates them against the archive.
func unpickle(pb []byte, storage func(dtype DType, key string, elems int) (*storageRecord, error)) (obj any, err error) {
	defer func() {
		if r := recover(); r != nil {
			obj, err = nil, fmt.Errorf("malformed pickle: %v", r)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(pb))
	u.FindClass = findClass
	u.PersistentLoad = func(id any) (any, error) {
		// torch.save writes ('storage', storage class, key, location, numel).
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 5 {
			return nil, fmt.Errorf("persistent id is a %T, want a ('storage', class, key, location, numel) tuple", id)
		}
		kind, _ := t.Get(0).(string)
		class, ok1 := t.Get(1).(storageClass)
		key, ok2 := t.Get(2).(string)
		n, ok3 := t.Get(4).(int)
		if kind != "storage" || !ok1 || !ok2 || !ok3 || n < 0 {
			return nil, errors.New("persistent id is not a typed storage")
		}
		return storage(DType(class), key, n)
	}
	return u.Load()
}

// storageClass stands for torch.FloatStorage and friends; its value is the
// element type.
type storageClass DType

// Call makes a storage class callable, as pickle expects of globals; a
// checkpoint never calls one.
func (s storageClass) Call(...any) (any, error) {
	return nil, fmt.Errorf("storage class %s called", string(s))
}

var storageClasses = map[string]DType{
	"FloatStorage":    Float32,
	"HalfStorage":     Float16,
	"BFloat16Storage": BFloat16,
	"DoubleStorage":   Float64,
	"LongStorage":     Int64,
	"IntStorage":      Int32,
	"ShortStorage":    Int16,
	"CharStorage":     Int8,
	"ByteStorage":     Uint8,
	"BoolStorage":     Bool,
}

// findClass resolves the pickle's globals: the tensor rebuilders and the
// storage classes. Anything else (optimizer state, configs) stays an opaque
// object.
func findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensor{}, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		return rebuildParameter{}, nil
	}
	if dt, ok := storageClasses[name]; ok && module == "torch" {
		return storageClass(dt), nil
	}
	return types.NewGenericClass(module, name), nil
}

// Bounds on a tensor view, far above any real checkpoint, that keep the
// index arithmetic below from overflowing.
const (
	maxDim  = 1 << 40
	maxRank = 64
)

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, storage_offset,
// size, stride, requires_grad, backward_hooks[, metadata]).
type rebuildTensor struct{}

func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %d arguments, want at least 4", len(args))
	}
	st, ok := args[0].(*storageRecord)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage is a %T", args[0])
	}
	off, ok := args[1].(int)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage offset is a %T", args[1])
	}
	shape, err := intTuple(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size: %w", err)
	}
	stride, err := intTuple(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: stride: %w", err)
	}
	if err := checkView(off, shape, stride, st.elems); err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %w", err)
	}
	return &Tensor{DType: st.dtype, Shape: shape, Stride: stride, Offset: off, storage: st}, nil
}

// checkView checks that every element a view reaches lies in its storage
// of elems elements and that the view holds no more elements than the
// storage (no broadcast views), so that reading a tensor never allocates
// more than the file holds. The bounds keep the arithmetic from overflowing.
func checkView(off int, shape, stride []int, elems int) error {
	if len(shape) != len(stride) {
		return fmt.Errorf("size %v and stride %v differ in rank", shape, stride)
	}
	if off < 0 || off > maxDim {
		return fmt.Errorf("storage offset %d out of range", off)
	}
	last, n := off, 1
	for i, d := range shape {
		if d < 0 || stride[i] < 0 || d > maxDim || stride[i] > maxDim {
			return fmt.Errorf("size %v, stride %v out of range", shape, stride)
		}
		if d == 0 {
			return nil
		}
		if n > maxDim/d || (stride[i] > 0 && d-1 > (maxDim-last)/stride[i]) {
			return fmt.Errorf("size %v too large", shape)
		}
		last += (d - 1) * stride[i]
		n *= d
	}
	if last >= elems || n > elems {
		return fmt.Errorf("view %v (stride %v, offset %d) exceeds its storage of %d elements", shape, stride, off, elems)
	}
	return nil
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad,
// hooks[, state]): a parameter is its tensor.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("_rebuild_parameter: no arguments")
	}
	if t, ok := args[0].(*Tensor); ok {
		return t, nil
	}
	return nil, fmt.Errorf("_rebuild_parameter: data is a %T, not a tensor", args[0])
}

// intTuple reads a tuple of ints such as a size or stride.
func intTuple(v any) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("got a %T, want a tuple", v)
	}
	if t.Len() > maxRank {
		return nil, fmt.Errorf("rank %d, more than %d", t.Len(), maxRank)
	}
	out := make([]int, t.Len())
	for i := range out {
		n, ok := t.Get(i).(int)
		if !ok {
			return nil, fmt.Errorf("element %d is a %T, want an int", i, t.Get(i))
		}
		out[i] = n
	}
	return out, nil
}
