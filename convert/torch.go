package convert

import (
	"fmt"
	"io"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/torchfile"
)

// readTorch lists the tensors of a PyTorch zip checkpoint (torch.save since
// PyTorch 1.6) without reading their data: each tensor's bytes are read
// from its section of the file when the tensor is written.
func readTorch(file string) ([]*tensor, error) {
	c, err := torchfile.Open(file)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var out []*tensor
	for _, tt := range c.Tensors {
		dtype := sourceDType(tt.DType)
		if dtype == "" {
			return nil, fmt.Errorf("%s: tensor %s has unsupported dtype %s (want float32, float16 or bfloat16)", file, tt.Name, tt.DType)
		}
		if !tt.Contiguous() {
			return nil, fmt.Errorf("%s: tensor %s: %w (shape %v, stride %v)", file, tt.Name, torchfile.ErrNotContiguous, tt.Shape, tt.Stride)
		}
		shape := make([]uint64, len(tt.Shape))
		for i, d := range tt.Shape {
			shape[i] = uint64(d)
		}
		off, size := tt.DataOffset(), tt.NBytes()
		out = append(out, &tensor{
			srcName: tt.Name,
			shape:   shape,
			dtype:   dtype,
			size:    size,
			open: func() (io.ReadCloser, error) {
				f, err := fileio.OpenRegular(file)
				if err != nil {
					return nil, err
				}
				return readCloser{io.NewSectionReader(f, off, size), f}, nil
			},
		})
	}
	return out, nil
}

// sourceDType names a PyTorch element type as this package's source types
// (safetensors' names) do, or returns "" for a type it does not convert.
func sourceDType(d torchfile.DType) string {
	for _, name := range []string{"F32", "F16", "BF16"} {
		if torchDType(name) == d {
			return name
		}
	}
	return ""
}
