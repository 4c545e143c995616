package jpegbits

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// T.81 Table K.3: the example luminance DC table (codes 00, 010..110,
// 1110, ..., 111111110 for the symbols 0..11).
var (
	dcCounts = []byte{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}
	dcVals   = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
)

func TestReader(t *testing.T) {
	var h Huffman
	if err := h.Build(dcCounts, dcVals); err != nil || !h.Defined {
		t.Fatal(err)
	}
	// 00 110 101 111111110 11110, padded with ones: 0x35 0xFF 0x7B. The
	// 0xFF is stuffed (0xFF 0x00); fill bytes, then RST0, then one byte of
	// the next interval (0b1100_0000), then the end of the data.
	data := []byte{0x35, 0xFF, 0x00, 0x7B, 0xFF, 0xFF, 0xD0, 0xC0}
	r := NewReader(bytes.NewReader(data))
	for i, want := range []int{0, 5} {
		if got, err := r.Decode(&h); err != nil || got != want {
			t.Fatalf("symbol %d: %d, %v; want %d", i, got, err, want)
		}
	}
	if v := r.ReceiveExtend(3); v != 5 {
		t.Errorf("ReceiveExtend(3) of 101 = %d, want 5", v)
	}
	for i, want := range []int{11, 7} {
		if got, err := r.Decode(&h); err != nil || got != want {
			t.Fatalf("symbol %d: %d, %v; want %d", i+2, got, err, want)
		}
	}
	if r.Marker != 0xD0 || r.Ended {
		t.Fatalf("after the interval: marker %#x, ended %v; want the RST0 marker seen", r.Marker, r.Ended)
	}
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	if v := r.Bits(2); v != 3 {
		t.Errorf("first bits after the restart = %d, want 3", v)
	}
	if r.Bits(16); !r.Ended {
		t.Error("reading past the data did not set Ended")
	}
	if _, err := r.NextMarker(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("NextMarker at the end: %v", err)
	}
	// A negative difference: 0b010 under 3 bits is 2 - 7 = -5.
	r = NewReader(bytes.NewReader([]byte{0x40}))
	if v := r.ReceiveExtend(3); v != -5 {
		t.Errorf("ReceiveExtend(3) of 010 = %d, want -5", v)
	}
	// Restart on another marker is an error.
	r = NewReader(bytes.NewReader([]byte{0xFF, 0xD9}))
	if err := r.Restart(); err == nil {
		t.Error("Restart accepted EOI")
	}
}

func TestBuildRejects(t *testing.T) {
	var h Huffman
	over := make([]byte, 16)
	over[0] = 3 // three codes of one bit
	if err := h.Build(over, []byte{1, 2, 3}); err == nil {
		t.Error("an overfull table was accepted")
	}
	if err := h.Build(dcCounts, dcVals[:5]); err == nil {
		t.Error("fewer symbols than the counts was accepted")
	}
	// All-ones 16-bit string matches no code of the DC table.
	if err := h.Build(dcCounts, dcVals); err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader([]byte{0xFF, 0x00, 0xFF, 0x00}))
	if _, err := r.Decode(&h); !errors.Is(err, ErrBadCode) {
		t.Errorf("undecodable bits: %v", err)
	}
}

// FuzzReader decodes arbitrary bytes with a real table: it must stop, with
// Ended or a marker, and never panic.
func FuzzReader(f *testing.F) {
	f.Add([]byte{0x35, 0xFF, 0x00, 0x7B, 0xFF, 0xD0, 0xC0})
	f.Add([]byte{0xFF, 0xFF, 0xFF})
	f.Add([]byte{})
	var h Huffman
	if err := h.Build(dcCounts, dcVals); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for range 8*len(data) + 64 {
			s, err := r.Decode(&h)
			if err == nil && s > 0 {
				r.ReceiveExtend(s)
			}
			if r.Ended || r.Marker != 0 {
				return
			}
		}
		t.Fatalf("no end after %d symbols of %d bytes", 8*len(data)+64, len(data))
	})
}
