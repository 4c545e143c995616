package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/codec/rawjpeg"
	"github.com/xraygpt-go/xraygpt/dicom"
)

func testInputs(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "in", "*"))
	if err != nil || len(files) < 10 {
		t.Fatalf("testdata/in: %d files, %v", len(files), err)
	}
	return files
}

// TestLoadKinds checks the Go image type each committed input decodes to.
func TestLoadKinds(t *testing.T) {
	want := map[string]string{
		"xray_gray.png": "*image.Gray",
		"xray16.png":    "*image.Gray16",
		"ramp16.png":    "*image.Gray16",
		"xray_rgb.png":  "*image.RGBA",
		"la8.png":       "*image.NRGBA",
		"rgba8.png":     "*image.NRGBA",
		"la16.png":      "*image.NRGBA64",
		"rgb16.png":     "*image.RGBA64",
		"rgba16.png":    "*image.NRGBA64",
		"pal.png":       "*image.Paletted",
		"gray4.png":     "*image.Gray",
		"xray_gray.jpg": "*image.Gray",
		"xray_420.jpg":  "*image.YCbCr",
		"readme.jpg":    "*image.YCbCr",
	}
	for name, typ := range want {
		img, err := Load(filepath.Join("testdata", "in", name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := typeName(img); got != typ {
			t.Errorf("%s: decoded as %s, want %s", name, got, typ)
		}
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *image.Gray:
		return "*image.Gray"
	case *image.Gray16:
		return "*image.Gray16"
	case *image.RGBA:
		return "*image.RGBA"
	case *image.NRGBA:
		return "*image.NRGBA"
	case *image.RGBA64:
		return "*image.RGBA64"
	case *image.NRGBA64:
		return "*image.NRGBA64"
	case *image.Paletted:
		return "*image.Paletted"
	case *image.YCbCr:
		return "*image.YCbCr"
	}
	return "other"
}

// pngHeader is a PNG signature and an IHDR chunk declaring w x h 8-bit gray,
// followed by nothing else.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8] = 8 // bit depth; colour type 0 (gray), no interlace
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.WriteString("IHDR")
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("IHDR"), ihdr...)))
	return b.Bytes()
}

// jpegHeader is SOI, a JFIF APP0 and a baseline SOF0 declaring w x h with 3
// components, and nothing else.
func jpegHeader(w, h uint16) []byte {
	b := []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xff, 0xc0, 0, 17, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1}
	return b
}

// TestHugeHeaderRefused: a header that declares too many pixels is refused
// with ErrTooLarge before any pixel memory is allocated.
func TestHugeHeaderRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"png 100000x100000", pngHeader(100000, 100000)},
		{"png 2^31-1 x 2", pngHeader(1<<31-1, 2)},
		{"jpeg 65000x65000", jpegHeader(65000, 65000)},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Decode(bytes.NewReader(tc.data))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: err %v, want ErrTooLarge", tc.name, err)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("%s: allocated %d bytes before refusing", tc.name, d)
		}
		t.Logf("%s: %v", tc.name, err)
	}
}

// TestLimitsConfigurable: MaxPixels is honoured exactly.
func TestLimitsConfigurable(t *testing.T) {
	p := filepath.Join("testdata", "in", "xray_gray.png") // 256x256
	if _, err := (Limits{MaxPixels: 256*256 - 1}).Load(p); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit 65535: err %v, want ErrTooLarge", err)
	} else if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "256x256") {
		t.Errorf("error %q should name the file and the size", err)
	}
	if _, err := (Limits{MaxPixels: 256 * 256}).Load(p); err != nil {
		t.Errorf("limit 65536: %v", err)
	}
	// A header longer than MaxHeaderBytes is refused too.
	if _, err := (Limits{MaxHeaderBytes: 8}).Load(p); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxHeaderBytes 8: err %v, want ErrTooLarge", err)
	}
}

