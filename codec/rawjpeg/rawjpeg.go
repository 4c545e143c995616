// Package rawjpeg decodes JPEG codestreams to their raw samples, one plane per component, the
// way the IJG libjpeg that GDCM and dcmtk carry does: lossless JPEG (processes 14 and 14 SV1,
// predictors 1-7, point transform, 2-16 bits) and sequential Huffman DCT at 8 or 12 bits
// (baseline and extended, libjpeg's accurate integer IDCT). It does no colour conversion and no
// chroma upsampling: the caller decides, from the markers (Frame.JFIF, Frame.Adobe) and what it
// knows of the image, what the components mean.
//
// Progressive, hierarchical and arithmetic-coded streams fail with ErrUnsupported. Memory is
// bounded by the frame header, checked against a pixel limit and against what the compressed
// bytes can hold before anything is allocated.
package rawjpeg

import (
	"errors"
	"fmt"
	"io"

	"github.com/xraygpt-go/xraygpt/codec/jpegbits"
)

// Sentinel errors; Decode's errors wrap one of them.
var (
	// ErrUnsupported: a valid JPEG of a kind this package does not decode.
	ErrUnsupported = errors.New("unsupported JPEG")
	// ErrCorrupt: the codestream is damaged or truncated.
	ErrCorrupt = errors.New("corrupt JPEG")
	// ErrTooLarge: the frame header declares more pixels than allowed.
	ErrTooLarge = errors.New("JPEG too large")
	// ErrProgressive: a progressive JPEG (SOF2), which other decoders
	// handle; it wraps ErrUnsupported.
	ErrProgressive = fmt.Errorf("progressive JPEG (SOF2): %w", ErrUnsupported)
)

// Component is one image component of a frame.
type Component struct {
	ID   int // component identifier from the frame header
	H, V int // sampling factors
	// Width and Height are the component's own dimensions (smaller than the frame's when subsampled).
	Width, Height int
	// Samples holds Width*Height samples, row by row.
	Samples []uint16
}

// Frame is a decoded JPEG image.
type Frame struct {
	Width, Height int
	Precision     int  // sample precision in bits (P in the frame header)
	Lossless      bool // process 14 (SOF3)
	// PointTransform of the (first) lossless scan.
	PointTransform int
	Components     []Component
	JFIF           bool // an APP0 "JFIF" marker was present
	Adobe          bool // an APP14 "Adobe" marker was present
	AdobeTransform int  // its transform flag (0: none, 1: YCbCr, 2: YCCK)
}

type comp struct {
	Component
	tq           int
	dcTab, acTab int
	bw, bh       int     // blocks per row and column, MCU-padded (DCT)
	coef         []int32 // bw*bh*64, natural order (DCT)
	pred         int32   // DC predictor (DCT)
}

// decoder holds the state of one Decode call.
type decoder struct {
	data      []byte
	pos       int
	maxPixels int64

	f          Frame
	comps      []comp
	q          [4][64]uint16
	qDefined   [4]bool
	dc, ac     [4]jpegbits.Huffman
	ri         int
	hmax, vmax int
	mcusX      int
	mcusY      int
	sawFrame   bool
	sawScan    bool
	headerOnly bool // stop at the first scan (DecodeHeader)

	// br reads the entropy-coded segments and the markers, from data at
	// pos (the decoder is its io.ByteReader).
	br *jpegbits.Reader
}

// Decode decodes the JPEG codestream data. maxPixels caps Width x Height (0: no cap besides
// what the data can hold).
func Decode(data []byte, maxPixels int64) (*Frame, error) {
	return decodeFrame(&decoder{data: data, maxPixels: maxPixels})
}

// DecodeHeader reads the markers up to the first scan and returns the
// frame's geometry, precision and sampling without decoding any sample, so
// a caller can choose a decoder first.
func DecodeHeader(data []byte, maxPixels int64) (*Frame, error) {
	return decodeFrame(&decoder{data: data, maxPixels: maxPixels, headerOnly: true})
}

