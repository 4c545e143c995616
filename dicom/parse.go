package dicom

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// dcmTag is a DICOM attribute tag: group in the high 16 bits, element in the low 16.
type dcmTag uint32

// String formats t as (gggg,eeee).
func (t dcmTag) String() string { return fmt.Sprintf("(%04x,%04x)", uint32(t)>>16, uint32(t)&0xffff) }

func (t dcmTag) group() uint16 { return uint16(t >> 16) }

// Tags the decoder reads or branches on.
const (
	tagTransferSyntax     dcmTag = 0x00020010
	tagSOPClassUID        dcmTag = 0x00080016
	tagModality           dcmTag = 0x00080060
	tagBodyPart           dcmTag = 0x00180015
	tagViewPosition       dcmTag = 0x00185101
	tagSamplesPerPixel    dcmTag = 0x00280002
	tagPhotometric        dcmTag = 0x00280004
	tagPlanarConfig       dcmTag = 0x00280006
	tagNumberOfFrames     dcmTag = 0x00280008
	tagRows               dcmTag = 0x00280010
	tagColumns            dcmTag = 0x00280011
	tagPixelSpacing       dcmTag = 0x00280030
	tagBitsAllocated      dcmTag = 0x00280100
	tagBitsStored         dcmTag = 0x00280101
	tagHighBit            dcmTag = 0x00280102
	tagPixelRepresent     dcmTag = 0x00280103
	tagWindowCenter       dcmTag = 0x00281050
	tagWindowWidth        dcmTag = 0x00281051
	tagRescaleIntercept   dcmTag = 0x00281052
	tagRescaleSlope       dcmTag = 0x00281053
	tagVOILUTFunction     dcmTag = 0x00281056
	tagModalityLUTSeq     dcmTag = 0x00283000
	tagVOILUTSeq          dcmTag = 0x00283010
	tagFloatPixelData     dcmTag = 0x7fe00008
	tagDoublePixelData    dcmTag = 0x7fe00009
	tagPixelData          dcmTag = 0x7fe00010
	tagItem               dcmTag = 0xfffee000
	tagItemDelimitation   dcmTag = 0xfffee00d
	tagSequenceDelimition dcmTag = 0xfffee0dd
)

// wanted lists the attributes whose values are kept; everything else is skipped unread.
var wanted = map[dcmTag]bool{
	tagTransferSyntax: true, tagSOPClassUID: true, tagModality: true, tagBodyPart: true,
	tagViewPosition: true, tagSamplesPerPixel: true, tagPhotometric: true, tagPlanarConfig: true,
	tagNumberOfFrames: true, tagRows: true, tagColumns: true, tagPixelSpacing: true,
	tagBitsAllocated: true, tagBitsStored: true, tagHighBit: true, tagPixelRepresent: true,
	tagWindowCenter: true, tagWindowWidth: true, tagRescaleIntercept: true, tagRescaleSlope: true,
	tagVOILUTFunction: true,
}

// binaryUS lists the wanted attributes whose VR is US (binary); the others are text.
var binaryUS = map[dcmTag]bool{
	tagSamplesPerPixel: true, tagPlanarConfig: true, tagRows: true, tagColumns: true,
	tagBitsAllocated: true, tagBitsStored: true, tagHighBit: true, tagPixelRepresent: true,
}

const (
	undefinedLength = 0xffffffff
	maxValueLen     = 4096    // longest wanted value kept
	maxDepth        = 16      // nesting of sequences inside sequences
	maxElements     = 1 << 20 // elements and items per file, all levels together
)

// longVRs have a 2-byte reserved field and a 4-byte length in explicit VR encoding (PS3.5 7.1.2).
var longVRs = map[string]bool{
	"OB": true, "OD": true, "OF": true, "OL": true, "OV": true, "OW": true, "SQ": true,
	"SV": true, "UC": true, "UN": true, "UR": true, "UT": true, "UV": true,
}

