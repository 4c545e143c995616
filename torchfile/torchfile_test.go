package torchfile

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// The checkpoints in testdata and golden.json, which records what PyTorch
// reports for each of their tensors, are written by
//
//	/usr/bin/python3 torchfile/testdata/gen.py
type golden struct {
	Name   string    `json:"name"`
	DType  DType     `json:"dtype"`
	Shape  []int     `json:"shape"`
	Stride []int     `json:"stride"`
	Offset int       `json:"offset"`
	Values []float64 `json:"values"`
}

func readGolden(t testing.TB) map[string][]golden {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g map[string][]golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func open(t *testing.T, name string) *Checkpoint {
	t.Helper()
	c, err := Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestGolden checks every tensor's metadata and values against PyTorch's.
func TestGolden(t *testing.T) {
	for file, want := range readGolden(t) {
		c := open(t, file)
		if len(c.Tensors) != len(want) {
			t.Fatalf("%s: %d tensors, want %d", file, len(c.Tensors), len(want))
		}
		for i, w := range want {
			got := c.Tensors[i]
			if got.Name != w.Name || got.DType != w.DType || !reflect.DeepEqual(got.Shape, w.Shape) ||
				!reflect.DeepEqual(got.Stride, w.Stride) || got.Offset != w.Offset {
				t.Errorf("%s tensor %d: %s %s %v stride %v offset %d, want %s %s %v stride %v offset %d", file, i,
					got.Name, got.DType, got.Shape, got.Stride, got.Offset, w.Name, w.DType, w.Shape, w.Stride, w.Offset)
				continue
			}
			vals, err := got.Float32()
			if !isFloat(w.DType) {
				if !errors.Is(err, ErrDType) {
					t.Errorf("%s %s: Float32 of a %s tensor: %v, want ErrDType", file, w.Name, w.DType, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s %s: %v", file, w.Name, err)
			}
			if len(vals) != len(w.Values) {
				t.Fatalf("%s %s: %d values, want %d", file, w.Name, len(vals), len(w.Values))
			}
			for j, v := range w.Values {
				if vals[j] != float32(v) {
					t.Errorf("%s %s[%d] = %v, want %v", file, w.Name, j, vals[j], float32(v))
					break
				}
			}
			// The raw section of a contiguous tensor decodes to the same values.
			sr, err := got.Reader()
			if !got.Contiguous() {
				if !errors.Is(err, ErrNotContiguous) {
					t.Errorf("%s %s: Reader of a strided view: %v, want ErrNotContiguous", file, w.Name, err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(sr)
			if err != nil || int64(len(raw)) != got.NBytes() {
				t.Fatalf("%s %s: read %d bytes (%v), want %d", file, w.Name, len(raw), err, got.NBytes())
			}
			dec := make([]float32, len(vals))
			if err := DecodeFloat32(dec, raw, got.DType); err != nil || !reflect.DeepEqual(dec, vals) {
				t.Errorf("%s %s: section decodes to %v (%v), want %v", file, w.Name, dec, err, vals)
			}
		}
	}
}

func TestStateDict(t *testing.T) {
	sd := open(t, "training.pt").StateDict()
	var keys []string
	for k, v := range sd {
		if v.Name != k {
			t.Errorf("StateDict()[%q].Name = %q", k, v.Name)
		}
		keys = append(keys, k)
	}
	if want := []string{"blocks.0.scale", "enc.bias", "enc.weight"}; !reflect.DeepEqual(sortedCopy(keys), want) {
		t.Errorf("training checkpoint state dict %v, want %v", sortedCopy(keys), want)
	}
	plain := open(t, "state_dict.pt")
	if sd := plain.StateDict(); len(sd) != len(plain.Tensors) || sd["w"] == nil {
		t.Errorf("plain state dict: %d of %d tensors", len(sd), len(plain.Tensors))
	}
}

func sortedCopy(s []string) []string {
	s = append([]string(nil), s...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// rangeRecorder is an io.ReaderAt that records the byte ranges read.
type rangeRecorder struct {
	r      io.ReaderAt
	mu     sync.Mutex
	ranges [][2]int64
}

func (rr *rangeRecorder) ReadAt(p []byte, off int64) (int, error) {
	rr.mu.Lock()
	rr.ranges = append(rr.ranges, [2]int64{off, off + int64(len(p))})
	rr.mu.Unlock()
	return rr.r.ReadAt(p, off)
}

// TestReadLeavesDataInFile checks that Read touches no tensor byte: a
// multi-gigabyte shard is listed without reading its weights. A padding
// record after the tensors keeps zip's search for its directory, which
// reads the last kilobyte, off them.
func TestReadLeavesDataInFile(t *testing.T) {
	good, err := os.ReadFile("testdata/state_dict.pt")
	if err != nil {
		t.Fatal(err)
	}
	b := rezip(t, good, zip.Store, "state_dict/zz_padding", strings.Repeat("x", 4096))
	rr := &rangeRecorder{r: bytes.NewReader(b)}
	c, err := Read(rr, int64(len(b)), "state_dict.pt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range c.Tensors {
		lo, hi := tt.DataOffset(), tt.DataOffset()+tt.NBytes()
		for _, r := range rr.ranges {
			if r[0] < hi && lo < r[1] {
				t.Errorf("Read read bytes [%d,%d) of tensor %s's data [%d,%d)", r[0], r[1], tt.Name, lo, hi)
			}
		}
	}
}

func TestBadCheckpoints(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile("testdata/state_dict.pt")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, tc := range map[string]struct{ path, msg string }{
		"legacy":     {"testdata/legacy.pt", "PyTorch < 1.6"},
		"shared":     {"testdata/shared.pt", "shared"},
		"text":       {write("notes.pt", []byte("this is not a checkpoint\n")), "zip"},
		"truncated":  {write("truncated.pt", good[:len(good)/2]), "zip"},
		"empty":      {write("empty.pt", nil), "zip"},
		"compressed": {write("deflated.pt", rezip(t, good, zip.Deflate)), "compressed"},
		"no pickle":  {write("nopkl.pt", zipOf(t, map[string]string{"a/data/0": "1234"})), "data.pkl"},
		"list":       {write("list.pt", zipOf(t, map[string]string{"a/data.pkl": "\x80\x02]q\x00."})), "not a dict"},
		"bad pickle": {write("bad.pt", zipOf(t, map[string]string{"a/data.pkl": "\x80\x02X\xff\xff\xff\x7fab."})), "needs"},
		"script":     {write("script.pt", zipOf(t, map[string]string{"a/data.pkl": "}.", "a/constants.pkl": "}."})), "TorchScript"},
	} {
		_, err := Open(tc.path)
		if !errors.Is(err, ErrNotCheckpoint) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want ErrNotCheckpoint naming the file and saying %q", name, err, tc.msg)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing.pt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// The last storage record loses its last byte, and the zip stays valid.
	if _, err := Read(bytes.NewReader(good[:len(good)-1]), int64(len(good)-1), "cut"); err == nil {
		t.Error("checkpoint missing its last byte accepted")
	}
}

// rezip rewrites a zip archive with every record compressed by method,
// then appends the extra records (name, body pairs).
func rezip(t *testing.T, b []byte, method uint16, extra ...string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	for i := 0; i+1 < len(extra); i += 2 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: extra[i], Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, extra[i+1])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipOf builds a stored zip archive of the given records.
func zipOf(t testing.TB, records map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range records {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCheckView(t *testing.T) {
	for _, tc := range []struct {
		off           int
		shape, stride []int
		elems         int
		ok            bool
	}{
		{0, []int{3, 4}, []int{4, 1}, 12, true},
		{4, []int{4}, []int{1}, 12, true},       // a row
		{0, []int{4, 3}, []int{1, 4}, 12, true}, // a transpose
		{0, nil, nil, 1, true},                  // a scalar
		{0, []int{0, 5}, []int{5, 1}, 0, true},  // empty
		{1, []int{3, 4}, []int{4, 1}, 12, false},
		{0, []int{3, 4}, []int{4, 1}, 11, false},
		{0, []int{1 << 30}, []int{0}, 1, false}, // a broadcast view holds more elements than its storage
		{0, []int{3}, []int{-1}, 12, false},
		{-1, []int{3}, []int{1}, 12, false},
		{0, []int{1 << 40, 1 << 40}, []int{1, 1}, 12, false},
		{0, []int{2, 2}, []int{1 << 40, 1 << 40}, 12, false},
		{0, []int{2}, []int{1, 1}, 12, false}, // rank mismatch
	} {
		err := checkView(tc.off, tc.shape, tc.stride, tc.elems)
		if (err == nil) != tc.ok {
			t.Errorf("view %v stride %v offset %d in %d elements: %v, want ok=%v", tc.shape, tc.stride, tc.off, tc.elems, err, tc.ok)
		}
	}
}

func TestDecodeFloat32(t *testing.T) {
	halves := map[uint16]float32{
		0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: 5.960464477539063e-08, 0x8000: 0, 0x3555: 0.333251953125,
		0x7c00: float32(math.Inf(1)),
	}
	for bits, want := range halves {
		got := make([]float32, 1)
		if err := DecodeFloat32(got, []byte{byte(bits), byte(bits >> 8)}, Float16); err != nil || got[0] != want {
			t.Errorf("float16 %#04x: %v (%v), want %v", bits, got[0], err, want)
		}
	}
	got := make([]float32, 2)
	if err := DecodeFloat32(got, []byte{0x80, 0x3f, 0x20, 0xc1}, BFloat16); err != nil || got[0] != 1 || got[1] != -10 {
		t.Errorf("bfloat16: %v (%v), want [1 -10]", got, err)
	}
	if err := DecodeFloat32(got, make([]byte, 6), Float16); err == nil {
		t.Error("6 bytes decoded as 2 float16 values")
	}
	if err := DecodeFloat32(got, make([]byte, 16), Int64); !errors.Is(err, ErrDType) {
		t.Errorf("int64: %v, want ErrDType", err)
	}
}

// FuzzRead feeds arbitrary bytes, seeded with the test checkpoints, to
// Read: it must return an error, or tensors whose data reads without
// panicking and whose sections hold exactly NBytes bytes.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"state_dict.pt", "training.pt", "legacy.pt", "shared.pt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(zipOf(f, map[string]string{"a/data.pkl": "\x80\x02}q\x00X\x01\x00\x00\x00wq\x01s."}))
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := Read(bytes.NewReader(in), int64(len(in)), "fuzz")
		if err != nil {
			return
		}
		c.StateDict()
		for _, tt := range c.Tensors {
			tt.Float32()
			sr, err := tt.Reader()
			if err != nil {
				continue
			}
			if n, err := io.Copy(io.Discard, sr); n != tt.NBytes() {
				t.Fatalf("%s: section holds %d bytes (%v), want %d", tt.Name, n, err, tt.NBytes())
			}
		}
	})
}
