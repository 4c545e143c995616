package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// handBuilt returns a GGUF v3 file assembled field by field from the
// specification (ggml's docs/gguf.md), independent of Writer: two keys and
// one 2x3 F32 tensor.
func handBuilt() []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	u32 := func(v uint32) { binary.Write(&b, le, v) }
	u64 := func(v uint64) { binary.Write(&b, le, v) }
	str := func(s string) { u64(uint64(len(s))); b.WriteString(s) }
	b.WriteString("GGUF")
	u32(3) // version
	u64(1) // tensors
	u64(3) // kvs
	str("general.architecture")
	u32(8) // string
	str("llama")
	str("llama.block_count")
	u32(4) // uint32
	u32(2)
	str("tokenizer.ggml.tokens")
	u32(9) // array
	u32(8) // of strings
	u64(2)
	str("<s>")
	str("▁the")
	str("w")
	u32(2) // n_dims
	u64(3)
	u64(2)
	u32(0) // F32
	u64(0) // offset
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	for i := 0; i < 6; i++ {
		binary.Write(&b, le, float32(i)+0.5)
	}
	return b.Bytes()
}

func TestParseHandBuilt(t *testing.T) {
	f, err := Parse(handBuilt())
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 {
		t.Errorf("version %d", f.Version)
	}
	if s, err := f.String("general.architecture"); err != nil || s != "llama" {
		t.Errorf("architecture %q, %v", s, err)
	}
	if n, err := f.Uint("llama.block_count"); err != nil || n != 2 {
		t.Errorf("block_count %d, %v", n, err)
	}
	if toks, err := f.Strings("tokenizer.ggml.tokens"); err != nil || !reflect.DeepEqual(toks, []string{"<s>", "▁the"}) {
		t.Errorf("tokens %q, %v", toks, err)
	}
	info, ok := f.Tensor("w")
	if !ok || !reflect.DeepEqual(info.Ne, []uint64{3, 2}) || info.Type != TypeF32 {
		t.Fatalf("tensor info %+v", info)
	}
	got, err := f.TensorFloat32("w")
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.5, 1.5, 2.5, 3.5, 4.5, 5.5}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("data %v, want %v", got, want)
	}
	if _, err := f.String("llama.block_count"); err == nil {
		t.Error("String on a uint32 key: no error")
	}
	if _, err := f.Uint("missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing key: %v", err)
	}
}