// TestTruncated: every committed input cut short anywhere after its first
// bytes gives an error (never a panic or a partial image), and Load's error
// names the file.
func TestTruncated(t *testing.T) {
	dir := t.TempDir()
	for _, f := range testInputs(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cuts := []int{0, 1, 7, 8, 20, 33, 100, len(data) / 3, len(data) / 2, len(data) - 13, len(data) - 1}
		if strings.HasSuffix(f, ".png") {
			// The last 12 bytes are IEND; Go (like Pillow) accepts a PNG
			// without it once all pixel data is read.
			cuts[len(cuts)-1] = len(data) - 13
		}
		for _, n := range cuts {
			if n < 0 || n >= len(data) {
				continue
			}
			p := filepath.Join(dir, "cut_"+filepath.Base(f))
			if err := os.WriteFile(p, data[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			img, err := Load(p)
			if err == nil {
				t.Errorf("%s cut at %d/%d: decoded %v, want an error", filepath.Base(f), n, len(data), img.Bounds())
				continue
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not name the file", err)
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
				t.Errorf("%s cut at %d: %v is neither ErrCorrupt nor ErrFormat", filepath.Base(f), n, err)
			}
		}
	}
}

func TestFormatErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), ErrFormat},
		{"bmp", []byte("BM\x00\x00\x00\x00"), ErrFormat},
		{"text", []byte("hello, world"), ErrFormat},
		{"png zero width", pngHeader(0, 10), ErrCorrupt},
		{"png signature only", []byte("\x89PNG\r\n\x1a\n"), ErrCorrupt},
		{"jpeg SOI only", []byte{0xff, 0xd8, 0xff}, ErrCorrupt},
	} {
		_, err := Decode(bytes.NewReader(tc.data))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join("testdata", "in", "does-not-exist.png")); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "does-not-exist.png") {
		t.Errorf("missing file: %v", err)
	}
}

// TestCMYKRefused: a CMYK JPEG (written by Pillow) is a clear ErrUnsupported.
func TestCMYKRefused(t *testing.T) {
	p := filepath.Join("testdata", "in", "cmyk.jpg")
	_, err := Load(p)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "CMYK") || !strings.Contains(err.Error(), p) {
		t.Fatalf("err %v, want ErrUnsupported naming CMYK and the file", err)
	}
	if _, err := ToRGB8(image.NewCMYK(image.Rect(0, 0, 2, 2))); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("ToRGB8(CMYK): %v", err)
	}
}

// TestSixteenBitGray: 16-bit gray keeps its full range and is scaled with
// rounding, round(v*255/65535), where Pillow's convert would clip at 255.
func TestSixteenBitGray(t *testing.T) {
	vals := []uint16{0, 1, 128, 129, 255, 256, 385, 386, 32767, 32768, 65406, 65407, 65535}
	want := []uint8{0, 0, 0, 1, 1, 1, 1, 2, 127, 128, 254, 255, 255}
	img := image.NewGray16(image.Rect(0, 0, len(vals), 1))
	for i, v := range vals {
		img.SetGray16(i, 0, color.Gray16{Y: v})
	}
	for _, conv := range []struct {
		name string
		f    func(image.Image) []uint8
	}{
		{"ToGray8", func(m image.Image) []uint8 { g, _ := ToGray8(m); return g.Pix }},
		{"ToRGB8", func(m image.Image) []uint8 {
			r, _ := ToRGB8(m)
			out := make([]uint8, len(vals))
			for i := range out {
				out[i] = r.Pix[4*i+1]
			}
			return out
		}},
	} {
		got := conv.f(img)
		for i := range vals {
			if got[i] != want[i] {
				t.Errorf("%s: %d -> %d, want %d", conv.name, vals[i], got[i], want[i])
			}
		}
	}
	// Every value: the exact rounding, and never clipping.
	for v := 0; v <= 65535; v++ {
		exact := float64(v) * 255 / 65535
		if d := float64(scale16(uint16(v))) - exact; d > 0.5 || d < -0.5 {
			t.Fatalf("scale16(%d) = %d, exact %.3f", v, scale16(uint16(v)), exact)
		}
	}
}