var knownVRs = map[string]bool{
	"AE": true, "AS": true, "AT": true, "CS": true, "DA": true, "DS": true, "DT": true,
	"FD": true, "FL": true, "IS": true, "LO": true, "LT": true, "PN": true, "SH": true,
	"SL": true, "SS": true, "ST": true, "TM": true, "UI": true, "UL": true, "US": true,
	"OB": true, "OD": true, "OF": true, "OL": true, "OV": true, "OW": true, "SQ": true,
	"SV": true, "UC": true, "UN": true, "UR": true, "UT": true, "UV": true,
}

// element is a kept attribute value.
type element struct {
	vr  string
	val []byte
	bo  binary.ByteOrder
}

// header is one element's tag, VR and length as read from the stream.
type header struct {
	tag    dcmTag
	vr     string // "" for items and delimiters, and in implicit VR for unknown tags
	length uint32
	off    int64 // offset of the header
}

// cursor reads elements from r between off and end.
type cursor struct {
	r        io.ReaderAt
	s        *streamAt // non-nil when r is a stream of unknown size: bytes are checked as they arrive
	off, end int64
	bo       binary.ByteOrder
	explicit bool
	count    *int // elements read, shared by all cursors of one decode
}

func (c *cursor) left() int64 { return c.end - c.off }

// errAt returns a malformed-file error at tag t and offset off; ErrTooLarge instead when an
// argument is an error wrapping it (a stream longer than Options.MaxBytes).
func errAt(t dcmTag, off int64, format string, args ...any) error {
	kind := ErrMalformed
	for _, a := range args {
		if err, ok := a.(error); ok && errors.Is(err, ErrTooLarge) {
			kind = ErrTooLarge
		}
	}
	return fmt.Errorf("tag %v at offset %d: %s: %w", t, off, fmt.Sprintf(format, args...), kind)
}

// has checks that n bytes exist at off, without allocating them: against the size for a sized
// reader, by reading ahead for a stream.
func (c *cursor) has(off, n int64) error {
	if n < 0 || off < 0 {
		return fmt.Errorf("invalid length %d at offset %d", n, off)
	}
	if c.s == nil {
		if n > c.end-off {
			return fmt.Errorf("need %d bytes at offset %d, %d left", n, off, max(c.end-off, 0))
		}
		return nil
	}
	want := off + n
	got := c.s.fill(min(want, c.end))
	switch {
	case got >= want:
		return nil
	case c.s.err != nil && !errors.Is(c.s.err, io.EOF):
		return fmt.Errorf("read at offset %d: %w", got, c.s.err)
	case c.s.err == nil && got >= c.end:
		return fmt.Errorf("need %d bytes at offset %d: more than the %d bytes allowed: %w", n, off, c.end, ErrTooLarge)
	}
	return fmt.Errorf("need %d bytes at offset %d, %d left", n, off, max(got-off, 0))
}

// readAt returns n bytes at off; they are checked to exist before anything is allocated.
func (c *cursor) readAt(off, n int64) ([]byte, error) {
	if err := c.has(off, n); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	k, err := c.r.ReadAt(b, off)
	if int64(k) < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read %d bytes at offset %d: %w", n, off, err)
	}
	return b, nil
}

// read returns the next n bytes and advances past them.
func (c *cursor) read(n int64) ([]byte, error) {
	b, err := c.readAt(c.off, n)
	if err == nil {
		c.off += n
	}
	return b, err
}

// peek returns the next n bytes without advancing, or fewer at the end.
func (c *cursor) peek(n int64) []byte {
	n = min(n, c.left())
	if n <= 0 {
		return nil
	}
	if c.s != nil {
		c.s.fill(c.off + n)
	}
	b := make([]byte, n)
	k, _ := c.r.ReadAt(b, c.off)
	return b[:k]
}

