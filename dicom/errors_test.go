package dicom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoPixelDataStream: a data set without Pixel Data says so, from a file or a stream
// (a stream ends at the last element, not in a failed read of a header past it:
// "tag (0000,0000) ... need 8 bytes").
func TestNoPixelDataStream(t *testing.T) {
	b := newFile(ExplicitVRLittleEndian, true).str(tagModality, "CS", "SR").str(tagBodyPart, "CS", "CHEST")
	for name, decode := range map[string]func() error{
		"sized":  func() error { _, err := decodeBytes(b.bytes(), Options{}); return err },
		"stream": func() error { _, err := DecodeReader(bytes.NewReader(b.bytes()), Options{}); return err },
		"config": func() error { _, err := DecodeConfig(bytes.NewReader(b.bytes())); return err },
	} {
		err := decode()
		if !errors.Is(err, ErrNoPixelData) || !strings.Contains(err.Error(), "no Pixel Data") || strings.Contains(err.Error(), "need 8 bytes") {
			t.Errorf("%s: err = %v, want ErrNoPixelData saying \"no Pixel Data\"", name, err)
		}
	}
}

// TestPixelLengthPastEnd: a Pixel Data length running far past the end of the file is a
// warning when the first frame is whole, an error when it is not, from a file or a stream.
func TestPixelLengthPastEnd(t *testing.T) {
	build := func(declared uint32, have int) []byte {
		b := newFile(ExplicitVRLittleEndian, true).image(4, 4, 8, 0, "MONOCHROME2")
		b.header(tagPixelData, "OB", declared)
		b.buf.Write(bytes.Repeat([]byte{7}, have))
		return b.bytes()
	}
	whole := build(0xfffffff0, 16)
	for name, dec := range map[string]func([]byte) (*Image, error){
		"sized":  func(d []byte) (*Image, error) { return decodeBytes(d, Options{}) },
		"stream": func(d []byte) (*Image, error) { return DecodeReader(bytes.NewReader(d), Options{}) },
	} {
		img, err := dec(whole)
		if err != nil {
			t.Fatalf("%s: whole first frame: %v", name, err)
		}
		if !strings.Contains(strings.Join(img.Warnings, "\n"), "declares 4294967280 bytes but the file holds only 16") {
			t.Errorf("%s: warnings %q, want one about the declared length", name, img.Warnings)
		}
		if _, err := dec(build(0xfffffff0, 10)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("%s: short first frame: err = %v, want a truncation error", name, err)
		}
	}
}