// TestPillowModeConversions checks ToRGB8/ToGray8 on values Pillow 9.4
// produced for the same pixels (alpha dropped, not composited; RGB->L luma
// in Pillow's fixed point; 16-bit colour keeps the high byte).
func TestPillowModeConversions(t *testing.T) {
	// RGBA pixels and Pillow's convert("L") of them (rgba8 probe, alpha ignored).
	rgba := [][4]uint8{{0, 255, 200, 0}, {10, 128, 100, 0}, {100, 7, 10, 128}, {200, 3, 0, 255}, {255, 0, 3, 0}, {128, 10, 7, 10}, {7, 100, 128, 255}, {3, 200, 255, 0}}
	wantL := []uint8{172, 90, 35, 62, 77, 45, 75, 147}
	m := image.NewNRGBA(image.Rect(0, 0, len(rgba), 1))
	for i, p := range rgba {
		m.SetNRGBA(i, 0, color.NRGBA{p[0], p[1], p[2], p[3]})
	}
	g, err := ToGray8(m)
	if err != nil {
		t.Fatal(err)
	}
	rgb, err := ToRGB8(m)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range rgba {
		if g.Pix[i] != wantL[i] {
			t.Errorf("L(%v) = %d, Pillow %d", p, g.Pix[i], wantL[i])
		}
		if got := rgb.Pix[4*i : 4*i+4]; got[0] != p[0] || got[1] != p[1] || got[2] != p[2] || got[3] != 255 {
			t.Errorf("RGB(%v) = %v, want alpha dropped", p, got)
		}
	}
	// 16-bit RGB: Pillow keeps the high byte (0,255,256,32767,32768,65280,65535,1000 -> 0,0,1,127,128,255,255,3).
	in := []uint16{0, 255, 256, 32767, 32768, 65280, 65535, 1000}
	want := []uint8{0, 0, 1, 127, 128, 255, 255, 3}
	m16 := image.NewRGBA64(image.Rect(0, 0, len(in), 1))
	for i, v := range in {
		m16.SetRGBA64(i, 0, color.RGBA64{v, v, v, 0xffff})
	}
	rgb, _ = ToRGB8(m16)
	for i := range in {
		if rgb.Pix[4*i] != want[i] {
			t.Errorf("RGB16 %d -> %d, Pillow %d", in[i], rgb.Pix[4*i], want[i])
		}
	}
}

// TestResizeIdentityAndTypes: same size is a copy; Gray stays Gray; other
// kinds are converted to RGB first; bad sizes are errors.
func TestResizeIdentityAndTypes(t *testing.T) {
	img, err := Load(filepath.Join("testdata", "in", "xray_gray.png"))
	if err != nil {
		t.Fatal(err)
	}
	g := img.(*image.Gray)
	r, err := Resize(g, 256, 256)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.(*image.Gray).Pix, g.Pix) {
		t.Error("same-size resize changed pixels")
	}
	sub := g.SubImage(image.Rect(10, 20, 110, 220)).(*image.Gray)
	r1, _ := Resize(sub, 50, 60)
	r2, _ := Resize(copyGray(sub), 50, 60)
	if !bytes.Equal(r1.(*image.Gray).Pix, r2.(*image.Gray).Pix) {
		t.Error("sub-image resize differs from resizing a copy")
	}
	pal, _ := Load(filepath.Join("testdata", "in", "pal.png"))
	if r, err := Resize(pal, 10, 10); err != nil || typeName(r) != "*image.RGBA" {
		t.Errorf("palette resize: %T %v", r, err)
	}
	for _, sz := range [][2]int{{0, 5}, {5, -1}, {1 << 20, 1 << 20}} {
		if _, err := Resize(g, sz[0], sz[1]); err == nil {
			t.Errorf("Resize to %v: no error", sz)
		}
	}
}

