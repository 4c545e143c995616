package imaging

import (
	"encoding/binary"
	"encoding/json"
	"image"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
)

// The goldens are Pillow 9.4's outputs, written by testdata/gen_golden.py.
// Regenerate them (and the synthetic inputs in testdata/in) with
//
//	/usr/bin/python3 imaging/testdata/gen_golden.py
//
// Tolerances, in 8-bit units before normalisation: mean absolute
// difference <= 0.5 and max <= 2 per pixel. This package does better: every
// input, PNG and JPEG (its JPEG decoder reproduces libjpeg-turbo's IDCT,
// chroma upsampling and colour conversion), must match Pillow byte for byte,
// so exact is demanded; the measured differences are logged.
const (
	tolMean = 0.5
	tolMax  = 2
)

type manifest struct {
	Pillow     string       `json:"pillow"`
	Size       int          `json:"size"`
	NormStride int          `json:"norm_stride"`
	Cases      []goldenCase `json:"cases"`
}

type goldenCase struct {
	Name        string `json:"name"`
	Input       string `json:"input"`
	PillowMode  string `json:"pillow_mode"`
	Size        [2]int `json:"size"`
	Scaled16    bool   `json:"scaled16"`
	BLIP2       string `json:"blip2"`
	MedCLIP     string `json:"medclip"`
	BLIP2Norm   string `json:"blip2_norm"`
	MedCLIPNorm string `json:"medclip_norm"`
}

func readManifest(t *testing.T, dir string) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Size == 0 || len(m.Cases) == 0 {
		t.Fatalf("%s: empty manifest", dir)
	}
	return m
}

// goldenPlanes reads a golden PNG as CHW bytes with the given channel count
// (an L golden is expanded to 3 channels when 3 are wanted).
func goldenPlanes(t *testing.T, path string, channels int) []uint8 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	n := b.Dx() * b.Dy()
	out := make([]uint8, channels*n)
	switch m := img.(type) {
	case *image.Gray:
		for c := 0; c < channels; c++ {
			copy(out[c*n:], m.Pix)
		}
	case *image.RGBA:
		if channels != 3 {
			t.Fatalf("%s: RGB golden where gray was expected", path)
		}
		for i := 0; i < n; i++ {
			for c := 0; c < 3; c++ {
				out[c*n+i] = m.Pix[4*i+c]
			}
		}
	default:
		t.Fatalf("%s: golden decoded as %T", path, img)
	}
	return out
}

type diffStats struct {
	mean    float64
	max     int
	nDiffer int
}

func diff(got, want []uint8) diffStats {
	var s diffStats
	var sum float64
	for i := range want {
		d := int(got[i]) - int(want[i])
		if d < 0 {
			d = -d
		}
		if d > 0 {
			s.nDiffer++
		}
		sum += float64(d)
		s.max = max(s.max, d)
	}
	s.mean = sum / float64(len(want))
	return s
}

// checkGoldens compares the pipelines with every case of the manifest in dir.
// exact demands byte equality.
func checkGoldens(t *testing.T, dir, inputBase string, exact bool) {
	man := readManifest(t, dir)
	for _, c := range man.Cases {
		t.Run(c.Name, func(t *testing.T) {
			in := c.Input
			if !filepath.IsAbs(in) {
				in = filepath.Join(inputBase, in)
			}
			img, err := Load(in)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != c.Size[0] || b.Dy() != c.Size[1] {
				t.Fatalf("decoded %v, Pillow %v", b.Size(), c.Size)
			}
			for _, p := range []struct {
				name     string
				golden   string
				channels int
				run      func(image.Image, int) ([]uint8, error)
			}{
				{"blip2", c.BLIP2, 3, blip2Pixels},
				{"medclip", c.MedCLIP, 1, medclipPixels},
			} {
				want := goldenPlanes(t, filepath.Join(dir, p.golden), p.channels)
				got, err := p.run(img, man.Size)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("%s: %d values, golden %d", p.name, len(got), len(want))
				}
				s := diff(got, want)
				t.Logf("%-7s %-4s %4dx%-4d mean|d| %.4f/255  max %d/255  differing %d/%d",
					p.name, c.PillowMode, c.Size[0], c.Size[1], s.mean, s.max, s.nDiffer, len(want))
				if s.mean > tolMean || s.max > tolMax {
					t.Errorf("%s: mean %.4f max %d exceed the tolerance (mean %.1f, max %d)", p.name, s.mean, s.max, tolMean, tolMax)
				}
				if exact && s.max != 0 {
					t.Errorf("%s: %d values differ from Pillow", p.name, s.nDiffer)
				}
			}
		})
	}
}