// TestCodecErrors: damaged codestreams say which syntax, which frame and where; every codec.
func TestCodecErrors(t *testing.T) {
	noticed := 0
	defer func() {
		if noticed < 4 {
			t.Errorf("only %d of 10 damaged or truncated codestreams were refused", noticed)
		}
	}()
	for _, name := range []string{"u16_dcmtk_jpeg_sv1", "u12_dcmtk_jpeg_extended12", "u16_dcmtk_rle", "u16_gdcm_jpegls", "u16_gdcm_j2k"} {
		data, err := os.ReadFile(filepath.Join("testdata", "codecs", name+".dcm"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := decodeBytes(data, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Damage the middle of the codestream (the last fragment ends the file, before the
		// sequence delimiter's 8 bytes) and cut it short.
		bad := bytes.Clone(data)
		mid := len(bad) - 8 - (len(bad)-8-600)/2
		for i := mid; i < mid+64; i++ {
			bad[i] ^= 0x5a
		}
		marker := []byte("\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff")
		at := bytes.Index(data, marker)
		if at < 0 {
			t.Fatalf("%s: no encapsulated Pixel Data header", name)
		}
		at += len(marker)
		bot := int(binary.LittleEndian.Uint32(data[at+4:]))
		fragAt := at + 8 + bot
		fragLen := int(binary.LittleEndian.Uint32(data[fragAt+4:]))
		half := fragLen / 2 &^ 1
		cut := append(bytes.Clone(data[:fragAt+4]), binary.LittleEndian.AppendUint32(nil, uint32(half))...)
		cut = append(cut, data[fragAt+8:fragAt+8+half]...)
		cut = append(cut, 0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0)
		for kind, d := range map[string][]byte{"damaged": bad, "truncated": cut} {
			_, err := decodeBytes(d, Options{})
			if err == nil {
				continue // some damage decodes to other values; not every codec can notice
			}
			noticed++
			t.Logf("%s %s: %v", name, kind, err)
			msg := err.Error()
			if !errors.Is(err, ErrMalformed) || !strings.Contains(msg, img.TransferSyntaxName) || !strings.Contains(msg, "frame 1") {
				t.Errorf("%s %s: err = %v, want ErrMalformed naming %q and frame 1", name, kind, err, img.TransferSyntaxName)
			}
		}
	}
}

// TestUnsupportedJPEGKinds: a valid but unhandled JPEG (arithmetic coding, hierarchical) is
// "unsupported", not corrupt.
func TestUnsupportedJPEGKinds(t *testing.T) {
	// SOI, SOF9 (arithmetic, extended) for a 2x2 grey image, EOI.
	frame := []byte{0xff, 0xd8, 0xff, 0xc9, 0, 11, 8, 0, 2, 0, 2, 1, 1, 0x11, 0, 0xff, 0xd9}
	_, err := decodeBytes(encapsulated(2, 2, frame), Options{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "arithmetic") || !strings.Contains(err.Error(), JPEGBaseline8Bit) {
		t.Errorf("err = %v, want ErrUnsupported naming arithmetic coding and the UID", err)
	}
}

// FuzzRLE: arbitrary RLE frames never panic and decode to exactly rows x cols x samples words.
func FuzzRLE(f *testing.F) {
	files, _ := filepath.Glob("testdata/codecs/*_rle.dcm")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// The RLE header follows the first fragment's item header: segment count 1..3, offset 64.
		if i := bytes.Index(data, []byte{64, 0, 0, 0}); i >= 4 {
			f.Add(data[i-4:len(data)-8], 8, 8, 1, 16)
		}
	}
	f.Add(make([]byte, 64), 2, 2, 3, 8)
	f.Fuzz(func(t *testing.T, frame []byte, rows, cols, spp, bits int) {
		if rows < 1 || cols < 1 || rows*cols > 1<<16 || (spp != 1 && spp != 3) {
			return
		}
		words, err := decodeRLE(frame, rows, cols, spp, bits)
		if err == nil && len(words) != rows*cols*spp {
			t.Fatalf("%d words for %dx%dx%d", len(words), rows, cols, spp)
		}
	})
}

// TestMissingCodecLibrary: without CharLS or OpenJPEG, a JPEG-LS or JPEG 2000 file is
// "unsupported", naming the syntax, its UID and the package to install. The libraries are
// hidden from a child test process through XRAYGPT_CHARLS and XRAYGPT_OPENJPEG.
func TestMissingCodecLibrary(t *testing.T) {
	if os.Getenv("DICOM_TEST_CHILD") == "1" {
		for file, want := range map[string][]string{
			"u16_gdcm_jpegls.dcm": {"JPEG-LS Lossless Image Compression", "1.2.840.10008.1.2.4.80", "libcharls2"},
			"u16_gdcm_j2k.dcm":    {"JPEG 2000 Image Compression (Lossless Only)", "1.2.840.10008.1.2.4.90", "libopenjp2-7"},
		} {
			_, err := DecodeFile(filepath.Join("testdata", "codecs", file), Options{})
			if !errors.Is(err, ErrUnsupportedTransferSyntax) || !strings.Contains(err.Error(), "unsupported") {
				t.Errorf("%s: err = %v, want ErrUnsupportedTransferSyntax", file, err)
				continue
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %v does not name %q", file, err, w)
				}
			}
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestMissingCodecLibrary$", "-test.v")
	cmd.Env = append(os.Environ(), "DICOM_TEST_CHILD=1", "XRAYGPT_CHARLS=/nonexistent/libcharls.so", "XRAYGPT_OPENJPEG=/nonexistent/libopenjp2.so")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestMissingCodecLibrary") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