func copyGray(m *image.Gray) *image.Gray {
	out := image.NewGray(image.Rect(0, 0, m.Rect.Dx(), m.Rect.Dy()))
	for y := 0; y < m.Rect.Dy(); y++ {
		copy(out.Pix[y*out.Stride:], m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y+y):][:m.Rect.Dx()])
	}
	return out
}

// TestPadAndCrop: MedCLIP's geometry.
func TestPadAndCrop(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	for i := range g.Pix {
		g.Pix[i] = uint8(i + 1)
	}
	sq := PadToSquare(g, 4) // side 4, offset (int(1/2), int(2/2)) = (0, 1)
	want := []uint8{0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 0, 0, 0, 0}
	if !bytes.Equal(sq.Pix, want) {
		t.Errorf("PadToSquare = %v, want %v", sq.Pix, want)
	}
	c := CenterCrop(sq, 2, 3) // left (4-2)//2 = 1, top (4-3)//2 = 0
	if want := []uint8{0, 0, 2, 3, 5, 6}; !bytes.Equal(c.Pix, want) {
		t.Errorf("CenterCrop = %v, want %v", c.Pix, want)
	}
	c = CenterCrop(g, 5, 2) // larger than the image: left (3-5)//2 = -1, zero fill
	if want := []uint8{0, 1, 2, 3, 0, 0, 4, 5, 6, 0}; !bytes.Equal(c.Pix, want) {
		t.Errorf("CenterCrop wider = %v, want %v", c.Pix, want)
	}
}

// TestEvalErrors: bad arguments and unusable images are errors.
func TestEvalErrors(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 4, 4))
	if _, err := BLIP2Eval(g, 0, CLIPMean(), CLIPStd()); err == nil {
		t.Error("size 0: no error")
	}
	if _, err := BLIP2Eval(g, 8, CLIPMean(), [3]float32{1, 0, 1}); err == nil {
		t.Error("zero std: no error")
	}
	if _, err := MedCLIPEval(g, 8, MedCLIPMean, 0); err == nil {
		t.Error("zero std: no error")
	}
	if _, err := BLIP2Eval(image.NewGray(image.Rect(0, 0, 0, 3)), 8, CLIPMean(), CLIPStd()); err == nil {
		t.Error("empty image: no error")
	}
	if _, err := MedCLIPEval(image.NewCMYK(image.Rect(0, 0, 2, 2)), 8, MedCLIPMean, MedCLIPStd); !errors.Is(err, ErrUnsupported) {
		t.Errorf("CMYK: %v", err)
	}
	long := image.NewGray(image.Rect(0, 0, 1<<17, 1))
	if _, err := MedCLIPEval(long, 224, MedCLIPMean, MedCLIPStd); !errors.Is(err, ErrTooLarge) {
		t.Errorf("131072x1 MedCLIP: %v, want ErrTooLarge", err)
	}
}

// FuzzDecode feeds arbitrary bytes to the decoding front door and the two
// pipelines: no panic, no image beyond the pixel limit, and every decoded
// image goes through BLIP2Eval and MedCLIPEval. Seeds: the committed inputs.
//
//	go test ./imaging -run '^$' -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	for _, p := range testInputs(f) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	var tiny bytes.Buffer
	png.Encode(&tiny, image.NewGray16(image.Rect(0, 0, 3, 2)))
	f.Add(tiny.Bytes())
	f.Add(pngHeader(1<<20, 1<<20))
	// Lossless, 12-bit and other DICOM codecs (small files of the dicom corpus), as DICOM and as bare JPEG.
	codecs, _ := filepath.Glob("../dicom/testdata/codecs/u8_*.dcm")
	more, _ := filepath.Glob("../dicom/testdata/codecs/u12_dcmtk_jpeg_*.dcm")
	for _, p := range append(codecs, more...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		if i, j := bytes.Index(data, []byte{0xff, 0xd8, 0xff}), bytes.LastIndex(data, []byte{0xff, 0xd9}); i >= 0 && j > i {
			f.Add(data[i : j+2])
		}
	}
	const maxPixels = 1 << 18
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Limits{MaxPixels: maxPixels, MaxHeaderBytes: 1 << 20}.Decode(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		b := img.Bounds()
		if b.Dx() <= 0 || b.Dy() <= 0 || int64(b.Dx())*int64(b.Dy()) > maxPixels {
			t.Fatalf("decoded %v beyond the limit", b)
		}
		if _, err := BLIP2Eval(img, 16, CLIPMean(), CLIPStd()); err != nil {
			t.Fatalf("BLIP2Eval on a decoded %T %v: %v", img, b, err)
		}
		if _, err := MedCLIPEval(img, 16, MedCLIPMean, MedCLIPStd); err != nil {
			t.Fatalf("MedCLIPEval on a decoded %T %v: %v", img, b, err)
		}
	})
}

