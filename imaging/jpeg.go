package imaging

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"

	"github.com/xraygpt-go/xraygpt/codec/jpegbits"
	"github.com/xraygpt-go/xraygpt/codec/rawjpeg"
)

// This file is a JPEG decoder (baseline and progressive Huffman, 8-bit,
// gray or 3-component) written so that its samples equal libjpeg-turbo's
// (what Pillow uses): the IDCT is libjpeg's "islow" integer algorithm
// (Loeffler-Ligtenberg-Moschytz, 13-bit constants, 2 extra bits between
// passes, libjpeg's range-limit table) instead of image/jpeg's, which differs
// by one on about 1.4% of samples. Chroma upsampling and YCbCr->RGB are done
// libjpeg's way in convert.go. Lossless and 12-bit files go to package
// rawjpeg (grey, or lossless RGB); other files it does not handle (arithmetic
// coding, CMYK, unusual sampling factors) go to image/jpeg.

// errFallback asks decodeJPEG's caller to use image/jpeg (or, for lossless and 12-bit files,
// package rawjpeg) instead.
var errFallback = errors.New("jpeg: not handled by the libjpeg-compatible path")

type jcomp struct {
	id, h, v, tq int
	bw, bh       int     // blocks per row and column, MCU-padded
	coef         []int16 // bw*bh*64, natural order
	pred         int32   // DC predictor
	dcTab, acTab int
}

type jpegDec struct {
	r        *bufio.Reader
	q        [4][64]uint16 // natural order
	qDefined [4]bool
	dc, ac   [4]jpegbits.Huffman
	comps    []jcomp
	w, h     int
	hmax     int
	vmax     int
	mcusX    int
	mcusY    int
	prog     bool
	ri       int // restart interval in MCUs
	jfif     bool
	adobe    bool
	adobeT   int
	eobrun   int
	raw      bool // lossless or 12-bit: decoded by package rawjpeg
	// maxPixels guards the coefficient allocation (the caller has checked
	// the same header already; this keeps the decoder safe on its own).
	maxPixels int64
	// br reads the entropy-coded segments and the markers from r.
	br *jpegbits.Reader
}

// decodeJPEG decodes r. Files this decoder does not handle are detected
// before the first scan and handed, with the bytes consumed so far, to
// image/jpeg.
func decodeJPEG(r io.Reader, maxPixels int64) (image.Image, error) {
	var head bytes.Buffer
	rec := &limitedRecorder{r: r, buf: &head, max: DefaultMaxHeaderBytes}
	d := &jpegDec{r: bufio.NewReaderSize(rec, 1<<16), maxPixels: maxPixels}
	d.br = jpegbits.NewReader(d.r)
	img, err := d.decode(rec)
	if errors.Is(err, errFallback) {
		if rec.overflow {
			return nil, fmt.Errorf("header longer than %d bytes", rec.max)
		}
		// Replay what was consumed (including bufio's read-ahead), then the rest.
		if d.raw {
			return decodeRawJPEG(io.MultiReader(bytes.NewReader(head.Bytes()), r), maxPixels)
		}
		return jpeg.Decode(io.MultiReader(bytes.NewReader(head.Bytes()), r))
	}
	return img, err
}

// limitedRecorder copies what is read into buf until stopped (at the first
// scan) or until max bytes, past which a fallback is impossible.
type limitedRecorder struct {
	r        io.Reader
	buf      *bytes.Buffer
	max      int
	stopped  bool
	overflow bool
}

func (l *limitedRecorder) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if !l.stopped && n > 0 {
		if l.buf.Len()+n > l.max {
			l.overflow = true
			l.stopped = true
			l.buf.Reset()
		} else {
			l.buf.Write(p[:n])
		}
	}
	return n, err
}

