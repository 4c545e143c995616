// Package torchfile reads PyTorch zip checkpoints (torch.save) without Python.
//
// A checkpoint written by torch.save since PyTorch 1.6 is a zip archive
// holding a pickle (data.pkl) that describes the saved object, and one
// stored record per tensor storage. Read unpickles the description only;
// tensor bytes stay in the file until a caller asks for them, so listing a
// 13 GB shard costs a few kilobytes.
//
// The file is untrusted input: every length the pickle declares is checked
// against the bytes that hold it before anything is allocated, panics of
// the third-party unpickler become errors, and every tensor view is checked
// to lie inside its storage record, which must lie inside the file.
package torchfile

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

var (
	// ErrNotCheckpoint means the bytes are not a PyTorch zip checkpoint or
	// are damaged.
	ErrNotCheckpoint = errors.New("not a PyTorch zip checkpoint")
	// ErrNotContiguous means a tensor's elements are not stored densely in
	// row-major order, so its bytes cannot be read as one section.
	ErrNotContiguous = errors.New("tensor is not contiguous")
	// ErrDType means a tensor's element type cannot be converted as asked.
	ErrDType = errors.New("unsupported dtype")
)

// maxDepth bounds how deeply nested dicts are searched for tensors; deeper
// entries are ignored.
const maxDepth = 8

// Checkpoint is an open PyTorch checkpoint: the list of its tensors, with
// their data still in the file.
type Checkpoint struct {
	// Tensors lists every tensor in the pickle's order. Tensors in nested
	// dicts are named by their path of keys joined with "." (integer keys,
	// as in optimizer state, are written in decimal), so a training
	// checkpoint {"model": {"w": ...}} holds "model.w".
	Tensors []*Tensor

	name   string
	root   string // "model." or "state_dict." when the pickle has such a dict
	closer io.Closer
}

// Open opens the checkpoint file at path. Close it when its tensors have
// been read.
func Open(path string) (*Checkpoint, error) {
	f, err := fileio.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	c, err := Read(f, fi.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.closer = f
	return c, nil
}

// Read reads the checkpoint held in r (size bytes); name identifies it in
// errors. Tensor data is read from r later, when asked for, so r must stay
// readable while the tensors are used.
func Read(r io.ReaderAt, size int64, name string) (*Checkpoint, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint %s: %w: %s", name, ErrNotCheckpoint, fmt.Sprintf(format, args...))
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fail("%v (legacy torch.save files from PyTorch < 1.6 are not supported; re-save the file with a newer PyTorch or convert it to safetensors)", err)
	}
	records := make(map[string]*zip.File, len(zr.File))
	var pkl *zip.File
	for _, f := range zr.File {
		records[f.Name] = f
		dir, base := path.Split(f.Name)
		if base == "constants.pkl" {
			return nil, fail("TorchScript archives are not supported")
		}
		// torch.save writes "<archive>/data.pkl" and "<archive>/data/<key>".
		if base == "data.pkl" && strings.Count(dir, "/") == 1 && pkl == nil {
			pkl = f
		}
	}
	if pkl == nil {
		return nil, fail("no <archive>/data.pkl in the zip")
	}
	prefix := path.Dir(pkl.Name) + "/data/"

	if pkl.UncompressedSize64 > maxPickle {
		return nil, fail("%s is %d bytes, more than a checkpoint's index holds", pkl.Name, pkl.UncompressedSize64)
	}
	rc, err := pkl.Open()
	if err != nil {
		return nil, fail("%s: %v", pkl.Name, err)
	}
	pb, err := io.ReadAll(io.LimitReader(rc, maxPickle))
	rc.Close()
	if err != nil {
		return nil, fail("%s: %v", pkl.Name, err)
	}
	if err := checkPickle(pb); err != nil {
		return nil, fail("%s: %v", pkl.Name, err)
	}

	storages := map[string]*storageRecord{}
	storage := func(dtype DType, key string, elems int) (*storageRecord, error) {
		if s, ok := storages[key]; ok {
			return s, nil
		}
		rec, ok := records[prefix+key]
		if !ok {
			return nil, fmt.Errorf("storage %q: no record %s%s in the zip", key, prefix, key)
		}
		// torch.save stores records uncompressed; requiring that lets a
		// tensor be read in place and bounds every read by the file size.
		if rec.Method != zip.Store || rec.CompressedSize64 != rec.UncompressedSize64 {
			return nil, fmt.Errorf("storage %q: record %s is compressed (torch.save writes stored records)", key, rec.Name)
		}
		start, err := rec.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("storage %q: %v", key, err)
		}
		if start < 0 || start > size || rec.UncompressedSize64 > uint64(size-start) {
			return nil, fmt.Errorf("storage %q: record %s of %d bytes runs past the end of the file", key, rec.Name, rec.UncompressedSize64)
		}
		es := dtype.Size()
		if uint64(elems) > rec.UncompressedSize64/uint64(es) {
			return nil, fmt.Errorf("storage %q: record %s holds %d bytes, %d %s values need %d (truncated?)",
				key, rec.Name, rec.UncompressedSize64, elems, dtype, uint64(elems)*uint64(es))
		}
		s := &storageRecord{dtype: dtype, elems: elems, start: start, r: r}
		storages[key] = s
		return s, nil
	}
	obj, err := unpickle(pb, storage)
	if err != nil {
		return nil, fail("%s: %v", pkl.Name, err)
	}
	if !isDict(obj) {
		return nil, fail("the saved object is a %T, not a dict", obj)
	}
	c := &Checkpoint{name: name}
	for _, k := range []string{"model", "state_dict"} {
		if v, ok := dictGet(obj, k); ok && isDict(v) {
			c.root = k + "."
			break
		}
	}
	w := &walker{c: c, seen: map[string]bool{}, budget: len(pb)}
	if err := w.collect("", obj, 0); err != nil {
		return nil, fail("%v", err)
	}
	return c, nil
}