func TestWriterMatchesHandBuilt(t *testing.T) {
	w := NewWriter()
	must(t, w.AddKV("general.architecture", "llama"))
	must(t, w.AddKV("llama.block_count", uint32(2)))
	must(t, w.AddKV("tokenizer.ggml.tokens", []string{"<s>", "▁the"}))
	must(t, w.AddFloat32("w", []uint64{3, 2}, []float32{0.5, 1.5, 2.5, 3.5, 4.5, 5.5}, TypeF32))
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), handBuilt()) {
		t.Errorf("writer output differs from the hand-built file:\n got %x\nwant %x", b.Bytes(), handBuilt())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRoundTripAllValueTypes(t *testing.T) {
	values := map[string]any{
		"u8": uint8(7), "i8": int8(-7), "u16": uint16(65535), "i16": int16(-300),
		"u32": uint32(1 << 31), "i32": int32(-1 << 30), "u64": uint64(1 << 60), "i64": int64(-1 << 60),
		"f32": float32(1.25), "f64": math.Pi, "b": true, "s": "héllo\nworld",
		"au8": []uint8{1, 2}, "ai8": []int8{-1}, "au16": []uint16{3}, "ai16": []int16{-4},
		"au32": []uint32{5}, "ai32": []int32{-6, 7}, "au64": []uint64{8}, "ai64": []int64{-9},
		"af32": []float32{0.5, -2}, "af64": []float64{1e300}, "ab": []bool{true, false},
		"as": []string{"", "a", "ünï"}, "empty": []int32{},
	}
	w := NewWriter()
	w.Alignment = 64
	for _, k := range slices.Sorted(maps.Keys(values)) {
		must(t, w.AddKV(k, values[k]))
	}
	f16 := []float32{1, -2, 0.333, 65504, 6e-8, 0}
	must(t, w.AddFloat32("half", []uint64{3, 2}, f16, TypeF16))
	must(t, w.AddFloat32("bf", []uint64{6}, f16, TypeBF16))
	must(t, w.AddTensor("q8", TypeQ8_0, []uint64{64}, make([]byte, 68)))
	path := filepath.Join(t.TempDir(), "all.gguf")
	must(t, w.WriteFile(path))

	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Alignment != 64 {
		t.Errorf("alignment %d", f.Alignment)
	}
	for k, want := range values {
		got, ok := f.Value(k)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", k, got, want)
		}
	}
	half, err := f.TensorFloat32("half")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range f16 {
		if d := math.Abs(float64(half[i] - v)); d > math.Abs(float64(v))*1e-3+6e-8 {
			t.Errorf("f16[%d] = %g, want %g", i, half[i], v)
		}
	}
	bf, err := f.TensorFloat32("bf")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range f16[:4] {
		if d := math.Abs(float64(bf[i] - v)); d > math.Abs(float64(v))*1e-2 {
			t.Errorf("bf16[%d] = %g, want %g", i, bf[i], v)
		}
	}
	for _, ti := range f.Tensors {
		if (f.DataOffset+ti.Offset)%64 != 0 {
			t.Errorf("%s not aligned", ti.Name)
		}
	}
	if _, err := f.TensorFloat32("q8"); err == nil {
		t.Error("TensorFloat32 on Q8_0: no error")
	}
	must(t, f.Close())
	must(t, f.Close()) // idempotent
	if _, err := f.TensorBytes("half"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	good := handBuilt()
	for n := 0; n < len(good); n++ {
		if _, err := Parse(good[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
	if _, err := Parse([]byte("PK\x03\x04 not gguf")); !errors.Is(err, ErrNotGGUF) {
		t.Errorf("zip: %v", err)
	}
	huge := append([]byte(nil), good...)
	binary.LittleEndian.PutUint64(huge[16:], 1<<60) // kv count
	if _, err := Parse(huge); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge kv count: %v", err)
	}
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open(dir); err == nil {
		t.Error("directory: no error")
	}
	w := NewWriter()
	must(t, w.AddKV("k", "v"))
	if err := w.AddKV("k", "again"); err == nil {
		t.Error("duplicate key accepted")
	}
	if err := w.AddKV("bad", struct{}{}); err == nil {
		t.Error("struct value accepted")
	}
	if err := w.AddTensor("t", TypeF32, []uint64{4}, make([]byte, 15)); err == nil {
		t.Error("short tensor data accepted")
	}
	if err := w.AddTensor("q", TypeQ4_K, []uint64{100}, nil); err == nil {
		t.Error("Q4_K row of 100 accepted")
	}
}

func TestAddTensorFunc(t *testing.T) {
	w := NewWriter()
	must(t, w.AddTensorFunc("lazy", TypeF32, []uint64{2, 2}, func(out io.Writer) error {
		for _, v := range []float32{1, 2, 3, 4} {
			binary.Write(out, binary.LittleEndian, v)
		}
		return nil
	}))
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.TensorFloat32("lazy"); !reflect.DeepEqual(got, []float32{1, 2, 3, 4}) {
		t.Errorf("lazy tensor %v", got)
	}
	short := NewWriter()
	must(t, short.AddTensorFunc("short", TypeF32, []uint64{4}, func(out io.Writer) error {
		_, err := out.Write(make([]byte, 12))
		return err
	}))
	if _, err := short.WriteTo(io.Discard); err == nil || !strings.Contains(err.Error(), "wrote 12 bytes, want 16") {
		t.Errorf("short tensor: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(handBuilt())
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			return
		}
		for _, ti := range g.Tensors {
			b, err := g.TensorBytes(ti.Name)
			if err != nil {
				t.Fatalf("tensor %s listed but unreadable: %v", ti.Name, err)
			}
			if size, _ := ti.Size(); uint64(len(b)) != size {
				t.Fatalf("tensor %s: %d bytes, size %d", ti.Name, len(b), size)
			}
		}
	})
}