func (d *jpegDec) readFull(p []byte) error {
	if _, err := io.ReadFull(d.r, p); err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

func (d *jpegDec) u16() (int, error) {
	var b [2]byte
	if err := d.readFull(b[:]); err != nil {
		return 0, err
	}
	return int(b[0])<<8 | int(b[1]), nil
}

func (d *jpegDec) decode(rec *limitedRecorder) (image.Image, error) {
	var soi [2]byte
	if err := d.readFull(soi[:]); err != nil {
		return nil, err
	}
	if soi[0] != 0xff || soi[1] != 0xd8 {
		return nil, errors.New("missing SOI marker")
	}
	sawFrame, sawScan := false, false
	for {
		m, err := d.br.NextMarker()
		if err != nil {
			if sawScan && errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("truncated after a scan: %w", err)
			}
			return nil, err
		}
		switch {
		case m == 0xd9: // EOI
			if !sawScan {
				return nil, errors.New("no image data before EOI")
			}
			return d.finish()
		case m >= 0xd0 && m <= 0xd7: // stray RSTn: ignore
			continue
		case m == 0x01: // TEM, no length
			continue
		case m == 0xd8:
			return nil, errors.New("unexpected SOI marker")
		}
		n, err := d.u16()
		if err != nil {
			return nil, err
		}
		if n < 2 {
			return nil, fmt.Errorf("marker %#x: bad length %d", m, n)
		}
		n -= 2
		switch {
		case m == 0xc0 || m == 0xc1 || m == 0xc2:
			if sawFrame {
				return nil, errors.New("more than one frame header")
			}
			sawFrame = true
			if err := d.sof(n, m == 0xc2); err != nil {
				return nil, err
			}
		case m == 0xc3:
			d.raw = true // lossless: package rawjpeg
			return nil, errFallback
		case m >= 0xc5 && m <= 0xcf && m != 0xc8 && m != 0xcc:
			return nil, errFallback // hierarchical, arithmetic
		case m == 0xc4:
			if err := d.dht(n); err != nil {
				return nil, err
			}
		case m == 0xdb:
			if err := d.dqt(n); err != nil {
				return nil, err
			}
		case m == 0xdd:
			if n != 2 {
				return nil, errors.New("bad DRI length")
			}
			if d.ri, err = d.u16(); err != nil {
				return nil, err
			}
		case m == 0xda:
			if !sawFrame {
				return nil, errors.New("scan before frame header")
			}
			if !sawScan {
				if err := d.checkSupported(); err != nil {
					return nil, err
				}
				rec.stopped = true
				sawScan = true
			}
			if err := d.sos(n); err != nil {
				return nil, err
			}
		case m == 0xe0 || m == 0xee:
			if err := d.app(m, n); err != nil {
				return nil, err
			}
		default: // other APPn, COM, DNL, ...: skip
			if _, err := d.r.Discard(n); err != nil {
				return nil, io.ErrUnexpectedEOF
			}
		}
	}
}

func (d *jpegDec) app(m byte, n int) error {
	b := make([]byte, n)
	if err := d.readFull(b); err != nil {
		return err
	}
	if m == 0xe0 && n >= 5 && string(b[:5]) == "JFIF\x00" {
		d.jfif = true
	}
	if m == 0xee && n >= 12 && string(b[:5]) == "Adobe" {
		d.adobe = true
		d.adobeT = int(b[11])
	}
	return nil
}

func (d *jpegDec) sof(n int, progressive bool) error {
	if n < 6 {
		return errors.New("short SOF")
	}
	b := make([]byte, n)
	if err := d.readFull(b); err != nil {
		return err
	}
	if b[0] != 8 {
		d.raw = b[0] == 12 && !progressive // 12-bit sequential: package rawjpeg
		return errFallback
	}
	d.prog = progressive
	d.h = int(b[1])<<8 | int(b[2])
	d.w = int(b[3])<<8 | int(b[4])
	nc := int(b[5])
	if d.w == 0 || d.h == 0 {
		return errors.New("zero image size")
	}
	if int64(d.w)*int64(d.h) > d.maxPixels {
		return fmt.Errorf("%w: %dx%d", ErrTooLarge, d.w, d.h)
	}
	if n != 6+3*nc || nc == 0 {
		return errors.New("bad SOF length")
	}
	if nc != 1 && nc != 3 {
		return errFallback // CMYK/YCCK (refused later), 2 components
	}
	d.comps = make([]jcomp, nc)
	d.hmax, d.vmax = 1, 1
	for i := range d.comps {
		c := &d.comps[i]
		c.id = int(b[6+3*i])
		c.h, c.v = int(b[7+3*i]>>4), int(b[7+3*i]&15)
		c.tq = int(b[8+3*i])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return errors.New("bad sampling factor or table")
		}
		if nc == 1 { // a single component is always one block per MCU
			c.h, c.v = 1, 1
		}
		d.hmax, d.vmax = max(d.hmax, c.h), max(d.vmax, c.v)
	}
	d.mcusX = (d.w + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcusY = (d.h + 8*d.vmax - 1) / (8 * d.vmax)
	return nil
}