func decodeFrame(d *decoder) (*Frame, error) {
	d.br = jpegbits.NewReader(d)
	if err := d.decode(); err != nil {
		return nil, err
	}
	d.f.Components = make([]Component, len(d.comps))
	for i := range d.comps {
		d.f.Components[i] = d.comps[i].Component
	}
	return &d.f, nil
}

func (d *decoder) corrupt(format string, args ...any) error {
	return fmt.Errorf("%s at byte %d: %w", fmt.Sprintf(format, args...), d.pos, ErrCorrupt)
}

func (d *decoder) u16() (int, error) {
	if d.pos+2 > len(d.data) {
		return 0, d.corrupt("truncated marker segment")
	}
	v := int(d.data[d.pos])<<8 | int(d.data[d.pos+1])
	d.pos += 2
	return v, nil
}

// ReadByte implements io.ByteReader over the data, for d.br.
func (d *decoder) ReadByte() (byte, error) {
	if d.pos >= len(d.data) {
		return 0, io.EOF
	}
	d.pos++
	return d.data[d.pos-1], nil
}

// nextMarker skips to the next marker (tolerating fill bytes and garbage, as libjpeg does).
func (d *decoder) nextMarker() (byte, error) {
	m, err := d.br.NextMarker()
	if err != nil {
		return 0, d.corrupt("unexpected end of data (no EOI marker)")
	}
	return m, nil
}

func (d *decoder) decode() error {
	if len(d.data) < 2 || d.data[0] != 0xff || d.data[1] != 0xd8 {
		return fmt.Errorf("missing SOI marker: %w", ErrCorrupt)
	}
	d.pos = 2
	for {
		m, err := d.nextMarker()
		if err != nil {
			if d.sawScan {
				return d.finish() // libjpeg accepts a missing EOI after the last scan, with a warning
			}
			return err
		}
		switch {
		case m == 0xd9: // EOI
			if !d.sawScan {
				return d.corrupt("no scan before EOI")
			}
			return d.finish()
		case m >= 0xd0 && m <= 0xd7, m == 0x01: // stray RSTn, TEM: no length
			continue
		case m == 0xd8:
			return d.corrupt("unexpected SOI marker")
		}
		n, err := d.u16()
		if err != nil {
			return err
		}
		if n < 2 || d.pos+n-2 > len(d.data) {
			return d.corrupt("marker 0x%02x: length %d runs past the end", m, n)
		}
		seg := d.data[d.pos : d.pos+n-2]
		next := d.pos + n - 2
		switch {
		case m == 0xc0 || m == 0xc1 || m == 0xc3:
			err = d.sof(seg, m == 0xc3)
		case m == 0xc2:
			err = ErrProgressive
		case m >= 0xc5 && m <= 0xcf && m != 0xc8 && m != 0xcc:
			err = fmt.Errorf("hierarchical or arithmetic-coded JPEG (SOF%d): %w", m-0xc0, ErrUnsupported)
		case m == 0xc4:
			err = d.dht(seg)
		case m == 0xcc:
			err = fmt.Errorf("arithmetic coding (DAC): %w", ErrUnsupported)
		case m == 0xdb:
			err = d.dqt(seg)
		case m == 0xdd:
			if len(seg) != 2 {
				return d.corrupt("bad DRI length")
			}
			d.ri = int(seg[0])<<8 | int(seg[1])
		case m == 0xe0:
			if len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
				d.f.JFIF = true
			}
		case m == 0xee:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.f.Adobe, d.f.AdobeTransform = true, int(seg[11])
			}
		case m == 0xda:
			if d.headerOnly {
				if !d.sawFrame {
					return d.corrupt("scan before the frame header")
				}
				return nil
			}
			d.pos = next
			if err := d.sos(seg); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		d.pos = next
	}
}

