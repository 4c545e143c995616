package dicom

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkDecode reports decode speed in megapixels per second:
//
//	go test ./dicom -run XXX -bench Decode
func BenchmarkDecode(b *testing.B) {
	for _, path := range []string{
		"testdata/cr_small.dcm",
		"testdata/siim_chest_pa_jpeg_baseline.dcm",
		filepath.Join(sharedDir, "cr_lidc_chest_monochrome1_explicit_le.dcm"),
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