// checkSupported runs once the frame is known, before any scan data.
func (d *jpegDec) checkSupported() error {
	if len(d.comps) == 3 {
		y, cb, cr := d.comps[0], d.comps[1], d.comps[2]
		if cb.h != 1 || cb.v != 1 || cr.h != 1 || cr.v != 1 {
			return errFallback
		}
		if _, ok := ratio(y.h, y.v); !ok {
			return errFallback
		}
		if d.isRGB() && (y.h != 1 || y.v != 1) {
			return errFallback
		}
	}
	for i := range d.comps {
		c := &d.comps[i]
		c.bw, c.bh = d.mcusX*c.h, d.mcusY*c.v
		c.coef = make([]int16, c.bw*c.bh*64)
	}
	return nil
}

// isRGB is libjpeg's guess that a 3-component file holds RGB, not YCbCr.
func (d *jpegDec) isRGB() bool {
	if d.jfif {
		return false
	}
	if d.adobe {
		return d.adobeT == 0
	}
	c := d.comps
	return c[0].id == 'R' && c[1].id == 'G' && c[2].id == 'B'
}

func ratio(h, v int) (image.YCbCrSubsampleRatio, bool) {
	switch {
	case h == 1 && v == 1:
		return image.YCbCrSubsampleRatio444, true
	case h == 2 && v == 1:
		return image.YCbCrSubsampleRatio422, true
	case h == 2 && v == 2:
		return image.YCbCrSubsampleRatio420, true
	case h == 1 && v == 2:
		return image.YCbCrSubsampleRatio440, true
	case h == 4 && v == 1:
		return image.YCbCrSubsampleRatio411, true
	case h == 4 && v == 2:
		return image.YCbCrSubsampleRatio410, true
	}
	return 0, false
}

func (d *jpegDec) dqt(n int) error {
	for n > 0 {
		b, err := d.r.ReadByte()
		if err != nil {
			return io.ErrUnexpectedEOF
		}
		n--
		pq, tq := b>>4, int(b&15)
		if tq > 3 || pq > 1 {
			return errors.New("bad DQT")
		}
		size := 64 << pq
		if n < size {
			return errors.New("short DQT")
		}
		buf := make([]byte, size)
		if err := d.readFull(buf); err != nil {
			return err
		}
		n -= size
		for k := 0; k < 64; k++ {
			v := uint16(buf[k])
			if pq == 1 {
				v = uint16(buf[2*k])<<8 | uint16(buf[2*k+1])
			}
			d.q[tq][jpegbits.Zigzag[k]] = v
		}
		d.qDefined[tq] = true
	}
	return nil
}

func (d *jpegDec) dht(n int) error {
	for n > 0 {
		if n < 17 {
			return errors.New("short DHT")
		}
		var b [17]byte
		if err := d.readFull(b[:]); err != nil {
			return err
		}
		n -= 17
		class, id := b[0]>>4, int(b[0]&15)
		if class > 1 || id > 3 {
			return errors.New("bad DHT class or id")
		}
		total := 0
		for _, c := range b[1:] {
			total += int(c)
		}
		if total > 256 || total > n {
			return errors.New("bad DHT counts")
		}
		h := &d.dc[id]
		if class == 1 {
			h = &d.ac[id]
		}
		var vals [256]byte
		if err := d.readFull(vals[:total]); err != nil {
			return err
		}
		n -= total
		if err := h.Build(b[1:], vals[:total]); err != nil {
			return err
		}
	}
	return nil
}

