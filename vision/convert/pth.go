package convert

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/xraygpt-go/xraygpt/torchfile"
)

var (
	// ErrNotCheckpoint means the file is not a PyTorch zip checkpoint.
	ErrNotCheckpoint = torchfile.ErrNotCheckpoint
	// ErrMissingKey means a tensor the model needs is absent from a checkpoint.
	ErrMissingKey = errors.New("missing key")
	// ErrShape means a checkpoint tensor has an unexpected shape.
	ErrShape = errors.New("wrong shape")
)

// Checkpoint is a PyTorch checkpoint saved by torch.save, read by package
// torchfile. Tensor data is read lazily from the file, one tensor at a
// time, so converting a multi-gigabyte file needs little memory.
type Checkpoint struct {
	// Tensors maps state-dict keys to tensors: those of the checkpoint's
	// "model" (or "state_dict") dict when it has one, as LAVIS's training
	// checkpoints do, otherwise all of them, with nested dicts' keys joined
	// by ".".
	Tensors map[string]*Tensor
	name    string
	file    *torchfile.Checkpoint
}

// Tensor is one tensor of a checkpoint.
type Tensor = torchfile.Tensor

// OpenCheckpoint opens a PyTorch checkpoint file.
func OpenCheckpoint(filename string) (*Checkpoint, error) {
	f, err := torchfile.Open(filename)
	if err != nil {
		return nil, err
	}
	return &Checkpoint{Tensors: f.StateDict(), name: filename, file: f}, nil
}

// Close closes the underlying file.
func (c *Checkpoint) Close() error { return c.file.Close() }

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
	if shape != nil && !slices.Equal(t.Shape, shape) {
		return nil, fmt.Errorf("checkpoint %s: %w: %s has shape %v, want %v", c.name, ErrShape, name, t.Shape, shape)
	}
	v, err := t.Float32()
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", c.name, err)
	}
	return v, nil
}
