package dicom

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// fuzzMaxPixels keeps decoded images small, so allocation is bounded by the input's size.
const fuzzMaxPixels = 1 << 16

// allocBound is what decoding n bytes may allocate: a few copies of the input, the deflate
// expansion allowed for deflated data sets (1032:1 and its buffer growth), and the fixed
// per-image work at fuzzMaxPixels (samples, output, lookup table and histogram of 2^16 entries).
func allocBound(n int) uint64 {
	return uint64(n)*2*1032 + 16<<20
}

// FuzzDecode: arbitrary bytes never panic, never hang, never allocate beyond allocBound, and
// Decode (sized) and DecodeReader (stream) agree on success and size.
// Seeds are the small test files (the JPEG one cut to its first 4 KiB) and a few headers.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.dcm")
	codecs, _ := filepath.Glob("testdata/codecs/u8_*.dcm") // one of each codec, 1-9 KiB
	files = append(files, codecs...)
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) > 8<<10 {
			data = data[:4<<10]
		}
		f.Add(data)
	}
	f.Add(encapsulated(8, 8, []byte{0xff, 0xd8, 0xff, 0xd9}))
	f.Add(newFile(ExplicitVRLittleEndian, true).image(2, 2, 16, 1, "MONOCHROME1").raw(tagPixelData, "OW", make([]byte, 8)).bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		var img *Image
		var err error
		n := allocated(func() {
			img, err = Decode(bytes.NewReader(data), int64(len(data)), Options{MaxPixels: fuzzMaxPixels})
		})
		if n > allocBound(len(data)) {
			t.Fatalf("%d input bytes allocated %d bytes", len(data), n)
		}
		var simg *Image
		var serr error
		n = allocated(func() {
			simg, serr = DecodeReader(bytes.NewReader(data), Options{MaxPixels: fuzzMaxPixels})
		})
		if n > allocBound(len(data)) {
			t.Fatalf("stream: %d input bytes allocated %d bytes", len(data), n)
		}
		if (err == nil) != (serr == nil) {
			t.Fatalf("Decode: %v; DecodeReader: %v", err, serr)
		}
		DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return
		}
		if simg.Pixels.Bounds() != img.Pixels.Bounds() {
			t.Fatalf("Decode %v, DecodeReader %v", img.Pixels.Bounds(), simg.Pixels.Bounds())
		}
		b := img.Pixels.Bounds()
		if b.Dx() != img.Columns || b.Dy() != img.Rows || b.Dx()*b.Dy() > fuzzMaxPixels {
			t.Fatalf("pixels %v for %dx%d", b, img.Columns, img.Rows)
		}
	})
}