// bit reads one bit.
func (d *jpegDec) bit() bool { return d.br.Bits(1) != 0 }

func (d *jpegDec) sos(n int) error {
	if n < 1 {
		return errors.New("short SOS")
	}
	b := make([]byte, n)
	if err := d.readFull(b); err != nil {
		return err
	}
	ns := int(b[0])
	if ns < 1 || ns > len(d.comps) || n != 4+2*ns {
		return errors.New("bad SOS")
	}
	scomps := make([]*jcomp, ns)
	for i := 0; i < ns; i++ {
		id := int(b[1+2*i])
		var c *jcomp
		for j := range d.comps {
			if d.comps[j].id == id {
				c = &d.comps[j]
			}
		}
		if c == nil {
			return errors.New("SOS names an unknown component")
		}
		c.dcTab, c.acTab = int(b[2+2*i]>>4), int(b[2+2*i]&15)
		if c.dcTab > 3 || c.acTab > 3 {
			return errors.New("bad SOS table")
		}
		scomps[i] = c
	}
	ss, se := int(b[1+2*ns]), int(b[2+2*ns])
	ah, al := int(b[3+2*ns]>>4), int(b[3+2*ns]&15)
	if !d.prog {
		ss, se, ah, al = 0, 63, 0, 0
	} else {
		if ss > se || se > 63 || al > 13 || (ss == 0 && se != 0) || (ss > 0 && ns != 1) {
			return errors.New("bad progressive scan parameters")
		}
	}
	needDC := !d.prog || (ss == 0 && ah == 0)
	needAC := !d.prog || ss > 0
	for _, c := range scomps {
		if (needDC && !d.dc[c.dcTab].Defined) || (needAC && !d.ac[c.acTab].Defined) {
			return errors.New("scan uses an undefined Huffman table")
		}
		if !d.qDefined[c.tq] {
			return errors.New("component uses an undefined quantization table")
		}
	}

	d.br.Reset()
	d.eobrun = 0
	for i := range d.comps {
		d.comps[i].pred = 0
	}

	// MCU geometry: interleaved scans follow the frame's MCUs; a single
	// component scan walks that component's own (unpadded) blocks.
	var mx, my int
	if ns == 1 {
		c := scomps[0]
		cw := (d.w*c.h + d.hmax - 1) / d.hmax
		chh := (d.h*c.v + d.vmax - 1) / d.vmax
		mx, my = (cw+7)/8, (chh+7)/8
	} else {
		mx, my = d.mcusX, d.mcusY
	}
	restarts := 0
	for my0 := 0; my0 < my; my0++ {
		for mx0 := 0; mx0 < mx; mx0++ {
			if d.ri > 0 && restarts == d.ri {
				if err := d.restart(); err != nil {
					return err
				}
				restarts = 0
			}
			restarts++
			for _, c := range scomps {
				if ns == 1 {
					if err := d.block(c, c.coef[(my0*c.bw+mx0)*64:][:64], ss, se, ah, al); err != nil {
						return err
					}
					continue
				}
				for v := 0; v < c.v; v++ {
					for h := 0; h < c.h; h++ {
						bx, by := mx0*c.h+h, my0*c.v+v
						if err := d.block(c, c.coef[(by*c.bw+bx)*64:][:64], ss, se, ah, al); err != nil {
							return err
						}
					}
				}
			}
			if d.br.Ended {
				return io.ErrUnexpectedEOF
			}
		}
	}
	return nil
}

// restart consumes an RSTn marker and resets the predictors.
func (d *jpegDec) restart() error {
	if err := d.br.Restart(); err != nil {
		return err
	}
	for i := range d.comps {
		d.comps[i].pred = 0
	}
	d.eobrun = 0
	return nil
}

