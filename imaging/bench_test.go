package imaging

import (
	"image"
	"math/rand/v2"
	"testing"
	"time"
)

// xraySized is a synthetic 2048x2500 image (the size of a typical digital
// chest radiograph) with smooth structure and noise, as gray or RGB.
func xraySized(rgb bool) image.Image {
	const w, h = 2048, 2500
	r := rand.New(rand.NewPCG(1, 2))
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 60 + (x*x/w+y*y/h)*120/(w+h) + r.IntN(30)
			g.Pix[y*g.Stride+x] = uint8(min(v, 255))
		}
	}
	if !rgb {
		return g
	}
	return grayToRGBA(g)
}

// BenchmarkBLIP2Eval measures the whole XrayGPT preprocessing (8-bit
// conversion, Pillow bicubic 2048x2500 -> 224x224, normalisation) of an
// X-ray-sized image, gray (the usual case) and RGB.
//
//	go test ./imaging -run '^$' -bench BLIP2Eval -benchtime 20x
func BenchmarkBLIP2Eval(b *testing.B) {
	for _, tc := range []struct {
		name string
		rgb  bool
	}{{"gray", false}, {"rgb", true}} {
		img := xraySized(tc.rgb)
		b.Run(tc.name, func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := BLIP2Eval(img, BLIP2Size, CLIPMean(), CLIPStd()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/image")
		})
	}
}

// BenchmarkMedCLIPEval: the same image through MedCLIP's pad, resize and
// normalise.
//
//	go test ./imaging -run '^$' -bench MedCLIPEval -benchtime 20x
func BenchmarkMedCLIPEval(b *testing.B) {
	img := xraySized(false)
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := MedCLIPEval(img, MedCLIPSize, MedCLIPMean, MedCLIPStd); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/image")
}
