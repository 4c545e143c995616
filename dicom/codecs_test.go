package dicom

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
)

// The codec tests compare our decoded samples with an independent decoder's: GDCM's
// `gdcmconv --raw` (Debian libgdcm-tools) and, for the syntaxes dcmtk decodes, dcmtk's
// dcmdjpeg, dcmdrle and dcmdjpls. Both references are decoded back with our native
// (uncompressed) path, which the golden tests check against pydicom.
//
// testdata/codecs holds a small committed corpus (64x80-ish synthetic images, each source
// encoded by dcmtk and GDCM, with GDCM's decode beside it as NAME.ref.dcm); regenerate it with
//
//	dicom/testdata/gen_codecs.sh
//
// TestCodecsAgainstTools builds a larger corpus on the fly (odd sizes, every JPEG predictor,
// the shared CR film at full size when ../shared is present) and needs the tools: it skips
// without them, and fails under CI=true (as it does without ../shared).

var genCodecs = flag.Bool("gen-codecs", false, "regenerate testdata/codecs with dcmtk and GDCM")

// maxLossyDiff is the largest difference measured between our samples and GDCM's on the lossy
// files of the corpus (12-bit JPEG extended, JPEG 2000 irreversible, JPEG-LS near-lossless,
// 8-bit baseline): 0. The test allows ±1, the rounding freedom lossy decoders have between them.
const maxLossyDiff = 1

// source is one uncompressed test image.
type source struct {
	name         string
	rows, cols   int
	spp          int
	bits, stored int
	signed       bool
	photometric  string
	pixels       []uint16 // pixel-interleaved stored values (two's complement when signed), frame after frame
	frames       int      // 0 or 1: single frame
}

// synth makes a smooth image with noise and a few edges, the kind codecs meet in radiographs.
func synth(name string, rows, cols, spp, bits, stored int, signed bool, seed uint64) source {
	r := rand.New(rand.NewPCG(seed, 7))
	s := source{name: name, rows: rows, cols: cols, spp: spp, bits: bits, stored: stored, signed: signed, photometric: "MONOCHROME2"}
	if spp == 3 {
		s.photometric = "RGB"
	}
	maxv := float64(int(1)<<uint(stored) - 1)
	s.pixels = make([]uint16, rows*cols*spp)
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			for k := 0; k < spp; k++ {
				f := 0.5 + 0.35*math.Sin(float64(x+7*k)/9)*math.Cos(float64(y)/13)
				if (x/16+y/16)%3 == k%3 {
					f += 0.1
				}
				f += r.NormFloat64() * 0.02
				v := int(math.Round(min(max(f, 0), 1) * maxv))
				if signed {
					v -= int(1) << uint(stored-1)
				}
				s.pixels[(y*cols+x)*spp+k] = uint16(v) & uint16(int(1)<<uint(bits)-1)
			}
		}
	}
	return s
}

