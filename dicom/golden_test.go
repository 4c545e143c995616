package dicom

import (
	"encoding/json"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
)

type goldenCase struct {
	File      string  `json:"file"`
	Shared    bool    `json:"shared"`
	Window    string  `json:"window"`
	Stride    int     `json:"stride"`
	Kind      string  `json:"kind"`
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	Frames    int     `json:"frames"`
	Applied   string  `json:"applied"`
	Low       float64 `json:"low"`
	High      float64 `json:"high"`
	Tolerance int     `json:"tolerance"`
	Mean      float64 `json:"mean"`
	Pixels    []int   `json:"pixels"`
}

func loadGolden(t *testing.T) []goldenCase {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g struct{ Cases []goldenCase }
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 {
		t.Fatal("no golden cases")
	}
	return g.Cases
}

var windowModes = map[string]WindowMode{"auto": WindowAuto, "percentile": WindowPercentile, "minmax": WindowMinMax}

// sample returns the reference value layout of one pixel: grey level, or R, G, B.
func sample(m image.Image, x, y int, kind string) []int {
	switch p := m.(type) {
	case *image.Gray16:
		return []int{int(p.Gray16At(x, y).Y)}
	case *image.Gray:
		return []int{int(p.GrayAt(x, y).Y)}
	case *image.RGBA:
		c := p.RGBAAt(x, y)
		return []int{int(c.R), int(c.G), int(c.B)}
	case *image.RGBA64:
		c := p.RGBA64At(x, y)
		return []int{int(c.R), int(c.G), int(c.B)}
	}
	return nil
}

// TestGolden compares decoded pixels with references computed by pydicom 2.3 + numpy (VOI
// window via pydicom's apply_windowing, percentile via numpy.percentile) and, for JPEG frames,
// Pillow's libjpeg decode. Regenerate with:
//
//	/usr/bin/python3 dicom/testdata/gen_testdata.py
func TestGolden(t *testing.T) {
	for _, gc := range loadGolden(t) {
		name := gc.File + "/" + gc.Window
		if gc.Shared {
			name = "shared/" + name
		}
		t.Run(name, func(t *testing.T) {
			// Shared cases read the full-size files of ../shared/data/dicom.
			path := filepath.Join("testdata", gc.File)
			if gc.Shared {
				path = sharedtest.Path(t, "dicom/"+gc.File)
			}
			img, err := DecodeFile(path, Options{Window: windowModes[gc.Window]})
			if err != nil {
				t.Fatal(err)
			}
			if img.Columns != gc.Width || img.Rows != gc.Height || img.Frames != gc.Frames {
				t.Fatalf("got %dx%d, %d frames; want %dx%d, %d", img.Columns, img.Rows, img.Frames, gc.Width, gc.Height, gc.Frames)
			}
			if b := img.Pixels.Bounds(); b.Dx() != gc.Width || b.Dy() != gc.Height {
				t.Fatalf("pixels %v, want %dx%d", b, gc.Width, gc.Height)
			}
			wantType := map[string]string{"gray16": "*image.Gray16", "gray": "*image.Gray", "rgb": "*image.RGBA", "rgb64": "*image.RGBA64"}[gc.Kind]
			if got := typeName(img.Pixels); got != wantType {
				t.Fatalf("pixels are %s, want %s", got, wantType)
			}
			if img.Window.String() != gc.Applied {
				t.Errorf("window %v, want %s", img.Window, gc.Applied)
			}
			if math.Abs(img.WindowLow-gc.Low) > 1e-9 || math.Abs(img.WindowHigh-gc.High) > 1e-9 {
				t.Errorf("window range [%g, %g], want [%g, %g]", img.WindowLow, img.WindowHigh, gc.Low, gc.High)
			}
			if gc.Frames > 1 && !hasWarning(img, "multi-frame") {
				t.Errorf("no multi-frame warning in %q", img.Warnings)
			}
			i, worst, sum, n := 0, 0, 0.0, 0
			for y := 0; y < gc.Height; y += gc.Stride {
				for x := 0; x < gc.Width; x += gc.Stride {
					for _, v := range sample(img.Pixels, x, y, gc.Kind) {
						if i >= len(gc.Pixels) {
							t.Fatalf("more samples than the %d golden ones", len(gc.Pixels))
						}
						d := v - gc.Pixels[i]
						if d < 0 {
							d = -d
						}
						if d > worst {
							worst = d
						}
						if d > gc.Tolerance && n < 5 {
							t.Errorf("pixel (%d,%d): got %d, want %d ± %d", x, y, v, gc.Pixels[i], gc.Tolerance)
							n++
						}
						i++
					}
				}
			}
			if i != len(gc.Pixels) {
				t.Fatalf("compared %d samples, golden has %d", i, len(gc.Pixels))
			}
			// The mean over all pixels, to catch what the sampling grid misses.
			b := img.Pixels.Bounds()
			for y := 0; y < b.Dy(); y++ {
				for x := 0; x < b.Dx(); x++ {
					for _, v := range sample(img.Pixels, x, y, gc.Kind) {
						sum += float64(v)
					}
				}
			}
			channels := 1
			if strings.HasPrefix(gc.Kind, "rgb") {
				channels = 3
			}
			mean := sum / float64(b.Dx()*b.Dy()*channels)
			if math.Abs(mean-gc.Mean) > 0.5 {
				t.Errorf("mean %.3f, want %.3f", mean, gc.Mean)
			}
			t.Logf("max abs difference %d over %d samples; mean %.3f (reference %.3f)", worst, i, mean, gc.Mean)
		})
	}
}

func typeName(m image.Image) string {
	switch m.(type) {
	case *image.Gray16:
		return "*image.Gray16"
	case *image.Gray:
		return "*image.Gray"
	case *image.RGBA:
		return "*image.RGBA"
	case *image.RGBA64:
		return "*image.RGBA64"
	}
	return "other"
}

func hasWarning(img *Image, substr string) bool {
	for _, w := range img.Warnings {
		if strings.Contains(w, substr) {
			return true
		}
	}
	return false
}
