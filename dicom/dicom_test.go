package dicom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fileBuilder writes small DICOM files element by element, little endian.
type fileBuilder struct {
	buf      bytes.Buffer
	explicit bool
}

// newFile starts a Part 10 file (preamble, "DICM", file meta) with transfer syntax ts.
func newFile(ts string, explicit bool) *fileBuilder {
	b := &fileBuilder{explicit: true}
	b.buf.Write(make([]byte, 128))
	b.buf.WriteString("DICM")
	b.str(0x00020010, "UI", ts)
	b.explicit = explicit
	return b
}

func (b *fileBuilder) header(tag dcmTag, vr string, n uint32) {
	le := binary.LittleEndian
	var h [12]byte
	le.PutUint16(h[0:], tag.group())
	le.PutUint16(h[2:], uint16(tag))
	switch {
	case !b.explicit || tag.group() == 0xfffe:
		le.PutUint32(h[4:], n)
		b.buf.Write(h[:8])
	case longVRs[vr]:
		copy(h[4:], vr)
		le.PutUint32(h[8:], n)
		b.buf.Write(h[:12])
	default:
		copy(h[4:], vr)
		le.PutUint16(h[6:], uint16(n))
		b.buf.Write(h[:8])
	}
}

func (b *fileBuilder) raw(tag dcmTag, vr string, v []byte) *fileBuilder {
	b.header(tag, vr, uint32(len(v)))
	b.buf.Write(v)
	return b
}

func (b *fileBuilder) str(tag dcmTag, vr, s string) *fileBuilder {
	if len(s)%2 == 1 {
		s += map[bool]string{true: "\x00", false: " "}[vr == "UI"]
	}
	return b.raw(tag, vr, []byte(s))
}

func (b *fileBuilder) us(tag dcmTag, v uint16) *fileBuilder {
	return b.raw(tag, "US", binary.LittleEndian.AppendUint16(nil, v))
}

// image writes the image pixel module for a rows x cols grey image of the given depth.
func (b *fileBuilder) image(rows, cols, bits, signed int, photometric string) *fileBuilder {
	b.us(tagSamplesPerPixel, 1).str(tagPhotometric, "CS", photometric)
	b.us(tagRows, uint16(rows)).us(tagColumns, uint16(cols))
	b.us(tagBitsAllocated, uint16(bits)).us(tagBitsStored, uint16(bits)).us(tagHighBit, uint16(bits-1))
	return b.us(tagPixelRepresent, uint16(signed))
}

func (b *fileBuilder) bytes() []byte { return b.buf.Bytes() }

func decodeBytes(data []byte, opts Options) (*Image, error) {
	return Decode(bytes.NewReader(data), int64(len(data)), opts)
}

func int16Pixels(vals ...int16) []byte {
	var out []byte
	for _, v := range vals {
		out = binary.LittleEndian.AppendUint16(out, uint16(v))
	}
	return out
}

