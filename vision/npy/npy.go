// Package npy reads and writes NumPy .npy files of float32 values
// (little-endian '<f4', C order), the format of `xraygpt embed -o OUT.npy`
// and of the vision package's PyTorch golden files.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// ErrFormat means the bytes are not a supported .npy file.
var ErrFormat = errors.New("npy: unsupported or malformed file")

// MaxElements bounds the arrays Read accepts (1<<31 float32 values, 8 GiB).
const MaxElements = 1 << 31

var magic = []byte("\x93NUMPY")

// Write writes data with the given shape as a version 1.0 .npy file.
func Write(w io.Writer, data []float32, shape []int) error {
	n := 1
	dims := make([]string, len(shape))
	for i, d := range shape {
		if d < 0 {
			return fmt.Errorf("npy: negative dimension in shape %v", shape)
		}
		n *= d
		dims[i] = strconv.Itoa(d)
	}
	if n != len(data) {
		return fmt.Errorf("npy: shape %v holds %d values, data has %d", shape, n, len(data))
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", tuple)
	// magic(6) + version(2) + length(2) + header + padding + '\n' is a multiple of 64
	total := 10 + len(header) + 1
	pad := (64 - total%64) % 64
	header += strings.Repeat(" ", pad) + "\n"
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("npy: header too long for shape %v", shape)
	}
	bw := bufio.NewWriter(w)
	bw.Write(magic)
	bw.Write([]byte{1, 0})
	binary.Write(bw, binary.LittleEndian, uint16(len(header)))
	bw.WriteString(header)
	var b [4]byte
	for _, v := range data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		bw.Write(b[:])
	}
	return bw.Flush()
}

// WriteFile writes a .npy file through a temporary file renamed into place,
// with mode 0644 less the umask.
func WriteFile(path string, data []float32, shape []int) error {
	if err := fileio.WriteAtomic(path, 0o644, func(w io.Writer) error { return Write(w, data, shape) }); err != nil {
		return fmt.Errorf("npy: write %s: %w", path, err)
	}
	return nil
}

var (
	descrRe   = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	fortranRe = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	shapeRe   = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// Read reads a float32 .npy file ('<f4', C order, versions 1 to 3).
func Read(r io.Reader) (data []float32, shape []int, err error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, nil, fmt.Errorf("%w: short preamble: %v", ErrFormat, err)
	}
	if !bytes.Equal(pre[:6], magic) {
		return nil, nil, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	var hlen int
	switch pre[6] {
	case 1:
		var l uint16
		if err := binary.Read(r, binary.LittleEndian, &l); err != nil {
			return nil, nil, fmt.Errorf("%w: header length: %v", ErrFormat, err)
		}
		hlen = int(l)
	case 2, 3:
		var l uint32
		if err := binary.Read(r, binary.LittleEndian, &l); err != nil {
			return nil, nil, fmt.Errorf("%w: header length: %v", ErrFormat, err)
		}
		if l > 1<<20 {
			return nil, nil, fmt.Errorf("%w: header of %d bytes", ErrFormat, l)
		}
		hlen = int(l)
	default:
		return nil, nil, fmt.Errorf("%w: version %d.%d", ErrFormat, pre[6], pre[7])
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	h := string(hb)
	d := descrRe.FindStringSubmatch(h)
	if d == nil || (d[1] != "<f4" && d[1] != "f4") {
		return nil, nil, fmt.Errorf("%w: dtype %q (want '<f4')", ErrFormat, d)
	}
	if f := fortranRe.FindStringSubmatch(h); f == nil || f[1] != "False" {
		return nil, nil, fmt.Errorf("%w: Fortran order or missing fortran_order", ErrFormat)
	}
	s := shapeRe.FindStringSubmatch(h)
	if s == nil {
		return nil, nil, fmt.Errorf("%w: no shape in header", ErrFormat)
	}
	n := 1
	for _, f := range strings.Split(s[1], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 0 || v > MaxElements {
			return nil, nil, fmt.Errorf("%w: shape entry %q", ErrFormat, f)
		}
		shape = append(shape, v)
		if v != 0 && n > MaxElements/v {
			return nil, nil, fmt.Errorf("%w: shape %s too large", ErrFormat, s[1])
		}
		n *= v
	}
	// Read what is there (bounded by the shape) instead of trusting the header.
	raw, err := io.ReadAll(io.LimitReader(r, int64(n)*4))
	if err != nil {
		return nil, nil, fmt.Errorf("npy: read data: %w", err)
	}
	if len(raw) != n*4 {
		return nil, nil, fmt.Errorf("%w: shape %v needs %d bytes of data, file has %d", ErrFormat, shape, n*4, len(raw))
	}
	data = make([]float32, n)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return data, shape, nil
}

// ReadFile reads a float32 .npy file.
func ReadFile(path string) ([]float32, []int, error) {
	f, err := fileio.OpenRegular(path)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	data, shape, err := Read(bufio.NewReader(f))
	if err != nil {
		return nil, nil, fmt.Errorf("npy: read %s: %w", path, err)
	}
	return data, shape, nil
}