func (c *cursor) skip(t dcmTag, n int64) error {
	if err := c.has(c.off, n); err != nil {
		return errAt(t, c.off, "value length %d: %v (truncated file?)", n, err)
	}
	c.off += n
	return nil
}

func isItemTag(t dcmTag) bool { return t.group() == 0xfffe }

// readHeader reads one element header in the cursor's encoding.
func (c *cursor) readHeader() (header, error) {
	h := header{off: c.off}
	*c.count++
	if *c.count > maxElements {
		return h, fmt.Errorf("offset %d: more than %d elements: %w", c.off, maxElements, ErrMalformed)
	}
	b, err := c.read(8)
	if err != nil {
		return h, errAt(0, h.off, "element header: %v", err)
	}
	h.tag = dcmTag(uint32(c.bo.Uint16(b[0:]))<<16 | uint32(c.bo.Uint16(b[2:])))
	if !c.explicit || isItemTag(h.tag) {
		h.length = c.bo.Uint32(b[4:])
		if !isItemTag(h.tag) {
			h.vr = implicitVR(h.tag)
		}
		return h, nil
	}
	h.vr = string(b[4:6])
	if !knownVRs[h.vr] {
		return h, errAt(h.tag, h.off, "invalid VR %q in explicit VR data", b[4:6])
	}
	if !longVRs[h.vr] {
		h.length = uint32(c.bo.Uint16(b[6:]))
		return h, nil
	}
	l, err := c.read(4)
	if err != nil {
		return h, errAt(h.tag, h.off, "element header: %v", err)
	}
	h.length = c.bo.Uint32(l)
	return h, nil
}

// implicitVR is the VR of the attributes the decoder interprets; others are UN.
func implicitVR(t dcmTag) string {
	switch {
	case binaryUS[t]:
		return "US"
	case t == tagPixelData:
		return "OW"
	case t == tagModalityLUTSeq || t == tagVOILUTSeq:
		return "SQ"
	}
	return "UN"
}

// dataset holds what the parser kept from one file.
type dataset struct {
	elems     map[dcmTag]element
	pixel     header // the top-level Pixel Data header; tag 0 when absent
	pixelOff  int64  // offset of its value
	pixelCur  cursor // cursor positioned at the value, for encapsulated items
	hasModLUT bool
	hasVOILUT bool
}

// parse reads elements until Pixel Data or the end, keeping the wanted ones.
func (c *cursor) parse(ds *dataset, stopGroup int) error {
	for c.left() > 0 {
		if c.s != nil && c.s.fill(c.off+1) <= c.off {
			return nil // a stream (or inflated data set) that ends between elements
		}
		if stopGroup >= 0 {
			if b := c.peek(2); len(b) < 2 || int(binary.LittleEndian.Uint16(b)) != stopGroup {
				return nil
			}
		}
		h, err := c.readHeader()
		if err != nil {
			return err
		}
		switch h.tag {
		case tagPixelData:
			ds.pixel, ds.pixelOff, ds.pixelCur = h, c.off, *c
			return nil
		case tagFloatPixelData, tagDoublePixelData:
			return fmt.Errorf("tag %v: float pixel data: %w", h.tag, ErrUnsupported)
		case tagModalityLUTSeq:
			ds.hasModLUT = true
		case tagVOILUTSeq:
			ds.hasVOILUT = true
		case tagItemDelimitation, tagSequenceDelimition:
			continue // stray delimiter at the top level: nothing to skip
		}
		if h.length == undefinedLength {
			if err := c.skipSequence(h, 1); err != nil {
				return err
			}
			continue
		}
		if wanted[h.tag] && h.length <= maxValueLen {
			v, err := c.read(int64(h.length))
			if err != nil {
				return errAt(h.tag, h.off, "value: %v", err)
			}
			ds.elems[h.tag] = element{vr: h.vr, val: v, bo: c.bo}
			continue
		}
		if err := c.skip(h.tag, int64(h.length)); err != nil {
			return err
		}
	}
	return nil
}

