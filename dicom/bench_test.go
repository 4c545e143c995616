package dicom

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/xraygpt-go/xraygpt/internal/sharedtest"
)

// BenchmarkDecode reports decode speed in megapixels per second:
//
//	go test ./dicom -run XXX -bench Decode
func BenchmarkDecode(b *testing.B) {
	for _, path := range []string{
		"testdata/cr_small.dcm",
		"testdata/siim_chest_pa_jpeg_baseline.dcm",
		filepath.Join(sharedtest.Dir(), "dicom", "cr_lidc_chest_monochrome1_explicit_le.dcm"),
	} {
		b.Run(filepath.Base(path), func(b *testing.B) {
			if _, err := os.Stat(path); err != nil {
				b.Skip(err)
			}
			var px int
			for i := 0; i < b.N; i++ {
				img, err := DecodeFile(path, Options{})
				if err != nil {
					b.Fatal(err)
				}
				px = img.Rows * img.Columns
			}
			b.ReportMetric(float64(px)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpixel/s")
		})
	}
}

// BenchmarkCodecs decodes a 2048x2500 16-bit (12 bits stored) synthetic radiograph in each
// compressed syntax with this package and with GDCM's `gdcmconv --raw` in the same run (the
// latter includes its process start and writing the output file); the ratio is
// gdcm-ns/op over ours:
//
//	go test ./dicom -run XXX -bench Codecs -benchtime 5x
func BenchmarkCodecs(b *testing.B) {
	if !toolsPresent(b) {
		return
	}
	dir := b.TempDir()
	src := synth("dr", 2500, 2048, 1, 16, 12, false, 99)
	in := filepath.Join(dir, "dr.dcm")
	if err := src.write(in); err != nil {
		b.Fatal(err)
	}
	for _, e := range []encoder{
		{"jpeg_lossless_sv1", "dcmcjpeg", []string{"+e1"}, true, all},
		{"jpeg_extended12", "dcmcjpeg", []string{"+ee", "+q", "90"}, false, all},
		{"rle", "dcmcrle", nil, true, all},
		{"jpegls", "gdcmconv", []string{"--jpegls"}, true, all},
		{"j2k", "gdcmconv", []string{"--j2k"}, true, all},
		{"j2k_lossy", "gdcmconv", []string{"--j2k", "--lossy", "-q", "40"}, false, all},
	} {
		path := filepath.Join(dir, e.name+".dcm")
		run(b, e.tool, append(append([]string{}, e.args...), in, path)...)
		b.Run(e.name+"/ours", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := DecodeFile(path, Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(src.rows*src.cols)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpixel/s")
		})
		b.Run(e.name+"/gdcmconv", func(b *testing.B) {
			out := filepath.Join(dir, e.name+".raw.dcm")
			for i := 0; i < b.N; i++ {
				run(b, "gdcmconv", "--raw", path, out)
			}
			b.ReportMetric(float64(src.rows*src.cols)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpixel/s")
		})
	}
}