// walker collects the tensors of nested dicts into a checkpoint.
type walker struct {
	c    *Checkpoint
	seen map[string]bool
	// budget bounds the dict entries visited. A dict entry takes at least
	// a byte of pickle, so more entries than bytes means dicts shared many
	// times over (n levels of k references make k^n paths), which would
	// otherwise be walked for ever.
	budget int
}

// collect appends the tensors of dict d, recursively, named under prefix.
func (w *walker) collect(prefix string, d any, depth int) error {
	if depth >= maxDepth {
		return nil
	}
	var err error
	dictEach(d, func(k, v any) {
		if err != nil {
			return
		}
		if w.budget--; w.budget < 0 {
			err = errors.New("dicts are shared so often that their entries outnumber the pickle's bytes")
			return
		}
		var key string
		switch k := k.(type) {
		case string:
			key = k
		case int:
			key = strconv.Itoa(k)
		default:
			return
		}
		name := prefix + key
		switch v := v.(type) {
		case *Tensor:
			if w.seen[name] {
				err = fmt.Errorf("tensor name %s occurs twice", name)
				return
			}
			w.seen[name] = true
			t := *v
			t.Name = name
			w.c.Tensors = append(w.c.Tensors, &t)
		default:
			if isDict(v) {
				err = w.collect(name+".", v, depth+1)
			}
		}
	})
	return err
}

// StateDict returns the model's tensors by name. For a training checkpoint
// whose top-level dict has a "model" (or else "state_dict") entry that is a
// dict, as LAVIS and MiniGPT-4 save, those are that entry's tensors named
// without the prefix; otherwise every tensor. The map is new on each call;
// its tensors are copies.
func (c *Checkpoint) StateDict() map[string]*Tensor {
	out := make(map[string]*Tensor, len(c.Tensors))
	for _, t := range c.Tensors {
		if name, ok := strings.CutPrefix(t.Name, c.root); ok {
			u := *t
			u.Name = name
			out[name] = &u
		}
	}
	return out
}

// Name returns the name the checkpoint was opened with.
func (c *Checkpoint) Name() string { return c.name }

// Close closes the file Open opened; it is a no-op for Read's checkpoints
// and on later calls.
func (c *Checkpoint) Close() error {
	if c.closer == nil {
		return nil
	}
	err := c.closer.Close()
	c.closer = nil
	return err
}

func isDict(v any) bool {
	switch v.(type) {
	case *types.Dict, *types.OrderedDict:
		return true
	}
	return false
}

func dictGet(d any, key string) (any, bool) {
	var v any
	var found bool
	dictEach(d, func(k, val any) {
		if s, ok := k.(string); ok && s == key {
			v, found = val, true
		}
	})
	return v, found
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
