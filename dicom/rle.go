package dicom

import (
	"encoding/binary"
	"fmt"
)

// decodeRLE decodes one RLE Lossless frame (PS3.5 Annex G) into words, pixel-interleaved: a
// 64-byte header (the segment count and 15 offsets), then one PackBits segment per byte
// plane, most significant byte first, sample by sample. Each segment decodes to exactly
// rows*cols bytes; output is bounded by that, whatever the segments hold.
func decodeRLE(frame []byte, rows, cols, spp, bitsAllocated int) ([]uint16, error) {
	if bitsAllocated != 8 && bitsAllocated != 16 {
		return nil, fmt.Errorf("RLE with Bits Allocated %d: %w", bitsAllocated, ErrUnsupported)
	}
	if len(frame) < 64 {
		return nil, fmt.Errorf("RLE header: %d bytes, need 64: %w", len(frame), ErrMalformed)
	}
	bytesPer := bitsAllocated / 8
	nseg := int(binary.LittleEndian.Uint32(frame))
	want := spp * bytesPer
	if nseg != want {
		return nil, fmt.Errorf("RLE header: %d segments, %d samples of %d bits need %d: %w", nseg, spp, bitsAllocated, want, ErrMalformed)
	}
	n := rows * cols
	// A PackBits replicate run turns 2 bytes into at most 128: refuse a frame whose segments
	// could not hold the declared size before allocating it.
	if int64(n)*int64(nseg) > 64*int64(len(frame))+1024 {
		return nil, fmt.Errorf("RLE frame of %d bytes cannot hold %d segments of %dx%d bytes: %w", len(frame), nseg, cols, rows, ErrMalformed)
	}
	words := make([]uint16, n*spp)
	plane := make([]byte, n)
	for s := 0; s < nseg; s++ {
		start := int64(binary.LittleEndian.Uint32(frame[4+4*s:]))
		end := int64(len(frame))
		if s+1 < nseg {
			end = int64(binary.LittleEndian.Uint32(frame[8+4*s:]))
		}
		if start < 64 || start > end || end > int64(len(frame)) {
			return nil, fmt.Errorf("RLE segment %d: offsets %d..%d outside the frame's %d bytes: %w", s+1, start, end, len(frame), ErrMalformed)
		}
		got, err := unpackBits(frame[start:end], plane)
		if err != nil {
			return nil, fmt.Errorf("RLE segment %d at byte %d: %v: %w", s+1, start, err, ErrMalformed)
		}
		if got < n {
			return nil, fmt.Errorf("RLE segment %d at byte %d: %d bytes decoded, %d expected: %w", s+1, start, got, n, ErrMalformed)
		}
		sample, byteIdx := s/bytesPer, s%bytesPer
		shift := uint(8 * (bytesPer - 1 - byteIdx))
		for i, b := range plane {
			words[i*spp+sample] |= uint16(b) << shift
		}
	}
	return words, nil
}

// unpackBits decodes a PackBits segment into out, stopping when out is full (encoders may pad
// a segment to an even length), and returns the number of bytes written.
func unpackBits(src, out []byte) (int, error) {
	o := 0
	for i := 0; i < len(src) && o < len(out); {
		c := int8(src[i])
		i++
		switch {
		case c >= 0:
			k := int(c) + 1
			if i+k > len(src) {
				return o, fmt.Errorf("literal run of %d bytes past the segment's end", k)
			}
			o += copy(out[o:], src[i:i+k])
			i += k
		case c != -128:
			if i >= len(src) {
				return o, fmt.Errorf("replicate run without its byte")
			}
			k := 1 - int(c)
			v := src[i]
			i++
			for end := min(o+k, len(out)); o < end; o++ {
				out[o] = v
			}
		}
	}
	return o, nil
}
