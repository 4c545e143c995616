package dicom

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"testing"
)

// ljpegEncode writes a lossless JPEG (SOF3) of nc interleaved full-resolution components with
// predictor pred, point transform pt and a restart interval of ri MCUs (0: none), the way
// T.81 Annex H describes; no encoder of the reference toolkits writes restart intervals in
// lossless JPEG, so the tests write them here and let GDCM and dcmtk judge the result.
// Every difference category has a 5-bit code (symbol k is code k).
func ljpegEncode(planes [][]uint16, w, h, prec, pred, pt, ri int) []byte {
	nc := len(planes)
	out := []byte{0xff, 0xd8}
	seg := func(m byte, body ...byte) {
		out = append(out, 0xff, m)
		out = binary.BigEndian.AppendUint16(out, uint16(len(body)+2))
		out = append(out, body...)
	}
	dht := []byte{0x00, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for k := 0; k <= 16; k++ {
		dht = append(dht, byte(k))
	}
	seg(0xc4, dht...)
	sof := []byte{byte(prec), byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(nc)}
	sos := []byte{byte(nc)}
	for k := 0; k < nc; k++ {
		sof = append(sof, byte(k+1), 0x11, 0)
		sos = append(sos, byte(k+1), 0x00)
	}
	seg(0xc3, sof...)
	if ri > 0 {
		seg(0xdd, byte(ri>>8), byte(ri))
	}
	seg(0xda, append(sos, byte(pred), 0, byte(pt))...)

	var acc uint64
	var nbits uint
	put := func(v uint64, n uint) {
		acc, nbits = acc<<n|v&(1<<n-1), nbits+n
		for nbits >= 8 {
			b := byte(acc >> (nbits - 8))
			out = append(out, b)
			if b == 0xff {
				out = append(out, 0)
			}
			nbits -= 8
		}
	}
	initial := int32(1) << uint(prec-pt-1)
	firstRow, restartX, mcus, rst := 0, 0, 0, 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if ri > 0 && mcus == ri {
				if nbits > 0 {
					put(1<<(8-nbits)-1, 8-nbits) // pad with ones
				}
				out = append(out, 0xff, 0xd0+byte(rst%8))
				rst++
				mcus = 0
				firstRow, restartX = y, x
			}
			mcus++
			for _, p := range planes {
				at := func(xx, yy int) int32 { return int32(p[yy*w+xx] >> uint(pt)) }
				var px int32
				switch {
				case y == firstRow && x == restartX:
					px = initial
				case y == firstRow && x > restartX:
					px = at(x-1, y)
				case x == 0:
					px = at(0, y-1)
				default:
					ra, rb, rc := at(x-1, y), at(x, y-1), at(x-1, y-1)
					px = [8]int32{0, ra, rb, rc, ra + rb - rc, ra + (rb-rc)>>1, rb + (ra-rc)>>1, (ra + rb) >> 1}[pred]
				}
				d := int32(int16(uint16(at(x, y) - px)))
				if d == -32768 {
					put(16, 5)
					continue
				}
				mag := d
				if d < 0 {
					mag = -d
				}
				cat := uint(bits.Len32(uint32(mag)))
				put(uint64(cat), 5)
				if d < 0 {
					d--
				}
				put(uint64(uint32(d)), cat)
			}
		}
	}
	if nbits > 0 {
		put(1<<(8-nbits)-1, 8-nbits)
	}
	return append(out, 0xff, 0xd9)
}

// losslessFile wraps a lossless JPEG frame in a DICOM file.
func losslessFile(rows, cols, spp, stored int, frame []byte) []byte {
	b := newFile("1.2.840.10008.1.2.4.57", true)
	b.str(tagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7").str(0x00080018, "UI", "1.2.3.4.6")
	pi := "MONOCHROME2"
	if spp == 3 {
		pi = "RGB"
	}
	b.us(tagSamplesPerPixel, uint16(spp)).str(tagPhotometric, "CS", pi)
	if spp == 3 {
		b.us(tagPlanarConfig, 0)
	}
	alloc := 8
	if stored > 8 {
		alloc = 16
	}
	b.us(tagRows, uint16(rows)).us(tagColumns, uint16(cols))
	b.us(tagBitsAllocated, uint16(alloc)).us(tagBitsStored, uint16(stored)).us(tagHighBit, uint16(stored-1)).us(tagPixelRepresent, 0)
	b.header(tagPixelData, "OB", undefinedLength)
	b.header(tagItem, "", 0)
	if len(frame)%2 == 1 {
		frame = append(frame, 0)
	}
	b.raw(tagItem, "", frame)
	b.header(tagSequenceDelimition, "", 0)
	return b.bytes()
}

// TestLosslessRestartIntervals: lossless JPEG with restart intervals (one and three rows),
// every predictor, one and three components, 8 to 16 bits: our samples equal the source's and
// GDCM's and dcmtk's decodes of the same file.
func TestLosslessRestartIntervals(t *testing.T) {
	haveTools := toolsMissing(t) == nil
	dir := t.TempDir()
	for _, c := range []struct {
		nc, prec, pred, pt, riRows int
	}{
		{1, 16, 1, 0, 1}, {1, 12, 2, 0, 3}, {1, 12, 3, 0, 1}, {1, 16, 4, 0, 2}, {1, 10, 5, 0, 1},
		{1, 16, 6, 0, 4}, {1, 8, 7, 0, 1}, {1, 12, 7, 2, 2}, {3, 8, 1, 0, 1}, {3, 8, 6, 0, 3}, {3, 16, 7, 0, 1},
	} {
		name := fmt.Sprintf("nc%d_p%d_sv%d_pt%d_ri%d", c.nc, c.prec, c.pred, c.pt, c.riRows)
		t.Run(name, func(t *testing.T) {
			rows, cols := 37, 29
			src := synth(name, rows, cols, c.nc, map[bool]int{true: 16, false: 8}[c.prec > 8], c.prec, false, uint64(c.pred*100+c.prec))
			planes := make([][]uint16, c.nc)
			for k := range planes {
				planes[k] = make([]uint16, rows*cols)
				for i := range planes[k] {
					planes[k][i] = src.pixels[i*c.nc+k] >> uint(c.pt) << uint(c.pt) // what survives the point transform
				}
			}
			path := filepath.Join(dir, name+".dcm")
			frame := ljpegEncode(planes, cols, rows, c.prec, c.pred, c.pt, c.riRows*cols)
			if err := os.WriteFile(path, losslessFile(rows, cols, c.nc, c.prec, frame), 0o644); err != nil {
				t.Fatal(err)
			}
			img := decodeSamples(t, path)
			for i, v := range img.samples {
				if want := int32(planes[i%c.nc][i/c.nc]); v != want {
					t.Fatalf("sample %d: %d, source %d", i, v, want)
				}
			}
			if !haveTools {
				return
			}
			for _, tool := range [][]string{{"gdcmconv", "--raw"}, {"dcmdjpeg"}} {
				ref := filepath.Join(dir, name+"."+tool[0]+".dcm")
				run(t, tool[0], append(tool[1:], path, ref)...)
				if d := compare(t, path, ref); d != 0 {
					t.Errorf("differs from %s by %d", tool[0], d)
				}
			}
		})
	}
}
