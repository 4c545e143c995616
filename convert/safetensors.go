package convert

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// maxSafetensorsHeader bounds the JSON header a safetensors file may declare.
const maxSafetensorsHeader = 100 << 20

// readSafetensors lists the tensors of a .safetensors file: an 8-byte
// little-endian header length, a JSON header, then the raw data.
func readSafetensors(file string) ([]*tensor, error) {
	f, err := fileio.OpenRegular(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var n uint64
	if err := binary.Read(f, binary.LittleEndian, &n); err != nil {
		return nil, fmt.Errorf("%s: header length: %w", file, err)
	}
	if n > maxSafetensorsHeader || int64(n) > fi.Size()-8 {
		return nil, fmt.Errorf("%s: header length %d does not fit the %d-byte file", file, n, fi.Size())
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return nil, fmt.Errorf("%s: header: %w", file, err)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &entries); err != nil {
		return nil, fmt.Errorf("%s: header: %w", file, err)
	}
	dataStart := 8 + int64(n)
	dataLen := fi.Size() - dataStart

	names := make([]string, 0, len(entries))
	for k := range entries {
		if k != "__metadata__" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out []*tensor
	for _, name := range names {
		var m struct {
			Dtype   string   `json:"dtype"`
			Shape   []uint64 `json:"shape"`
			Offsets []int64  `json:"data_offsets"`
		}
		if err := json.Unmarshal(entries[name], &m); err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", file, name, err)
		}
		esize := dtypeSize(m.Dtype)
		if esize == 0 {
			return nil, fmt.Errorf("%s: tensor %s has unsupported dtype %q (want F32, F16 or BF16)", file, name, m.Dtype)
		}
		if len(m.Offsets) != 2 || m.Offsets[0] < 0 || m.Offsets[1] < m.Offsets[0] || m.Offsets[1] > dataLen {
			return nil, fmt.Errorf("%s: tensor %s: data offsets %v outside the %d data bytes", file, name, m.Offsets, dataLen)
		}
		if len(m.Shape) == 0 {
			return nil, fmt.Errorf("%s: tensor %s is a scalar", file, name)
		}
		size := m.Offsets[1] - m.Offsets[0]
		if want := int64(elements(m.Shape)) * esize; size != want {
			return nil, fmt.Errorf("%s: tensor %s: %d data bytes, shape %v %s needs %d", file, name, size, m.Shape, m.Dtype, want)
		}
		off := dataStart + m.Offsets[0]
		out = append(out, &tensor{
			srcName: name,
			shape:   m.Shape,
			dtype:   m.Dtype,
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