// DICOM files go through package dicom: the SIIM JPEG-baseline file gives
// the same pixels as dicom.DecodeFile, and multi-frame warnings reach Warn.
func TestDecodeDICOM(t *testing.T) {
	path := "../dicom/testdata/siim_chest_pa_jpeg_baseline.dcm"
	img, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := dicom.DecodeFile(path, dicom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != want.Pixels.Bounds() {
		t.Fatalf("bounds %v, want %v", img.Bounds(), want.Pixels.Bounds())
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 97 {
		for x := b.Min.X; x < b.Max.X; x += 89 {
			if img.At(x, y) != want.Pixels.At(x, y) {
				t.Fatalf("pixel (%d,%d) differs", x, y)
			}
		}
	}
	if _, err := BLIP2Eval(img, 224, CLIPMean(), CLIPStd()); err != nil {
		t.Errorf("BLIP2Eval on a DICOM image: %v", err)
	}
	if _, err := (Limits{MaxPixels: 1000}).Load(path); !errors.Is(err, ErrTooLarge) {
		t.Errorf("pixel limit on DICOM: %v", err)
	}
	var warnings []string
	l := Limits{Warn: func(msg string) { warnings = append(warnings, msg) }}
	if _, err := l.Load("../dicom/testdata/multiframe_u16.dcm"); err != nil {
		t.Fatal(err)
	}
	if len(warnings) == 0 || !strings.Contains(strings.Join(warnings, " "), "frame") {
		t.Errorf("multi-frame file: warnings %q", warnings)
	}
}

// dicomBytes writes a small Explicit VR Little Endian DICOM file with transfer syntax ts,
// rows x cols 8-bit grey attributes and, when pixels is non-nil, Pixel Data.
func dicomBytes(ts string, rows, cols int, pixels []byte) []byte {
	le := binary.LittleEndian
	var b bytes.Buffer
	b.Write(make([]byte, 128))
	b.WriteString("DICM")
	elem := func(group, el uint16, vr string, v []byte) {
		b.Write(le.AppendUint16(le.AppendUint16(nil, group), el))
		b.WriteString(vr)
		if vr == "OB" {
			b.Write([]byte{0, 0})
			b.Write(le.AppendUint32(nil, uint32(len(v))))
		} else {
			b.Write(le.AppendUint16(nil, uint16(len(v))))
		}
		b.Write(v)
	}
	us := func(el uint16, v int) { elem(0x0028, el, "US", le.AppendUint16(nil, uint16(v))) }
	uid := []byte(ts)
	if len(uid)%2 == 1 {
		uid = append(uid, 0)
	}
	elem(0x0002, 0x0010, "UI", uid)
	elem(0x0008, 0x0060, "CS", []byte("CR"))
	us(0x0002, 1)
	elem(0x0028, 0x0004, "CS", []byte("MONOCHROME2 "))
	us(0x0010, rows)
	us(0x0011, cols)
	us(0x0100, 8)
	us(0x0101, 8)
	us(0x0102, 7)
	us(0x0103, 0)
	if pixels != nil {
		elem(0x7fe0, 0x0010, "OB", pixels)
	}
	return b.Bytes()
}

// TestDICOMErrorKinds: a valid DICOM in an unsupported syntax is "unsupported" (with the
// syntax's name and UID), one too large is "too large", one without Pixel Data says so; none
// is reported as corrupt.
func TestDICOMErrorKinds(t *testing.T) {
	for name, c := range map[string]struct {
		data []byte
		l    Limits
		want error
		says []string
	}{
		"unsupported syntax": {dicomBytes("1.2.840.10008.1.2.4.100", 2, 2, make([]byte, 4)), Limits{}, ErrUnsupported, []string{"MPEG2", "1.2.840.10008.1.2.4.100"}},
		"too large":          {dicomBytes("1.2.840.10008.1.2.1", 4000, 4000, make([]byte, 4)), Limits{MaxPixels: 1 << 20}, ErrTooLarge, []string{"4000"}},
		"dicom limit":        {dicomBytes("1.2.840.10008.1.2.1", 65535, 65535, make([]byte, 4)), Limits{MaxPixels: 1 << 40}, ErrTooLarge, []string{"65535"}},
		"no pixel data":      {dicomBytes("1.2.840.10008.1.2.1", 2, 2, nil), Limits{}, ErrUnsupported, []string{"no Pixel Data"}},
	} {
		_, err := c.l.Decode(bytes.NewReader(c.data))
		if !errors.Is(err, c.want) || errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
			continue
		}
		t.Logf("%s: %v", name, err)
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %v does not say %q", name, err, s)
			}
		}
	}
}