// TestGoldens compares BLIP2Eval's and MedCLIPEval's 8-bit pixels with
// Pillow 9.4 on the committed inputs (real X-rays, JPEGs of each chroma
// subsampling, and synthetic edge cases: 1x1, 2x3, 1000x3, 3x1000, 50x40
// upscaling, 16-bit gray ramp, gray+alpha, RGBA, palette+tRNS, 4-bit gray,
// 16-bit gray+alpha/RGB/RGBA).
func TestGoldens(t *testing.T) {
	checkGoldens(t, filepath.Join("testdata", "golden"), "testdata", true)
}

// TestGoldensNormalized compares the float32 outputs with torch's ToTensor +
// Normalize (BLIP-2) and NumPy's feature-extractor arithmetic (MedCLIP),
// sampled every norm_stride elements, and checks that for every case the
// float output is the golden bytes through the same normalisation.
func TestGoldensNormalized(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	man := readManifest(t, dir)
	checked := 0
	for _, c := range man.Cases {
		img, err := Load(filepath.Join("testdata", c.Input))
		if err != nil {
			t.Fatal(err)
		}
		blip, err := BLIP2Eval(img, man.Size, CLIPMean(), CLIPStd())
		if err != nil {
			t.Fatal(err)
		}
		med, err := MedCLIPEval(img, man.Size, MedCLIPMean, MedCLIPStd)
		if err != nil {
			t.Fatal(err)
		}
		if len(blip) != 3*man.Size*man.Size || len(med) != man.Size*man.Size {
			t.Fatalf("%s: lengths %d, %d", c.Name, len(blip), len(med))
		}
		for _, p := range []struct {
			file string
			got  []float32
		}{{c.BLIP2Norm, blip}, {c.MedCLIPNorm, med}} {
			if p.file == "" {
				continue
			}
			want := readF32(t, filepath.Join(dir, p.file))
			maxd := 0.0
			for i, w := range want {
				g := p.got[i*man.NormStride]
				maxd = math.Max(maxd, math.Abs(float64(g)-float64(w)))
				if g != w && math.Abs(float64(g-w)) > 1e-6 {
					t.Errorf("%s %s[%d]: %v, reference %v", c.Name, p.file, i*man.NormStride, g, w)
					break
				}
			}
			t.Logf("%s %s: %d samples, max |diff| %.3g", c.Name, p.file, len(want), maxd)
			checked++
		}
	}
	if checked < 4 {
		t.Fatalf("only %d normalised references checked", checked)
	}
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// TestSharedData runs the golden comparison over every PNG and JPEG in
// ../shared/data (the IU X-ray PNGs, the XrayGPT examples and README JPEGs).
// Their goldens are not committed (the IU images may not be redistributed in
// modified form), so this test makes them with Pillow and is opt-in:
//
//	IMAGING_PILLOW=/usr/bin/python3 go test ./imaging -run SharedData -v
func TestSharedData(t *testing.T) {
	py := os.Getenv("IMAGING_PILLOW")
	if py == "" {
		t.Skip("set IMAGING_PILLOW=/usr/bin/python3 to compare with Pillow on ../shared/data")
	}
	files := sharedtest.Glob(t, "*/*.png", "*/*/*.png", "*/*.jpg", "*/*/*.jpg")
	out := t.TempDir()
	args := append([]string{filepath.Join("testdata", "gen_golden.py"), "--goldens-only", "--out", out}, files...)
	if b, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("gen_golden.py: %v\n%s", err, b)
	}
	checkGoldens(t, out, "", true)
}