// write writes s as an Explicit VR Little Endian Part 10 file.
func (s source) write(path string) error {
	b := newFile(ExplicitVRLittleEndian, true)
	b.str(tagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7")
	b.str(0x00080018, "UI", "1.2.826.0.1.3680043.8.498.4242."+fmt.Sprint(len(s.name)))
	b.str(tagModality, "CS", "OT")
	b.us(tagSamplesPerPixel, uint16(s.spp)).str(tagPhotometric, "CS", s.photometric)
	if s.spp == 3 {
		b.us(tagPlanarConfig, 0)
	}
	if s.frames > 1 {
		b.str(tagNumberOfFrames, "IS", fmt.Sprint(s.frames))
	}
	b.us(tagRows, uint16(s.rows)).us(tagColumns, uint16(s.cols))
	b.us(tagBitsAllocated, uint16(s.bits)).us(tagBitsStored, uint16(s.stored)).us(tagHighBit, uint16(s.stored-1))
	b.us(tagPixelRepresent, map[bool]uint16{true: 1}[s.signed])
	var px []byte
	for _, v := range s.pixels {
		if s.bits == 8 {
			px = append(px, byte(v))
		} else {
			px = binary.LittleEndian.AppendUint16(px, v)
		}
	}
	if len(px)%2 == 1 {
		px = append(px, 0)
	}
	vr := "OW"
	if s.bits == 8 {
		vr = "OB"
	}
	b.raw(tagPixelData, vr, px)
	return os.WriteFile(path, b.bytes(), 0o644)
}

// encoder is one way of compressing a source with a reference toolkit.
type encoder struct {
	name     string
	tool     string
	args     []string
	lossless bool
	accepts  func(s source) bool
}

func all(source) bool           { return true }
func grey(s source) bool        { return s.spp == 1 }
func unsigned(s source) bool    { return !s.signed }
func eightBit(s source) bool    { return s.bits == 8 }
func twelveBit(s source) bool   { return s.spp == 1 && s.stored <= 12 && !s.signed && s.bits == 16 }
func notSigned16(s source) bool { return !(s.signed && s.stored == 16) }
func notRGB16(s source) bool    { return !(s.spp == 3 && s.bits == 16) }

// encoders lists the encodings of the corpus: every lossless JPEG predictor and a point
// transform, 12-bit and 8-bit DCT JPEG, RLE, JPEG-LS and JPEG 2000, from dcmtk and GDCM.
func encoders() []encoder {
	e := []encoder{
		{"dcmtk_jpeg_sv1", "dcmcjpeg", []string{"+e1"}, true, all},
		{"dcmtk_jpeg_pt2", "dcmcjpeg", []string{"+el", "+sv", "1", "+pt", "2"}, true, grey},
		{"dcmtk_jpeg_baseline", "dcmcjpeg", []string{"+eb", "+q", "85"}, false, eightBit},
		{"dcmtk_jpeg_baseline_rgb", "dcmcjpeg", []string{"+eb", "+q", "90", "+cr"}, false, func(s source) bool { return s.bits == 8 && s.spp == 3 }},
		{"dcmtk_jpeg_baseline_444", "dcmcjpeg", []string{"+eb", "+q", "90", "+s4"}, false, func(s source) bool { return s.bits == 8 && s.spp == 3 }},
		{"dcmtk_jpeg_extended12", "dcmcjpeg", []string{"+ee", "+q", "85"}, false, twelveBit},
		{"dcmtk_jpeg_extended8", "dcmcjpeg", []string{"+ee", "+q", "85"}, false, func(s source) bool { return s.bits == 8 && s.spp == 1 }},
		{"dcmtk_rle", "dcmcrle", nil, true, all},
		{"dcmtk_jpegls", "dcmcjpls", nil, true, notSigned16},
		{"dcmtk_jpegls_near2", "dcmcjpls", []string{"+en"}, false, func(s source) bool { return unsigned(s) && s.spp == 1 && s.stored > 4 }},
		{"dcmtk_jpegls_ilvnone", "dcmcjpls", []string{"+in"}, true, func(s source) bool { return s.spp == 3 }},
		{"gdcm_jpeg", "gdcmconv", []string{"--jpeg"}, true, all},
		// GDCM 3.0.21's RLE encoder asserts on 8-bit frames of odd length.
		{"gdcm_rle", "gdcmconv", []string{"--rle"}, true, func(s source) bool { return s.bits == 16 || s.rows*s.cols%2 == 0 }},
		{"gdcm_jpegls", "gdcmconv", []string{"--jpegls"}, true, all},
		// GDCM 3.0.21 does not encode 16-bit colour as JPEG 2000.
		{"gdcm_j2k", "gdcmconv", []string{"--j2k"}, true, notRGB16},
		{"gdcm_j2k_lossy", "gdcmconv", []string{"--j2k", "--lossy", "-q", "40"}, false, func(s source) bool { return unsigned(s) && notRGB16(s) }},
	}
	for sv := 2; sv <= 7; sv++ {
		e = append(e, encoder{fmt.Sprintf("dcmtk_jpeg_sv%d", sv), "dcmcjpeg", []string{"+el", "+sv", fmt.Sprint(sv)}, true, grey})
	}
	return e
}

// toolsPresent reports whether the reference tools are installed, skipping t when they are
// not; under CI=true their absence fails t.
func toolsPresent(t testing.TB) bool {
	if err := toolsMissing(t); err != nil {
		t.Skip(err)
		return false
	}
	return true
}

// toolsMissing says which reference tool is missing (nil: all there); under CI=true a missing
// one fails t.
func toolsMissing(t testing.TB) error {
	for _, tool := range []string{"gdcmconv", "dcmcjpeg", "dcmdjpeg", "dcmcrle", "dcmdrle", "dcmcjpls", "dcmdjpls"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (build/install-deps.sh installs libgdcm-tools and dcmtk): %v", tool, err)
			}
			return fmt.Errorf("%s not installed (Debian libgdcm-tools, dcmtk)", tool)
		}
	}
	return nil
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// encode writes src's encodings into dir: NAME.dcm and GDCM's decode NAME.ref.dcm.
func encode(t testing.TB, dir string, src source, encs []encoder) []string {
	t.Helper()
	in := filepath.Join(dir, src.name+".src.dcm")
	if err := src.write(in); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range encs {
		if !e.accepts(src) {
			continue
		}
		name := src.name + "_" + e.name
		out := filepath.Join(dir, name+".dcm")
		run(t, e.tool, append(append([]string{}, e.args...), in, out)...)
		switch {
		case strings.Contains(e.name, "jpegls") && strings.Contains(e.name, "split"):
			// GDCM 3.0.21 cannot decode JPEG-LS frames split over fragments; dcmtk can.
			run(t, "dcmdjpls", out, filepath.Join(dir, name+".ref.dcm"))
		case strings.Contains(e.name, "rle") && src.spp == 3 && src.bits == 16:
			// GDCM 3.0.21 scrambles 16-bit colour RLE on decoding (measured: dcmtk and we give
			// back the source's samples, GDCM does not); dcmtk is the reference there.
			run(t, "dcmdrle", out, filepath.Join(dir, name+".ref.dcm"))
		default:
			run(t, "gdcmconv", "--raw", out, filepath.Join(dir, name+".ref.dcm"))
		}
		names = append(names, name)
	}
	return names
}