func (d *decoder) sof(b []byte, lossless bool) error {
	if d.sawFrame {
		return d.corrupt("more than one frame header")
	}
	d.sawFrame = true
	if len(b) < 6 {
		return d.corrupt("short SOF")
	}
	p := int(b[0])
	d.f.Precision, d.f.Lossless = p, lossless
	d.f.Height = int(b[1])<<8 | int(b[2])
	d.f.Width = int(b[3])<<8 | int(b[4])
	nc := int(b[5])
	switch {
	case lossless && (p < 2 || p > 16):
		return d.corrupt("lossless precision %d outside 2..16", p)
	case !lossless && p != 8 && p != 12:
		return d.corrupt("DCT precision %d (must be 8 or 12)", p)
	case d.f.Width == 0 || d.f.Height == 0:
		// Height 0 means "given by a DNL marker" (T.81 B.2.5): libjpeg refuses it too.
		return fmt.Errorf("frame height or width 0 (DNL): %w", ErrUnsupported)
	case nc == 0 || len(b) != 6+3*nc:
		return d.corrupt("bad SOF length for %d components", nc)
	case nc > 4:
		return fmt.Errorf("%d components: %w", nc, ErrUnsupported)
	}
	px := int64(d.f.Width) * int64(d.f.Height)
	if d.maxPixels > 0 && px > d.maxPixels {
		return fmt.Errorf("%dx%d pixels exceed the limit of %d: %w", d.f.Width, d.f.Height, d.maxPixels, ErrTooLarge)
	}
	// Every sample costs at least one bit (lossless) and every DCT block at least two (64
	// samples, or 4 x 64 frame samples for 2x2-subsampled chroma): a frame larger than its
	// data could hold is refused before allocating it.
	perByte := int64(8)
	if !lossless {
		perByte = 4 * 256
	}
	if px*int64(nc) > perByte*int64(len(d.data))+64*64*int64(nc) {
		return d.corrupt("frame declares %dx%dx%d samples, more than its %d bytes can hold", d.f.Width, d.f.Height, nc, len(d.data))
	}
	d.comps = make([]comp, nc)
	d.hmax, d.vmax = 1, 1
	for i := range d.comps {
		c := &d.comps[i]
		c.ID = int(b[6+3*i])
		c.H, c.V = int(b[7+3*i]>>4), int(b[7+3*i]&15)
		c.tq = int(b[8+3*i])
		if c.H < 1 || c.H > 4 || c.V < 1 || c.V > 4 || c.tq > 3 {
			return d.corrupt("component %d: bad sampling factors %dx%d or table %d", c.ID, c.H, c.V, c.tq)
		}
		for j := 0; j < i; j++ {
			if d.comps[j].ID == c.ID {
				return d.corrupt("duplicate component id %d", c.ID)
			}
		}
		d.hmax, d.vmax = max(d.hmax, c.H), max(d.vmax, c.V)
	}
	for i := range d.comps {
		c := &d.comps[i]
		if lossless && (c.H != 1 || c.V != 1) && nc > 1 {
			return fmt.Errorf("lossless JPEG with subsampled components: %w", ErrUnsupported)
		}
		c.Width = (d.f.Width*c.H + d.hmax - 1) / d.hmax
		c.Height = (d.f.Height*c.V + d.vmax - 1) / d.vmax
	}
	if d.headerOnly { // no sample or coefficient buffers
		return nil
	}
	if lossless {
		for i := range d.comps {
			d.comps[i].Samples = make([]uint16, d.comps[i].Width*d.comps[i].Height)
		}
		return nil
	}
	if nc == 1 {
		d.comps[0].H, d.comps[0].V, d.hmax, d.vmax = 1, 1, 1, 1
	}
	d.mcusX = (d.f.Width + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcusY = (d.f.Height + 8*d.vmax - 1) / (8 * d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		c.bw, c.bh = d.mcusX*c.H, d.mcusY*c.V
		c.coef = make([]int32, c.bw*c.bh*64)
	}
	return nil
}

func (d *decoder) dqt(b []byte) error {
	for len(b) > 0 {
		pq, tq := int(b[0]>>4), int(b[0]&15)
		b = b[1:]
		if tq > 3 || pq > 1 {
			return d.corrupt("bad DQT precision %d or table %d", pq, tq)
		}
		size := 64 << pq
		if len(b) < size {
			return d.corrupt("short DQT")
		}
		for k := 0; k < 64; k++ {
			v := uint16(b[k])
			if pq == 1 {
				v = uint16(b[2*k])<<8 | uint16(b[2*k+1])
			}
			d.q[tq][jpegbits.Zigzag[k]] = v
		}
		d.qDefined[tq] = true
		b = b[size:]
	}
	return nil
}

func (d *decoder) dht(b []byte) error {
	for len(b) > 0 {
		if len(b) < 17 {
			return d.corrupt("short DHT")
		}
		class, id := b[0]>>4, int(b[0]&15)
		if class > 1 || id > 3 {
			return d.corrupt("bad DHT class %d or id %d", class, id)
		}
		counts := b[1:17]
		total := 0
		for _, c := range counts {
			total += int(c)
		}
		b = b[17:]
		if total > 256 || total > len(b) {
			return d.corrupt("bad DHT counts")
		}
		h := &d.dc[id]
		if class == 1 {
			h = &d.ac[id]
		}
		if err := h.Build(counts, b[:total]); err != nil {
			return d.corrupt("%v", err)
		}
		b = b[total:]
	}
	return nil
}

// huff reads one Huffman-coded symbol of table h.
func (d *decoder) huff(h *jpegbits.Huffman) (int, error) {
	v, err := d.br.Decode(h)
	if err != nil {
		return 0, d.corrupt("%v", err)
	}
	return v, nil
}

// scan is one parsed start-of-scan header.
type scan struct {
	comps          []*comp
	ss, se, ah, al int
}

func (d *decoder) sos(b []byte) error {
	if !d.sawFrame {
		return d.corrupt("scan before frame header")
	}
	if len(b) < 1 {
		return d.corrupt("short SOS")
	}
	ns := int(b[0])
	if ns < 1 || ns > len(d.comps) || len(b) != 4+2*ns {
		return d.corrupt("bad SOS")
	}
	var s scan
	for i := 0; i < ns; i++ {
		id := int(b[1+2*i])
		var c *comp
		for j := range d.comps {
			if d.comps[j].ID == id {
				c = &d.comps[j]
			}
		}
		if c == nil {
			return d.corrupt("scan names unknown component %d", id)
		}
		c.dcTab, c.acTab = int(b[2+2*i]>>4), int(b[2+2*i]&15)
		if c.dcTab > 3 || c.acTab > 3 {
			return d.corrupt("bad SOS table selector")
		}
		if !d.dc[c.dcTab].Defined || (!d.f.Lossless && !d.ac[c.acTab].Defined) {
			return d.corrupt("scan uses an undefined Huffman table")
		}
		if !d.f.Lossless && !d.qDefined[c.tq] {
			return d.corrupt("component %d uses an undefined quantization table", c.ID)
		}
		s.comps = append(s.comps, c)
	}
	s.ss, s.se = int(b[1+2*ns]), int(b[2+2*ns])
	s.ah, s.al = int(b[3+2*ns]>>4), int(b[3+2*ns]&15)
	d.br.Reset()
	var err error
	if d.f.Lossless {
		err = d.losslessScan(&s)
	} else {
		err = d.dctScan(&s)
	}
	d.sawScan = true
	if err != nil {
		return err
	}
	if d.br.Ended {
		return d.corrupt("scan data truncated")
	}
	return nil
}

// restart consumes an RSTn marker at the end of a restart interval.
func (d *decoder) restart() error {
	if err := d.br.Restart(); err != nil {
		return d.corrupt("%v", err)
	}
	return nil
}