// skipSequence skips an undefined-length value (a sequence, or UN holding one) up to and
// including its Sequence Delimitation Item.
func (c *cursor) skipSequence(h header, depth int) error {
	if depth > maxDepth {
		return errAt(h.tag, h.off, "sequences nested deeper than %d", maxDepth)
	}
	inner := *c
	if h.vr == "UN" && c.explicit {
		// PS3.5 6.2.2: UN with undefined length holds implicit VR little endian data.
		inner.explicit, inner.bo = false, binary.LittleEndian
	}
	for {
		it, err := inner.readHeader()
		if err != nil {
			return errAt(h.tag, h.off, "sequence not terminated: %v", err)
		}
		switch it.tag {
		case tagSequenceDelimition:
			c.off = inner.off
			return nil
		case tagItem:
		default:
			return errAt(it.tag, it.off, "expected an item (fffe,e000) in the sequence %v", h.tag)
		}
		if it.length != undefinedLength {
			if err := inner.skip(it.tag, int64(it.length)); err != nil {
				return err
			}
			continue
		}
		if err := inner.skipItem(it, depth); err != nil {
			return err
		}
	}
}

// skipItem skips the elements of an undefined-length item up to its Item Delimitation Item.
func (c *cursor) skipItem(it header, depth int) error {
	for {
		h, err := c.readHeader()
		if err != nil {
			return errAt(it.tag, it.off, "item not terminated: %v", err)
		}
		switch {
		case h.tag == tagItemDelimitation:
			return nil
		case h.tag == tagSequenceDelimition || h.tag == tagItem:
			return errAt(h.tag, h.off, "unexpected delimiter inside an item")
		case h.length == undefinedLength:
			if err := c.skipSequence(h, depth+1); err != nil {
				return err
			}
		default:
			if err := c.skip(h.tag, int64(h.length)); err != nil {
				return err
			}
		}
	}
}

// str returns the text value of t with padding trimmed.
func (ds *dataset) str(t dcmTag) string {
	e, ok := ds.elems[t]
	if !ok {
		return ""
	}
	return strings.Trim(string(e.val), " \x00")
}

// strs returns the backslash-separated values of t, each trimmed.
func (ds *dataset) strs(t dcmTag) []string {
	s := ds.str(t)
	if s == "" {
		return nil
	}
	parts := strings.Split(s, `\`)
	for i, p := range parts {
		parts[i] = strings.Trim(p, " \x00")
	}
	return parts
}

// uint returns the first value of a US attribute (or an IS written as text) and whether it was present and valid.
func (ds *dataset) uint(t dcmTag) (int, bool) {
	e, ok := ds.elems[t]
	if !ok {
		return 0, false
	}
	switch e.vr {
	case "IS", "DS", "CS", "LO", "SH", "ST":
		return ds.int(t)
	case "UL", "SL":
		if len(e.val) >= 4 {
			return int(e.bo.Uint32(e.val)), true
		}
	}
	if len(e.val) >= 2 {
		return int(e.bo.Uint16(e.val)), true
	}
	return 0, false
}

// int returns the first value of an IS attribute.
func (ds *dataset) int(t dcmTag) (int, bool) {
	v := ds.strs(t)
	if len(v) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(v[0], "+"))
	if err != nil {
		f, ferr := strconv.ParseFloat(v[0], 64)
		if ferr != nil || f != float64(int(f)) {
			return 0, false
		}
		n = int(f)
	}
	return n, true
}

// floats returns the finite values of a DS attribute; ok is false when a value does not parse.
func (ds *dataset) floats(t dcmTag) (vals []float64, ok bool) {
	for _, s := range ds.strs(t) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f != f || f > 1e300 || f < -1e300 {
			return vals, false
		}
		vals = append(vals, f)
	}
	return vals, true
}