// corpusSources are the committed corpus's sources: 8/12/16-bit grey, signed, RGB, odd sizes.
func corpusSources() []source {
	return []source{
		synth("u8", 64, 80, 1, 8, 8, false, 1),
		synth("u12", 61, 79, 1, 16, 12, false, 2),
		synth("u16", 64, 80, 1, 16, 16, false, 3),
		synth("s12", 48, 33, 1, 16, 12, true, 4),
		synth("rgb8", 40, 56, 3, 8, 8, false, 5),
	}
}

// decodeSamples decodes path keeping the stored samples.
func decodeSamples(t testing.TB, path string) *Image {
	t.Helper()
	img, err := DecodeFile(path, Options{keepSamples: true})
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return img
}

// compare decodes the compressed file and a reference decode of it and returns the largest
// sample difference; geometry and colour space must agree.
func compare(t *testing.T, compressed, ref string) int {
	t.Helper()
	got, want := decodeSamples(t, compressed), decodeSamples(t, ref)
	if got.Rows != want.Rows || got.Columns != want.Columns || got.SamplesPerPixel != want.SamplesPerPixel {
		t.Fatalf("%dx%dx%d, reference %dx%dx%d", got.Columns, got.Rows, got.SamplesPerPixel, want.Columns, want.Rows, want.SamplesPerPixel)
	}
	if got.samplesPhotometric != want.samplesPhotometric {
		t.Errorf("colour space %s, reference %s", got.samplesPhotometric, want.samplesPhotometric)
	}
	worst, where := 0, -1
	for i := range want.samples {
		if d := int(got.samples[i]) - int(want.samples[i]); d > worst || -d > worst {
			worst, where = max(d, -d), i
		}
	}
	if where >= 0 {
		t.Logf("largest difference %d at sample %d (ours %d, reference %d)", worst, where, got.samples[where], want.samples[where])
	}
	return worst
}

