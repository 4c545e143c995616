// Package jpegbits reads JPEG's entropy-coded data (ITU T.81): Huffman
// tables, the bit reader with byte unstuffing and marker detection, and
// marker scanning. It is the one implementation under both of the
// project's JPEG decoders: imaging's (8-bit baseline and progressive) and
// package rawjpeg (12-bit and lossless, for DICOM).
package jpegbits

import (
	"errors"
	"fmt"
	"io"
)

// ErrBadCode means the data holds a bit string that no code of the
// Huffman table starts with.
var ErrBadCode = errors.New("bad Huffman code")

// lookBits is how many bits the Huffman lookahead table resolves at once.
const lookBits = 9

// Huffman is a decoding table (T.81 Annex C and F.2.2.3).
type Huffman struct {
	look    [1 << lookBits]uint16 // next lookBits bits -> symbol<<8 | length; 0 when longer
	maxcode [18]int32             // largest code of each length, -1 if none
	valptr  [17]int32             // index in vals of the first code of each length
	mincode [17]int32
	vals    [256]uint8
	// Defined says whether a DHT segment has set the table.
	Defined bool
}

// Build sets the table from a DHT segment's 16 code counts and its symbols
// (as many as the counts add up to).
func (h *Huffman) Build(counts, vals []byte) error {
	total := 0
	for _, c := range counts {
		total += int(c)
	}
	if len(counts) != 16 || total > 256 || total != len(vals) {
		return fmt.Errorf("bad Huffman table: %d counts for %d symbols", len(counts), len(vals))
	}
	*h = Huffman{}
	copy(h.vals[:], vals)
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		cnt := int32(counts[l-1])
		if code+cnt > 1<<l {
			return errors.New("bad Huffman table (code overflow)")
		}
		h.valptr[l], h.mincode[l] = k, code
		h.maxcode[l] = -1
		if cnt > 0 {
			h.maxcode[l] = code + cnt - 1
		}
		if l <= lookBits {
			shift := uint(lookBits - l)
			for i := int32(0); i < cnt; i++ {
				c := code + i
				for j := int32(0); j < 1<<shift; j++ {
					h.look[c<<shift|j] = uint16(h.vals[k+i])<<8 | uint16(l)
				}
			}
		}
		code = (code + cnt) << 1
		k += cnt
	}
	h.maxcode[17] = 0x7fffffff
	h.Defined = true
	return nil
}

// Reader reads the bits of entropy-coded segments from src. Stuffed bytes
// (0xFF 0x00) are unstuffed; a marker ends the segment: it is kept in
// Marker and zero bits follow, as libjpeg feeds them, so that decoding can
// run to the end of an MCU before the caller looks. Running out of data
// inside a segment sets Ended.
type Reader struct {
	src   io.ByteReader
	acc   uint64
	nbits uint
	// Marker is the marker met in the data (0: none yet); NextMarker and
	// Restart consume it.
	Marker byte
	// Ended says the data ended inside an entropy-coded segment.
	Ended bool
}

// NewReader returns a Reader of src, which the caller may read from too
// between entropy-coded segments.
func NewReader(src io.ByteReader) *Reader { return &Reader{src: src} }

// Reset starts a new entropy-coded segment (a scan).
func (r *Reader) Reset() { r.acc, r.nbits, r.Marker, r.Ended = 0, 0, 0, false }

// fill tops the bit buffer up to more than 56 bits.
func (r *Reader) fill() {
	for r.nbits <= 56 {
		var c byte
		if r.Marker == 0 && !r.Ended {
			b, err := r.src.ReadByte()
			if err == nil && b == 0xff {
				var b2 byte
				for b2, err = r.src.ReadByte(); err == nil && b2 == 0xff; b2, err = r.src.ReadByte() {
					// fill bytes before a marker
				}
				switch {
				case err != nil:
				case b2 == 0: // a stuffed 0xFF
				default:
					r.Marker, b = b2, 0
				}
			}
			if err != nil {
				r.Ended, b = true, 0
			}
			c = b
		}
		r.acc = r.acc<<8 | uint64(c)
		r.nbits += 8
	}
}

// Bits reads n (at most 16) bits.
func (r *Reader) Bits(n uint) int32 {
	if n == 0 {
		return 0
	}
	if r.nbits < n {
		r.fill()
	}
	r.nbits -= n
	return int32((r.acc >> r.nbits) & (1<<n - 1))
}

// ReceiveExtend reads s bits and sign-extends them (T.81 F.2.2.1).
func (r *Reader) ReceiveExtend(s int) int32 {
	v := r.Bits(uint(s))
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

// Decode reads one Huffman-coded symbol of table h.
func (r *Reader) Decode(h *Huffman) (int, error) {
	if r.nbits < 16 {
		r.fill()
	}
	if e := h.look[(r.acc>>(r.nbits-lookBits))&(1<<lookBits-1)]; e&0xff != 0 {
		r.nbits -= uint(e & 0xff)
		return int(e >> 8), nil
	}
	code := int32(0)
	for l := 1; l <= 16; l++ {
		code = code<<1 | r.Bits(1)
		if code <= h.maxcode[l] {
			return int(h.vals[(h.valptr[l]+code-h.mincode[l])&0xff]), nil
		}
	}
	return 0, ErrBadCode
}

// NextMarker returns the marker the data ended a segment with, or skips to
// the next marker of src (fill bytes and garbage tolerated, as libjpeg
// does) and returns its code; io.ErrUnexpectedEOF when src ends first.
func (r *Reader) NextMarker() (byte, error) {
	if m := r.Marker; m != 0 {
		r.Marker = 0
		return m, nil
	}
	for {
		c, err := r.src.ReadByte()
		if err != nil {
			return 0, io.ErrUnexpectedEOF
		}
		if c != 0xff {
			continue
		}
		for c == 0xff {
			if c, err = r.src.ReadByte(); err != nil {
				return 0, io.ErrUnexpectedEOF
			}
		}
		if c != 0 {
			return c, nil
		}
	}
}

// Restart consumes the RSTn marker that ends a restart interval and starts
// the next interval's bits.
func (r *Reader) Restart() error {
	r.acc, r.nbits = 0, 0
	m, err := r.NextMarker()
	if err != nil {
		return err
	}
	if m < 0xd0 || m > 0xd7 {
		return fmt.Errorf("expected an RST marker, found 0x%02x", m)
	}
	return nil
}

// Zigzag[k] is the natural (row-major) index of the k-th coefficient in
// zigzag order; the 16 extra entries absorb run lengths that overshoot in
// corrupt data, as libjpeg's jpeg_natural_order does.
var Zigzag = [64 + 16]uint8{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
	63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
}

// Block decodes one block of a sequential DCT scan (T.81 F.2.2): the DC
// difference, added to *pred, which becomes blk[0], and the AC
// coefficients, into blk in natural order. A DC difference category above
// maxDC is an error.
func Block[C int16 | int32](r *Reader, dc, ac *Huffman, pred *int32, blk []C, maxDC int) error {
	t, err := r.Decode(dc)
	if err != nil {
		return err
	}
	if t > maxDC {
		return fmt.Errorf("DC difference category %d", t)
	}
	if t > 0 {
		*pred += r.ReceiveExtend(t)
	}
	blk[0] = C(*pred)
	for k := 1; k < 64; k++ {
		rs, err := r.Decode(ac)
		if err != nil {
			return err
		}
		run, s := rs>>4, rs&15
		if s == 0 {
			if run != 15 {
				break
			}
			k += 15
			continue
		}
		k += run
		blk[Zigzag[k]] = C(r.ReceiveExtend(s))
	}
	return nil
}
