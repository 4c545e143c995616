package rawjpeg

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// FuzzDecode: arbitrary bytes never panic or hang, and allocate no more than the frame header
// allows and the data can hold. Seeds are the JPEG codestreams of dicom/testdata/codecs
// (lossless, 8- and 12-bit DCT), cut out of their DICOM files.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("../../dicom/testdata/codecs/*_jpeg*.dcm")
	for _, p := range files {
		if bytes.Contains([]byte(p), []byte("jpegls")) || bytes.Contains([]byte(p), []byte(".ref.")) {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if i := bytes.Index(data, []byte{0xff, 0xd8, 0xff}); i >= 0 {
			f.Add(data[i:])
		}
	}
	f.Add([]byte{0xff, 0xd8, 0xff, 0xc3, 0, 11, 16, 0, 2, 0, 2, 1, 1, 0x11, 0, 0xff, 0xd9})
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fr, err := Decode(data, 1<<16)
		runtime.ReadMemStats(&after)
		// Samples (2 bytes, and 4 per DCT coefficient) of at most 8 samples per input byte (lossless),
		// or at most 4 components of 1<<16 samples (DCT), plus tables.
		if n := after.TotalAlloc - before.TotalAlloc; n > uint64(len(data))*8*4*4+4<<20 {
			t.Fatalf("%d input bytes allocated %d bytes", len(data), n)
		}
		if err != nil {
			return
		}
		for _, c := range fr.Components {
			if len(c.Samples) != c.Width*c.Height || c.Width > fr.Width || c.Height > fr.Height {
				t.Fatalf("component %d: %d samples for %dx%d in a %dx%d frame", c.ID, len(c.Samples), c.Width, c.Height, fr.Width, fr.Height)
			}
		}
	})
}