// TestCodecCorpus checks the committed corpus against the committed GDCM decodes.
func TestCodecCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/codecs/*.ref.dcm")
	if len(files) < 40 {
		t.Fatalf("%d reference files in testdata/codecs; run dicom/testdata/gen_codecs.sh", len(files))
	}
	lossless := map[string]bool{}
	for _, e := range encoders() {
		lossless[e.name] = e.lossless
	}
	for _, ref := range files {
		name := strings.TrimSuffix(filepath.Base(ref), ".ref.dcm")
		t.Run(name, func(t *testing.T) {
			d := compare(t, filepath.Join("testdata/codecs", name+".dcm"), ref)
			isLossless := false
			for enc, l := range lossless {
				if strings.HasSuffix(name, "_"+enc) {
					isLossless = l
				}
			}
			if isLossless && d != 0 {
				t.Errorf("lossless syntax differs from GDCM by %d", d)
			}
			if d > maxLossyDiff {
				t.Errorf("differs from GDCM by %d, more than %d", d, maxLossyDiff)
			}
		})
	}
}

// TestCodecsAgainstTools encodes a larger corpus with dcmtk and GDCM and compares our decodes
// with GDCM's and dcmtk's. With -gen-codecs it rewrites the committed corpus instead.
func TestCodecsAgainstTools(t *testing.T) {
	if !toolsPresent(t) {
		return
	}
	if *genCodecs {
		dir := "testdata/codecs"
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range corpusSources() {
			encode(t, dir, s, encoders())
			os.Remove(filepath.Join(dir, s.name+".src.dcm"))
		}
		return
	}
	dir := t.TempDir()
	srcs := []source{
		synth("u16big", 257, 311, 1, 16, 16, false, 11),
		synth("u10odd", 131, 97, 1, 16, 10, false, 12),
		synth("s16", 64, 72, 1, 16, 16, true, 13),
		synth("u8odd", 99, 101, 1, 8, 8, false, 14),
		synth("rgb8odd", 67, 45, 3, 8, 8, false, 15),
		synth("u3", 32, 40, 1, 16, 3, false, 16),
		synth("rgb16", 33, 41, 3, 16, 16, false, 17),
	}
	var names []string
	for _, s := range srcs {
		encs := encoders()
		if s.name != "u10odd" { // the predictor sweep once here (the committed corpus has it for every depth)
			encs = slices.DeleteFunc(encs, func(e encoder) bool {
				return strings.HasPrefix(e.name, "dcmtk_jpeg_sv") && e.name != "dcmtk_jpeg_sv1"
			})
		}
		names = append(names, encode(t, dir, s, encs)...)
	}
	// The shared CR film (2140x1760, 10 of 16 bits, MONOCHROME1) through each lossless syntax.
	crPath, haveCR := sharedtest.Find(t, "dicom/cr_lidc_chest_monochrome1_explicit_le.dcm")
	if haveCR {
		for _, e := range encoders() {
			switch e.name {
			case "dcmtk_jpeg_sv1", "dcmtk_rle", "gdcm_jpegls", "gdcm_j2k": // one per lossless syntax, to keep the test short
			default:
				continue
			}
			name := "cr_" + e.name
			out := filepath.Join(dir, name+".dcm")
			run(t, e.tool, append(append([]string{}, e.args...), crPath, out)...)
			run(t, "gdcmconv", "--raw", out, filepath.Join(dir, name+".ref.dcm"))
			names = append(names, name)
		}
	}
	lossless := map[string]bool{}
	for _, e := range encoders() {
		lossless[e.name] = e.lossless
	}
	worstLossy := 0
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			in := filepath.Join(dir, name+".dcm")
			d := compare(t, in, filepath.Join(dir, name+".ref.dcm"))
			isLossless := false
			for enc, l := range lossless {
				if strings.HasSuffix(name, "_"+enc) {
					isLossless = l
				}
			}
			if isLossless && d != 0 {
				t.Errorf("lossless: differs from gdcmconv --raw by %d", d)
			}
			// Lossless means the source's samples, too.
			src := filepath.Join(dir, name[:strings.Index(name, "_")]+".src.dcm")
			if strings.HasPrefix(name, "cr_") {
				src = crPath
			}
			if isLossless && !strings.Contains(name, "pt2") {
				if d := compare(t, in, src); d != 0 {
					t.Errorf("lossless: differs from the source by %d", d)
				}
			}
			if !isLossless {
				worstLossy = max(worstLossy, d)
			}
			if d > maxLossyDiff {
				t.Errorf("differs from gdcmconv --raw by %d, more than %d", d, maxLossyDiff)
			}
			// dcmtk as a second reference, where it decodes the syntax.
			var tool string
			switch {
			case strings.Contains(name, "_jpegls_ilvnone") && strings.HasPrefix(name, "rgb16"):
				return // dcmtk 3.6.7's dcmdjpls refuses its own 16-bit colour non-interleaved output
			case strings.Contains(name, "_jpegls"):
				tool = "dcmdjpls"
			case strings.Contains(name, "_jpeg_baseline") && strings.HasPrefix(name, "rgb"):
				return // dcmdjpeg converts YCbCr to RGB where GDCM (the reference) keeps YBR_FULL
			case strings.Contains(name, "_jpeg"):
				tool = "dcmdjpeg"
			case strings.Contains(name, "_rle"):
				tool = "dcmdrle"
			default:
				return
			}
			ref2 := filepath.Join(dir, name+".dcmtk.dcm")
			run(t, tool, in, ref2)
			if d2 := compare(t, in, ref2); (isLossless && d2 != 0) || d2 > maxLossyDiff {
				t.Errorf("differs from %s by %d", tool, d2)
			}
		})
	}
	t.Logf("largest difference on lossy syntaxes: %d", worstLossy)
}

// TestMultiFrameCodecs: the first frame of a 3-frame image in every syntax, with and without a
// Basic Offset Table and with frames split over several fragments, equals the first frame of
// GDCM's decode (dcmtk's for split JPEG-LS, which GDCM refuses), with the multi-frame warning.
func TestMultiFrameCodecs(t *testing.T) {
	if !toolsPresent(t) {
		return
	}
	dir := t.TempDir()
	src := synth("mf", 64, 80, 1, 16, 12, false, 21)
	for k := 1; k < 3; k++ {
		src.pixels = append(src.pixels, synth("mf", 64, 80, 1, 16, 12, false, uint64(21+k)).pixels...)
	}
	src.frames = 3
	encs := []encoder{
		{"jpeg_bot", "dcmcjpeg", []string{"+e1"}, true, all},
		{"jpeg_nobot", "dcmcjpeg", []string{"+e1", "-ot"}, true, all},
		{"jpeg_nobot_split", "dcmcjpeg", []string{"+e1", "-ot", "+fs", "1"}, true, all},
		{"jpeg_bot_split", "dcmcjpeg", []string{"+e1", "+fs", "1"}, true, all},
		{"jpeg12_nobot_split", "dcmcjpeg", []string{"+ee", "-ot", "+fs", "1"}, false, all},
		{"rle_bot", "dcmcrle", nil, true, all},
		{"rle_nobot", "dcmcrle", []string{"-ot"}, true, all},
		{"jpegls_bot_split", "dcmcjpls", []string{"+fs", "1"}, true, all},
		{"jpegls_nobot_split", "dcmcjpls", []string{"-ot", "+fs", "1"}, true, all},
		{"gdcm_j2k", "gdcmconv", []string{"--j2k"}, true, all},
		{"gdcm_jpeg", "gdcmconv", []string{"--jpeg"}, true, all},
	}
	for _, name := range encode(t, dir, src, encs) {
		t.Run(name, func(t *testing.T) {
			in := filepath.Join(dir, name+".dcm")
			if d := compare(t, in, filepath.Join(dir, name+".ref.dcm")); d > maxLossyDiff || (!strings.Contains(name, "jpeg12") && d != 0) {
				t.Errorf("first frame differs from GDCM's by %d", d)
			}
			img := decodeSamples(t, in)
			if !strings.Contains(strings.Join(img.Warnings, "\n"), "multi-frame image (3 frames): only the first is decoded") {
				t.Errorf("warnings %q, want the multi-frame one", img.Warnings)
			}
		})
	}
}