// block decodes one block's part of the current scan into blk (natural
// order, quantised coefficients), following libjpeg's jdhuff.c/jdphuff.c.
func (d *jpegDec) block(c *jcomp, blk []int16, ss, se, ah, al int) error {
	if !d.prog {
		return jpegbits.Block(d.br, &d.dc[c.dcTab], &d.ac[c.acTab], &c.pred, blk, 16)
	}
	if ss == 0 { // DC scans
		if ah == 0 {
			s, err := d.br.Decode(&d.dc[c.dcTab])
			if err != nil {
				return err
			}
			if s > 16 {
				return errors.New("bad DC magnitude")
			}
			if s > 0 {
				c.pred += d.br.ReceiveExtend(s)
			}
			blk[0] = int16(c.pred << al)
		} else if d.bit() {
			blk[0] |= int16(1 << al)
		}
		return nil
	}
	ac := &d.ac[c.acTab]
	if ah == 0 { // AC first pass
		if d.eobrun > 0 {
			d.eobrun--
			return nil
		}
		for k := ss; k <= se; k++ {
			rs, err := d.br.Decode(ac)
			if err != nil {
				return err
			}
			r, s := rs>>4, rs&15
			if s != 0 {
				k += r
				blk[jpegbits.Zigzag[k]] = int16(d.br.ReceiveExtend(s) << al)
			} else {
				if r != 15 {
					d.eobrun = 1 << r
					if r > 0 {
						d.eobrun += int(d.br.Bits(uint(r)))
					}
					d.eobrun--
					break
				}
				k += 15
			}
		}
		return nil
	}
	// AC refinement.
	p1 := int16(1 << al)
	m1 := int16(-1 << al)
	refine := func(z int) {
		if coef := blk[z]; coef != 0 && d.bit() && coef&p1 == 0 {
			if coef >= 0 {
				blk[z] += p1
			} else {
				blk[z] += m1
			}
		}
	}
	k := ss
	if d.eobrun == 0 {
		for ; k <= se; k++ {
			rs, err := d.br.Decode(ac)
			if err != nil {
				return err
			}
			r, s := rs>>4, rs&15
			var val int16
			if s != 0 {
				if s != 1 {
					return errors.New("bad AC refinement magnitude")
				}
				val = m1
				if d.bit() {
					val = p1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r > 0 {
					d.eobrun += int(d.br.Bits(uint(r)))
				}
				break
			}
			for k <= se {
				z := int(jpegbits.Zigzag[k])
				if blk[z] != 0 {
					refine(z)
				} else {
					r--
					if r < 0 {
						break
					}
				}
				k++
			}
			if val != 0 {
				blk[jpegbits.Zigzag[k]] = val
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= se; k++ {
			refine(int(jpegbits.Zigzag[k]))
		}
		d.eobrun--
	}
	return nil
}

// finish runs the IDCT and assembles the image.
func (d *jpegDec) finish() (image.Image, error) {
	planes := make([][]uint8, len(d.comps))
	for i := range d.comps {
		c := &d.comps[i]
		stride := c.bw * 8
		p := make([]uint8, stride*c.bh*8)
		q := &d.q[c.tq]
		for by := 0; by < c.bh; by++ {
			for bx := 0; bx < c.bw; bx++ {
				rawjpeg.IDCT8(c.coef[(by*c.bw+bx)*64:][:64], q, p[by*8*stride+bx*8:], stride)
			}
		}
		c.coef = nil
		planes[i] = p
	}
	r := image.Rect(0, 0, d.w, d.h)
	if len(d.comps) == 1 {
		return &image.Gray{Pix: planes[0], Stride: d.comps[0].bw * 8, Rect: r}, nil
	}
	if d.isRGB() { // 1x1 sampling only (checkSupported)
		out := image.NewRGBA(r)
		s := d.comps[0].bw * 8
		for y := 0; y < d.h; y++ {
			for x := 0; x < d.w; x++ {
				o := out.PixOffset(x, y)
				out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = planes[0][y*s+x], planes[1][y*s+x], planes[2][y*s+x], 0xff
			}
		}
		return out, nil
	}
	sr, _ := ratio(d.comps[0].h, d.comps[0].v)
	return &image.YCbCr{
		Y: planes[0], Cb: planes[1], Cr: planes[2],
		YStride: d.comps[0].bw * 8, CStride: d.comps[1].bw * 8,
		SubsampleRatio: sr, Rect: r,
	}, nil
}

// decodeRawJPEG decodes a lossless or 12-bit JPEG with package rawjpeg: grey becomes an
// *image.Gray16 (samples scaled from their precision to 16 bits), 3-component lossless an
// *image.RGBA64 (lossless JPEG is never colour-transformed). 12-bit colour is refused.
func decodeRawJPEG(r io.Reader, maxPixels int64) (image.Image, error) {
	// At most 4 bytes per sample (a 16-bit category code and 16 extra bits) for 3 components.
	limit := maxPixels*12 + 1<<20
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d compressed bytes for %d pixels", ErrTooLarge, limit, maxPixels)
	}
	f, err := rawjpeg.Decode(data, maxPixels)
	switch {
	case errors.Is(err, rawjpeg.ErrUnsupported):
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	case errors.Is(err, rawjpeg.ErrTooLarge):
		return nil, fmt.Errorf("%w: %v", ErrTooLarge, err)
	case err != nil:
		return nil, err
	}
	r16 := image.Rect(0, 0, f.Width, f.Height)
	maxv := uint32(1)<<uint(f.Precision) - 1
	scale := func(v uint16) uint16 { return uint16((uint32(v)*65535 + maxv/2) / maxv) }
	switch {
	case len(f.Components) == 1:
		out := image.NewGray16(r16)
		for i, v := range f.Components[0].Samples {
			s := scale(v)
			out.Pix[2*i], out.Pix[2*i+1] = uint8(s>>8), uint8(s)
		}
		return out, nil
	case len(f.Components) == 3 && f.Lossless:
		out := image.NewRGBA64(r16)
		for i := 0; i < f.Width*f.Height; i++ {
			for k := 0; k < 3; k++ {
				v := scale(f.Components[k].Samples[i])
				out.Pix[8*i+2*k], out.Pix[8*i+2*k+1] = uint8(v>>8), uint8(v)
			}
			out.Pix[8*i+6], out.Pix[8*i+7] = 0xff, 0xff
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: %d-component %d-bit JPEG", ErrUnsupported, len(f.Components), f.Precision)
}

// jpegConfig is image/jpeg's DecodeConfig, extended to the lossless and 12-bit files that
// decodeRawJPEG reads (image/jpeg calls them unsupported).
func jpegConfig(r io.Reader) (image.Config, error) {
	var seen bytes.Buffer
	cfg, err := jpeg.DecodeConfig(io.TeeReader(r, &seen))
	var ue jpeg.UnsupportedError
	if !errors.As(err, &ue) {
		return cfg, err
	}
	// Walk the markers again, up to the frame header.
	br := bufio.NewReader(io.MultiReader(&seen, r))
	var soi [2]byte
	if _, err := io.ReadFull(br, soi[:]); err != nil {
		return cfg, err
	}
	for {
		var m [4]byte
		if _, err := io.ReadFull(br, m[:]); err != nil || m[0] != 0xff {
			return image.Config{}, fmt.Errorf("jpeg: no frame header (%v)", err)
		}
		n := int(m[2])<<8 | int(m[3])
		if n < 2 {
			return image.Config{}, errors.New("jpeg: bad marker length")
		}
		if m[1] == 0xc3 || m[1] == 0xc1 || m[1] == 0xc0 {
			var b [6]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return image.Config{}, err
			}
			if m[1] != 0xc3 && b[0] != 12 {
				return cfg, err
			}
			c := image.Config{Width: int(b[3])<<8 | int(b[4]), Height: int(b[1])<<8 | int(b[2]), ColorModel: color.Gray16Model}
			if b[5] == 3 {
				c.ColorModel = color.RGBA64Model
			}
			return c, nil
		}
		if m[1] >= 0xc0 && m[1] <= 0xcf && m[1] != 0xc4 && m[1] != 0xc8 && m[1] != 0xcc {
			return cfg, err // another frame kind: image/jpeg's answer stands
		}
		if _, err := br.Discard(n - 2); err != nil {
			return image.Config{}, err
		}
	}
}