func TestIsDICOM(t *testing.T) {
	withPreamble := append(make([]byte, 128), "DICM"...)
	meta := newFile(ExplicitVRLittleEndian, true).bytes()[132:]
	implicit := (&fileBuilder{}).str(tagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7").bytes()
	for _, tc := range []struct {
		name string
		head []byte
		want bool
	}{
		{"preamble", withPreamble, true},
		{"meta without preamble", meta, true},
		{"implicit data set", implicit, true},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), false},
		{"jpeg", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F'}, false},
		{"short", []byte{8, 0}, false},
		{"text", []byte("hello, world, this is text"), false},
		{"group 8 huge length", []byte{8, 0, 0x16, 0, 0, 0, 0, 1}, false},
	} {
		if got := IsDICOM(tc.head); got != tc.want {
			t.Errorf("%s: IsDICOM = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNotDICOM(t *testing.T) {
	var png bytes.Buffer
	png.WriteString("\x89PNG\r\n\x1a\n")
	png.Write(make([]byte, 200))
	if _, err := decodeBytes(png.Bytes(), Options{}); !errors.Is(err, ErrNotDICOM) {
		t.Fatalf("err = %v, want ErrNotDICOM", err)
	}
}

// TestHandWindow checks the linear VOI window on values computed by hand from PS3.3
// C.11.2.1.2.1 with c = 0, w = 101: x <= -50.5 is black, x > 49.5 white, else
// ((x + 0.5) / 100 + 0.5) * 65535.
func TestHandWindow(t *testing.T) {
	b := newFile(ExplicitVRLittleEndian, true).image(2, 2, 16, 1, "MONOCHROME2")
	b.str(tagWindowCenter, "DS", `0\9`).str(tagWindowWidth, "DS", `101\9`)
	b.raw(tagPixelData, "OW", int16Pixels(-100, 0, 25, 100))
	img, err := decodeBytes(b.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	g := img.Pixels.(*image.Gray16)
	want := []uint16{0, 33095, 49479, 65535} // 0.505*65535 = 33095.2, 0.755*65535 = 49478.9
	for i, w := range want {
		if got := g.Gray16At(i%2, i/2).Y; got != w {
			t.Errorf("pixel %d: %d, want %d", i, got, w)
		}
	}
	if img.Window != WindowVOI || img.WindowLow != -50.5 || img.WindowHigh != 49.5 {
		t.Errorf("window %v [%g, %g], want voi [-50.5, 49.5]", img.Window, img.WindowLow, img.WindowHigh)
	}
}

// TestHandRescaleMinMax: stored -2, 0, 2, 6 with slope 2 and intercept 10 rescale to 6, 10,
// 14, 22; min-max maps them to 0, 1/4, 1/2, 1 of 65535; MONOCHROME1 inverts.
func TestHandRescaleMinMax(t *testing.T) {
	b := newFile(ImplicitVRLittleEndian, false).image(1, 4, 16, 1, "MONOCHROME1")
	b.str(tagRescaleSlope, "DS", "2").str(tagRescaleIntercept, "DS", "10")
	b.raw(tagPixelData, "OW", int16Pixels(-2, 0, 2, 6))
	img, err := decodeBytes(b.bytes(), Options{Window: WindowMinMax})
	if err != nil {
		t.Fatal(err)
	}
	g := img.Pixels.(*image.Gray16)
	for i, w := range []uint16{65535, 65535 - 16384, 65535 - 32768, 0} { // round(65535/4) = 16384
		if got := g.Gray16At(i, 0).Y; got != w {
			t.Errorf("pixel %d: %d, want %d", i, got, w)
		}
	}
	if img.WindowLow != 6 || img.WindowHigh != 22 {
		t.Errorf("window [%g, %g], want [6, 22]", img.WindowLow, img.WindowHigh)
	}
}

func TestAttributes(t *testing.T) {
	img, err := DecodeFile("testdata/siim_chest_pa_jpeg_baseline.dcm", Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Values from dcmdump (see ../shared/data/dicom/SOURCE.md).
	if img.TransferSyntax != JPEGBaseline8Bit || img.Photometric != "MONOCHROME2" || img.Modality != "CR" ||
		img.BodyPart != "CHEST" || img.ViewPosition != "PA" || img.Rows != 1024 || img.Columns != 1024 ||
		img.BitsStored != 8 || img.PixelSpacing != [2]float64{0.168, 0.168} || len(img.Warnings) != 0 {
		t.Errorf("attributes: %+v", img)
	}
	img, err = DecodeFile("testdata/cr_small.dcm", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if img.TransferSyntax != ExplicitVRLittleEndian || img.Photometric != "MONOCHROME1" || img.BitsStored != 10 ||
		img.HighBit != 9 || img.Signed || img.Modality != "CR" || img.PixelSpacing != [2]float64{1.6, 1.6} {
		t.Errorf("attributes: %+v", img)
	}
}

// TestNoPreamble: the same file with its 128-byte preamble and "DICM" removed decodes the same.
func TestNoPreamble(t *testing.T) {
	data, err := os.ReadFile("testdata/explicit_u16_voi.dcm")
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodeBytes(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeBytes(data[132:], Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Pixels.(*image.Gray16).Pix, want.Pixels.(*image.Gray16).Pix) {
		t.Error("pixels differ without the preamble")
	}
}

func TestUnsupportedSyntax(t *testing.T) {
	for uid, name := range map[string]string{
		"1.2.840.10008.1.2.4.92":  "JPEG 2000 Part 2",
		"1.2.840.10008.1.2.4.100": "MPEG2",
		"1.2.840.10008.1.2.4.201": "High-Throughput JPEG 2000",
		"1.2.3.4":                 "unknown",
	} {
		b := newFile(uid, true).image(2, 2, 8, 0, "MONOCHROME2").raw(tagPixelData, "OB", make([]byte, 4))
		_, err := decodeBytes(b.bytes(), Options{})
		if !errors.Is(err, ErrUnsupportedTransferSyntax) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), uid) {
			t.Errorf("%s: err = %v, want ErrUnsupportedTransferSyntax naming %q and the UID", uid, err, name)
		}
	}
}

func TestUnsupportedPixels(t *testing.T) {
	for name, b := range map[string]*fileBuilder{
		"palette": newFile(ExplicitVRLittleEndian, true).image(2, 2, 8, 0, "PALETTE COLOR"),
		"32-bit":  newFile(ExplicitVRLittleEndian, true).image(2, 2, 32, 0, "MONOCHROME2"),
		"1-bit":   newFile(ExplicitVRLittleEndian, true).image(8, 8, 1, 0, "MONOCHROME2"),
	} {
		b.raw(tagPixelData, "OW", make([]byte, 16))
		if _, err := decodeBytes(b.bytes(), Options{}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", name, err)
		}
	}
	b := newFile(ExplicitVRLittleEndian, true).image(2, 2, 8, 0, "MONOCHROME2")
	b.raw(tagFloatPixelData, "OF", make([]byte, 16))
	if _, err := decodeBytes(b.bytes(), Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("float pixel data: err = %v, want ErrUnsupported", err)
	}
}

func TestNoPixelData(t *testing.T) {
	b := newFile(ExplicitVRLittleEndian, true).image(2, 2, 8, 0, "MONOCHROME2")
	if _, err := decodeBytes(b.bytes(), Options{}); !errors.Is(err, ErrNoPixelData) {
		t.Fatalf("err = %v, want ErrNoPixelData", err)
	}
}

// TestSequences: undefined-length SQ and UN (implicit VR inside, PS3.5 6.2.2) are skipped;
// nesting past the limit and unterminated sequences are errors, not hangs.
func TestSequences(t *testing.T) {
	item := func(b *fileBuilder, body func()) {
		b.header(tagItem, "", undefinedLength)
		body()
		b.header(tagItemDelimitation, "", 0)
	}
	b := newFile(ExplicitVRLittleEndian, true).image(1, 2, 8, 0, "MONOCHROME2")
	b.header(0x00081140, "SQ", undefinedLength)
	item(b, func() { b.str(0x00081150, "UI", "1.2.3") })
	b.raw(tagItem, "", []byte("ab")) // a defined-length item
	b.header(tagSequenceDelimition, "", 0)
	b.header(0x00091010, "UN", undefinedLength)
	item(b, func() {
		b.explicit = false
		b.str(0x00100010, "", "implicit inside UN")
		b.header(0x00081140, "", undefinedLength)
		item(b, func() { b.str(0x00100020, "", "id") })
		b.header(tagSequenceDelimition, "", 0)
		b.explicit = true
	})
	b.header(tagSequenceDelimition, "", 0)
	b.raw(tagPixelData, "OB", []byte{10, 20})
	img, err := decodeBytes(b.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g := img.Pixels.(*image.Gray); g.Pix[0] != 10 || g.Pix[1] != 20 {
		t.Errorf("pixels %v", g.Pix)
	}

	deep := newFile(ExplicitVRLittleEndian, true).image(1, 2, 8, 0, "MONOCHROME2")
	for i := 0; i <= maxDepth; i++ {
		deep.header(0x00081140, "SQ", undefinedLength)
		deep.header(tagItem, "", undefinedLength)
	}
	_, err = decodeBytes(deep.bytes(), Options{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "nested") {
		t.Errorf("deep nesting: err = %v", err)
	}

	open := newFile(ExplicitVRLittleEndian, true).image(1, 2, 8, 0, "MONOCHROME2")
	open.header(0x00081140, "SQ", undefinedLength)
	item(open, func() { open.str(0x00081150, "UI", "1.2.3") })
	if _, err := decodeBytes(open.bytes(), Options{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("unterminated sequence: err = %v", err)
	}
}

// TestLyingLengths: a length larger than the file fails before anything that size is allocated.
func TestLyingLengths(t *testing.T) {
	b := newFile(ExplicitVRLittleEndian, true).image(2, 2, 8, 0, "MONOCHROME2")
	b.header(0x00091010, "OB", 0xfffffff0)
	b.buf.Write(make([]byte, 10))
	_, err := decodeBytes(b.bytes(), Options{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "(0009,1010)") {
		t.Errorf("err = %v, want ErrMalformed naming (0009,1010)", err)
	}
	b = newFile(ExplicitVRLittleEndian, true).image(2000, 2000, 16, 0, "MONOCHROME2")
	b.raw(tagPixelData, "OW", make([]byte, 100))
	if _, err := decodeBytes(b.bytes(), Options{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("short pixel data: err = %v, want ErrMalformed", err)
	}
	if n := allocated(func() { decodeBytes(b.bytes(), Options{}) }); n > 64<<10 {
		t.Errorf("a 2000x2000 header over 100 bytes of pixels allocated %d bytes", n)
	}
}

// TestHugeDimensions: Rows and Columns written as UL cannot overflow the pixel count.
func TestHugeDimensions(t *testing.T) {
	b := newFile(ExplicitVRLittleEndian, true)
	b.raw(tagRows, "UL", binary.LittleEndian.AppendUint32(nil, 4_000_000_000))
	b.raw(tagColumns, "UL", binary.LittleEndian.AppendUint32(nil, 4_000_000_000))
	b.raw(tagPixelData, "OW", make([]byte, 8))
	if _, err := decodeBytes(b.bytes(), Options{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
}

func TestMaxPixels(t *testing.T) {
	_, err := DecodeFile("testdata/cr_small.dcm", Options{MaxPixels: 1000})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

// encapsulated returns a JPEG-baseline file whose single fragment is frame.
func encapsulated(rows, cols int, frame []byte) []byte {
	b := newFile(JPEGBaseline8Bit, true).image(rows, cols, 8, 0, "MONOCHROME2")
	b.header(tagPixelData, "OB", undefinedLength)
	b.header(tagItem, "", 0)
	if len(frame)%2 == 1 {
		frame = append(frame, 0)
	}
	b.raw(tagItem, "", frame)
	b.header(tagSequenceDelimition, "", 0)
	return b.bytes()
}

// TestJPEGBomb: a tiny JPEG that declares a huge frame is refused before decoding.
func TestJPEGBomb(t *testing.T) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	small := buf.Bytes()
	sof := bytes.Index(small, []byte{0xff, 0xc0})
	if sof < 0 {
		t.Fatal("no SOF0")
	}
	for _, tc := range []struct {
		w, h int
		want error
	}{{60000, 60000, ErrTooLarge}, {8000, 8000, ErrMalformed}} {
		data := bytes.Clone(small)
		binary.BigEndian.PutUint16(data[sof+5:], uint16(tc.h))
		binary.BigEndian.PutUint16(data[sof+7:], uint16(tc.w))
		if _, err := decodeBytes(encapsulated(tc.h, tc.w, data), Options{}); !errors.Is(err, tc.want) {
			t.Errorf("%dx%d: err = %v, want %v", tc.w, tc.h, err, tc.want)
		}
	}
	img, err := decodeBytes(encapsulated(8, 8, small), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img.Pixels.(*image.Gray); !ok {
		t.Errorf("pixels %T", img.Pixels)
	}
}

// TestTruncated cuts every test file at many lengths: each cut is an error wrapping a
// sentinel (never a panic), and single-frame files fail at every cut.
func TestTruncated(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.dcm")
	if len(files) < 10 {
		t.Fatalf("only %d test files", len(files))
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := decodeBytes(data, Options{})
		if err != nil {
			t.Fatal(err)
		}
		mustFail := ref.Frames == 1 && ref.TransferSyntax != DeflatedExplicitVRLittleEndian
		step := max(1, len(data)/300)
		for n := 0; n < len(data); n += step {
			_, err := decodeBytes(data[:n], Options{})
			if _, serr := DecodeReader(bytes.NewReader(data[:n]), Options{}); (serr == nil) != (err == nil) {
				t.Errorf("%s cut at %d: Decode says %v, DecodeReader %v", path, n, err, serr)
			}
			if err == nil {
				if mustFail {
					t.Errorf("%s cut at %d of %d: no error", path, n, len(data))
				}
				continue
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotDICOM) && !errors.Is(err, ErrNoPixelData) {
				t.Errorf("%s cut at %d: %v wraps no sentinel", path, n, err)
			}
		}
	}
}

// TestErrorNamesFileAndTag: DecodeFile's errors say which file and which tag.
func TestErrorNamesFileAndTag(t *testing.T) {
	data, err := os.ReadFile("testdata/cr_small.dcm")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.dcm")
	if err := os.WriteFile(path, data[:len(data)-1000], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = DecodeFile(path, Options{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "(7fe0,0010)") {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
}

// TestWarnings: a guessed transfer syntax and ignored LUT sequences are reported.
func TestWarnings(t *testing.T) {
	img, err := DecodeFile("testdata/implicit_s16_nopreamble.dcm", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(img, "guessed Implicit VR Little Endian") {
		t.Errorf("warnings %q", img.Warnings)
	}
	b := newFile(ExplicitVRLittleEndian, true).image(1, 2, 8, 0, "MONOCHROME2")
	b.raw(tagVOILUTSeq, "SQ", nil)
	b.str(tagWindowCenter, "DS", "abc").str(tagWindowWidth, "DS", "10")
	b.raw(tagPixelData, "OB", []byte{1, 2})
	img, err = decodeBytes(b.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(img, "VOI LUT Sequence") || !hasWarning(img, "unparsable") || img.Window != WindowNone {
		t.Errorf("window %v, warnings %q", img.Window, img.Warnings)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestStream: DecodeReader gives the same pixels as Decode, DecodeConfig the same size and
// colour model while reading only the attributes.
func TestStream(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.dcm")
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want, err := decodeBytes(data, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeReader(bytes.NewReader(data), Options{})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !reflect.DeepEqual(got.Pixels, want.Pixels) || !reflect.DeepEqual(got.Warnings, want.Warnings) {
			t.Errorf("%s: DecodeReader differs from Decode", path)
		}
		cr := &countingReader{r: bytes.NewReader(data)}
		cfg, err := DecodeConfig(cr)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b := want.Pixels.Bounds()
		if cfg.Width != b.Dx() || cfg.Height != b.Dy() || cfg.ColorModel != want.Pixels.ColorModel() {
			t.Errorf("%s: config %dx%d %v, image %v %v", path, cfg.Width, cfg.Height, cfg.ColorModel, b, want.Pixels.ColorModel())
		}
		if want.TransferSyntax != DeflatedExplicitVRLittleEndian && cr.n > 4096 && cr.n > len(data)/2 {
			t.Errorf("%s: DecodeConfig read %d of %d bytes", path, cr.n, len(data))
		}
	}
	// A stream that ends early fails like a short file, and a cap stops a long one.
	data, _ := os.ReadFile("testdata/cr_small.dcm")
	if _, err := DecodeReader(bytes.NewReader(data[:len(data)-10]), Options{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("short stream: err = %v", err)
	}
	if _, err := DecodeReader(bytes.NewReader(data), Options{MaxBytes: 10000}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("capped stream: err = %v", err)
	}
}

// TestJPEGMonochrome1: the SIIM file relabelled MONOCHROME1 (as torchxrayvision's
// Fake_MONOHR1.dcm) decodes to 255 minus the original.
func TestJPEGMonochrome1(t *testing.T) {
	data, err := os.ReadFile("testdata/siim_chest_pa_jpeg_baseline.dcm")
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodeBytes(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("MONOCHROME2"))
	if i < 0 {
		t.Fatal("no MONOCHROME2 in the file")
	}
	mono1 := bytes.Clone(data)
	mono1[i+len("MONOCHROME")] = '1'
	got, err := decodeBytes(mono1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	g, w := got.Pixels.(*image.Gray), want.Pixels.(*image.Gray)
	for k := range w.Pix {
		if g.Pix[k] != 255-w.Pix[k] {
			t.Fatalf("pixel %d: %d, want 255-%d", k, g.Pix[k], w.Pix[k])
		}
	}
}

// TestJPEGWindow: a VOI window applies to JPEG samples as to native ones: c = 128, w = 2 is
// LINEAR with c-0.5 = 127.5 and w-1 = 1, so samples <= 127 are black and >= 128 white.
func TestJPEGWindow(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 16, 8))
	for x := 0; x < 16; x++ {
		for y := 0; y < 8; y++ {
			src.SetGray(x, y, color.Gray{Y: uint8(map[bool]int{true: 40, false: 220}[x < 8])})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	b := newFile(JPEGBaseline8Bit, true).image(8, 16, 8, 0, "MONOCHROME2")
	b.str(tagWindowCenter, "DS", "128").str(tagWindowWidth, "DS", "2")
	b.header(tagPixelData, "OB", undefinedLength)
	b.header(tagItem, "", 0)
	frame := buf.Bytes()
	if len(frame)%2 == 1 {
		frame = append(frame, 0)
	}
	b.raw(tagItem, "", frame)
	b.header(tagSequenceDelimition, "", 0)
	img, err := decodeBytes(b.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	g, ok := img.Pixels.(*image.Gray16)
	if !ok || img.Window != WindowVOI {
		t.Fatalf("pixels %T, window %v", img.Pixels, img.Window)
	}
	if a, c := g.Gray16At(2, 4).Y, g.Gray16At(13, 4).Y; a != 0 || c != 65535 {
		t.Errorf("dark %d, bright %d; want 0 and 65535", a, c)
	}
}