// TestLosslessAnd12BitJPEG: standalone lossless and 12-bit JPEG files (image/jpeg refuses
// them) load through package rawjpeg, whose samples the dicom tests check against GDCM: grey
// as Gray16 scaled from the file's precision, lossless RGB as RGBA64. The codestreams are cut
// out of the dicom codec corpus.
func TestLosslessAnd12BitJPEG(t *testing.T) {
	dir := t.TempDir()
	for name, model := range map[string]color.Model{
		"u16_dcmtk_jpeg_sv1":        color.Gray16Model,
		"u12_dcmtk_jpeg_sv5":        color.Gray16Model,
		"u12_dcmtk_jpeg_extended12": color.Gray16Model,
		"u8_gdcm_jpeg":              color.Gray16Model,
		"rgb8_dcmtk_jpeg_sv1":       color.RGBA64Model,
	} {
		data, err := os.ReadFile(filepath.Join("..", "dicom", "testdata", "codecs", name+".dcm"))
		if err != nil {
			t.Fatal(err)
		}
		i, j := bytes.Index(data, []byte{0xff, 0xd8, 0xff}), bytes.LastIndex(data, []byte{0xff, 0xd9})
		jpg := data[i : j+2]
		path := filepath.Join(dir, name+".jpg")
		if err := os.WriteFile(path, jpg, 0o644); err != nil {
			t.Fatal(err)
		}
		img, err := Load(path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if img.ColorModel() != model {
			t.Errorf("%s: colour model %T", name, img.ColorModel())
		}
		f, err := rawjpeg.Decode(jpg, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		maxv := uint32(1)<<uint(f.Precision) - 1
		for k, x := range []int{0, f.Width / 2, f.Width - 1} {
			y := (k * 7) % f.Height
			want := uint16((uint32(f.Components[0].Samples[y*f.Width+x])*65535 + maxv/2) / maxv)
			r, _, _, _ := img.At(x, y).RGBA()
			if uint16(r) != want {
				t.Errorf("%s (%d,%d): %d, want %d", name, x, y, r, want)
			}
		}
	}
	if _, err := (Limits{MaxPixels: 100}).Load(filepath.Join(dir, "u16_dcmtk_jpeg_sv1.jpg")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("pixel limit: %v", err)
	}
}
