package rawjpeg

import (
	"errors"
	"testing"
)

// header returns SOI and a frame header (marker sof) for a w x h image of nc components at
// precision p, followed by tail.
func header(sof byte, p, w, h, nc int, tail ...byte) []byte {
	b := []byte{0xff, 0xd8, 0xff, sof, 0, byte(8 + 3*nc), byte(p), byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(nc)}
	for k := 0; k < nc; k++ {
		b = append(b, byte(k+1), 0x11, 0)
	}
	return append(b, tail...)
}

// TestRefusals: what is refused, and as what, before any sample is allocated.
func TestRefusals(t *testing.T) {
	eoi := []byte{0xff, 0xd9}
	for name, c := range map[string]struct {
		data []byte
		max  int64
		want error
	}{
		"no SOI":            {[]byte{0x89, 'P', 'N', 'G'}, 0, ErrCorrupt},
		"empty":             {nil, 0, ErrCorrupt},
		"bomb lossless":     {header(0xc3, 16, 65535, 65535, 1, eoi...), 0, ErrCorrupt},
		"bomb DCT":          {header(0xc0, 8, 65535, 65535, 3, eoi...), 0, ErrCorrupt},
		"pixel limit":       {header(0xc3, 16, 300, 300, 1, eoi...), 1000, ErrTooLarge},
		"progressive":       {header(0xc2, 8, 8, 8, 1, eoi...), 0, ErrUnsupported},
		"arithmetic":        {header(0xc9, 8, 8, 8, 1, eoi...), 0, ErrUnsupported},
		"hierarchical":      {header(0xc5, 8, 8, 8, 1, eoi...), 0, ErrUnsupported},
		"DNL height":        {header(0xc3, 16, 8, 0, 1, eoi...), 0, ErrUnsupported},
		"16-bit DCT":        {header(0xc1, 16, 8, 8, 1, eoi...), 0, ErrCorrupt},
		"1-bit lossless":    {header(0xc3, 1, 8, 8, 1, eoi...), 0, ErrCorrupt},
		"no scan":           {header(0xc3, 8, 8, 8, 1, eoi...), 0, ErrCorrupt},
		"five components":   {header(0xc3, 8, 8, 8, 5, eoi...), 0, ErrUnsupported},
		"segment past end":  {[]byte{0xff, 0xd8, 0xff, 0xc4, 0x40, 0}, 0, ErrCorrupt},
		"scan before frame": {[]byte{0xff, 0xd8, 0xff, 0xda, 0, 8, 1, 1, 0, 1, 0, 0, 0xff, 0xd9}, 0, ErrCorrupt},
	} {
		if _, err := Decode(c.data, c.max); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
}

// TestDecodeHeader: the frame's geometry and sampling up to the first scan,
// no samples; a progressive file is ErrProgressive (and ErrUnsupported).
func TestDecodeHeader(t *testing.T) {
	sos := []byte{0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0}
	f, err := DecodeHeader(header(0xc0, 8, 8, 6, 3, sos...), 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.Width != 8 || f.Height != 6 || f.Precision != 8 || len(f.Components) != 3 || f.Components[1].Width != 8 || f.Components[1].Samples != nil {
		t.Errorf("header: %+v", f)
	}
	_, err = DecodeHeader(header(0xc2, 8, 8, 8, 1, sos...), 0)
	if !errors.Is(err, ErrProgressive) || !errors.Is(err, ErrUnsupported) {
		t.Errorf("progressive: %v", err)
	}
	if _, err := DecodeHeader(header(0xc0, 8, 65535, 65535, 3, sos...), 1000); !errors.Is(err, ErrTooLarge) {
		t.Errorf("pixel limit: %v", err)
	}
}
