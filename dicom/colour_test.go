package dicom

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// jpegFrameOf returns the JPEG codestream of a single-fragment encapsulated file.
func jpegFrameOf(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte{0xff, 0xd8, 0xff})
	j := bytes.LastIndex(data, []byte{0xff, 0xd9})
	if i < 0 || j < i {
		t.Fatalf("%s: no JPEG codestream", path)
	}
	return bytes.Clone(data[i : j+2])
}

// withMarkers rewrites a 3-component JPEG: its APP0/APP14 segments replaced by app (nil: none)
// and its component ids (in the frame and scan headers) replaced by ids.
func withMarkers(t testing.TB, jpg []byte, app []byte, ids [3]byte) []byte {
	t.Helper()
	out := []byte{0xff, 0xd8}
	out = append(out, app...)
	var old [3]byte
	for p := 2; p+4 <= len(jpg); {
		if jpg[p] != 0xff {
			t.Fatalf("no marker at %d", p)
		}
		m := jpg[p+1]
		n := int(binary.BigEndian.Uint16(jpg[p+2:]))
		seg := bytes.Clone(jpg[p : p+2+n])
		switch {
		case m == 0xe0 || m == 0xee:
			p += 2 + n
			continue
		case m >= 0xc0 && m <= 0xc3:
			for k := 0; k < 3; k++ {
				old[k] = seg[4+6+3*k]
				seg[4+6+3*k] = ids[k]
			}
		case m == 0xda:
			for k := 0; k < int(seg[4]); k++ {
				for c := 0; c < 3; c++ {
					if seg[5+2*k] == old[c] {
						seg[5+2*k] = ids[c]
						break
					}
				}
			}
			return append(append(out, seg...), jpg[p+2+n:]...)
		}
		out = append(out, seg...)
		p += 2 + n
	}
	t.Fatal("no scan")
	return nil
}

// rgbFile wraps a colour JPEG frame in a JPEG Baseline DICOM file with the given photometric.
func rgbFile(rows, cols int, photometric string, frame []byte) []byte {
	b := newFile(JPEGBaseline8Bit, true)
	b.str(tagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7").str(0x00080018, "UI", "1.2.3.4.5")
	b.us(tagSamplesPerPixel, 3).str(tagPhotometric, "CS", photometric).us(tagPlanarConfig, 0)
	b.us(tagRows, uint16(rows)).us(tagColumns, uint16(cols))
	b.us(tagBitsAllocated, 8).us(tagBitsStored, 8).us(tagHighBit, 7).us(tagPixelRepresent, 0)
	b.header(tagPixelData, "OB", undefinedLength)
	b.header(tagItem, "", 0)
	if len(frame)%2 == 1 {
		frame = append(frame, 0)
	}
	b.raw(tagItem, "", frame)
	b.header(tagSequenceDelimition, "", 0)
	return b.bytes()
}

// TestJPEGColourMarkers: for every combination of colour markers (Adobe APP14 transform 0 or
// 1, JFIF, none; component ids 1,2,3 or 'R','G','B') and Photometric Interpretation (RGB,
// YBR_FULL), our samples and their colour space equal GDCM's (gdcmconv --raw: its samples
// and its Photometric Interpretation). GDCM, measured here, never converts and follows the
// Photometric Interpretation; a marker that disagrees gets a warning from us.
func TestJPEGColourMarkers(t *testing.T) {
	if !toolsPresent(t) {
		return
	}
	adobe := func(transform byte) []byte {
		return []byte{0xff, 0xee, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, transform}
	}
	jfif := []byte{0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	dir := t.TempDir()
	for _, src := range []string{"rgb8_dcmtk_jpeg_baseline_444", "rgb8_dcmtk_jpeg_baseline_rgb"} {
		jpg := jpegFrameOf(t, filepath.Join("testdata", "codecs", src+".dcm"))
		for appName, app := range map[string][]byte{"none": nil, "jfif": jfif, "adobe0": adobe(0), "adobe1": adobe(1)} {
			for idName, ids := range map[string][3]byte{"123": {1, 2, 3}, "RGB": {'R', 'G', 'B'}} {
				for _, pi := range []string{"RGB", "YBR_FULL"} {
					name := fmt.Sprintf("%s_%s_%s_%s", src, appName, idName, pi)
					t.Run(name, func(t *testing.T) {
						in := filepath.Join(dir, name+".dcm")
						ref := filepath.Join(dir, name+".ref.dcm")
						if err := os.WriteFile(in, rgbFile(40, 56, pi, withMarkers(t, jpg, app, ids)), 0o644); err != nil {
							t.Fatal(err)
						}
						run(t, "gdcmconv", "--raw", in, ref)
						if d := compare(t, in, ref); d != 0 {
							t.Errorf("differs from gdcmconv --raw by %d", d)
						}
						img := decodeSamples(t, in)
						warned := strings.Contains(strings.Join(img.Warnings, "\n"), "following the Photometric Interpretation")
						conflict := (appName == "adobe1" || appName == "jfif" || (appName == "none" && idName == "RGB") || appName == "adobe0") &&
							(pi == "YBR_FULL") != (appName == "adobe1" || appName == "jfif")
						if warned != conflict {
							t.Errorf("warnings %q; want a marker conflict warning: %v", img.Warnings, conflict)
						}
					})
				}
			}
		}
	}
}

// TestJ2KPhotometric: a colour JPEG 2000 frame labelled RGB, YBR_RCT or YBR_ICT, with the
// codestream's multiple component transform off or on, decodes to the samples and colour
// space GDCM gives (OpenJPEG undoes the component transform; the label then says RGB).
func TestJ2KPhotometric(t *testing.T) {
	if !toolsPresent(t) {
		return
	}
	dir := t.TempDir()
	for _, src := range []string{"rgb8_gdcm_j2k", "rgb8_gdcm_j2k_lossy"} {
		data, err := os.ReadFile(filepath.Join("testdata", "codecs", src+".dcm"))
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(data, []byte{0xff, 0x4f, 0xff, 0x51})
		j := bytes.LastIndex(data, []byte{0xff, 0xd9})
		cs := data[i : j+2]
		// The COD marker's multiple component transform flag (T.800 A.6.1).
		cod := bytes.Index(cs, []byte{0xff, 0x52})
		t.Logf("%s: MCT %d", src, cs[cod+8])
		ts := "1.2.840.10008.1.2.4.90"
		if strings.Contains(src, "lossy") {
			ts = "1.2.840.10008.1.2.4.91"
		}
		for _, c := range []struct {
			pi  string
			mct byte
		}{{"RGB", 0}, {"YBR_RCT", 0}, {"YBR_ICT", 0}, {"RGB", 1}, {"YBR_RCT", 1}, {"YBR_ICT", 1}} {
			pi := c.pi
			name := fmt.Sprintf("%s_%s_mct%d", src, pi, c.mct)
			t.Run(name, func(t *testing.T) {
				b := newFile(ts, true)
				b.str(tagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7").str(0x00080018, "UI", "1.2.3.4.7")
				b.us(tagSamplesPerPixel, 3).str(tagPhotometric, "CS", pi).us(tagPlanarConfig, 0)
				b.us(tagRows, 40).us(tagColumns, 56)
				b.us(tagBitsAllocated, 8).us(tagBitsStored, 8).us(tagHighBit, 7).us(tagPixelRepresent, 0)
				b.header(tagPixelData, "OB", undefinedLength)
				b.header(tagItem, "", 0)
				frame := bytes.Clone(cs)
				frame[cod+8] = c.mct // with 1 the components are read as RCT/ICT-transformed
				if len(frame)%2 == 1 {
					frame = append(frame, 0)
				}
				b.raw(tagItem, "", frame)
				b.header(tagSequenceDelimition, "", 0)
				in, ref := filepath.Join(dir, name+".dcm"), filepath.Join(dir, name+".ref.dcm")
				if err := os.WriteFile(in, b.bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				run(t, "gdcmconv", "--raw", in, ref)
				if d := compare(t, in, ref); d != 0 {
					t.Errorf("differs from gdcmconv --raw by %d", d)
				}
			})
		}
	}
}
