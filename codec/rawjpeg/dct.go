package rawjpeg

import "github.com/xraygpt-go/xraygpt/codec/jpegbits"

// dctScan decodes one sequential Huffman scan into the components' coefficients.
func (d *decoder) dctScan(s *scan) error {
	for _, c := range s.comps {
		c.pred = 0
	}
	// Interleaved scans follow the frame's MCUs; a one-component scan walks that component's
	// own (unpadded) blocks.
	mx, my := d.mcusX, d.mcusY
	if len(s.comps) == 1 {
		c := s.comps[0]
		mx, my = (c.Width+7)/8, (c.Height+7)/8
	}
	maxMag := 11 // DC difference categories: 11 at 8 bits, 15 at 12
	if d.f.Precision == 12 {
		maxMag = 15
	}
	left := d.ri
	for y := 0; y < my; y++ {
		for x := 0; x < mx; x++ {
			if d.ri > 0 {
				if left == 0 {
					if err := d.restart(); err != nil {
						return err
					}
					for _, c := range s.comps {
						c.pred = 0
					}
					left = d.ri
				}
				left--
			}
			for _, c := range s.comps {
				if len(s.comps) == 1 {
					if err := d.block(c, c.coef[(y*c.bw+x)*64:][:64], maxMag); err != nil {
						return err
					}
					continue
				}
				for v := 0; v < c.V; v++ {
					for h := 0; h < c.H; h++ {
						bx, by := x*c.H+h, y*c.V+v
						if err := d.block(c, c.coef[(by*c.bw+bx)*64:][:64], maxMag); err != nil {
							return err
						}
					}
				}
			}
		}
		if d.br.Ended {
			return d.corrupt("scan data truncated in MCU row %d of %d", y, my)
		}
	}
	return nil
}

// block decodes one block's quantised coefficients in natural order (T.81 F.2.2).
func (d *decoder) block(c *comp, blk []int32, maxMag int) error {
	if err := jpegbits.Block(d.br, &d.dc[c.dcTab], &d.ac[c.acTab], &c.pred, blk, maxMag+1); err != nil {
		return d.corrupt("%v", err)
	}
	return nil
}

// finish undoes the point transform (lossless) or runs the IDCT (DCT) into the components' samples.
func (d *decoder) finish() error {
	if d.f.Lossless {
		if pt := uint(d.f.PointTransform); pt > 0 {
			for i := range d.comps {
				for j, v := range d.comps[i].Samples {
					d.comps[i].Samples[j] = v << pt
				}
			}
		}
		return nil
	}
	p := idctParams(d.f.Precision)
	for i := range d.comps {
		c := &d.comps[i]
		stride := c.bw * 8
		plane := make([]uint16, stride*c.bh*8)
		q := &d.q[c.tq]
		for by := 0; by < c.bh; by++ {
			for bx := 0; bx < c.bw; bx++ {
				idct(p, c.coef[(by*c.bw+bx)*64:][:64], q, plane[by*8*stride+bx*8:], stride)
			}
		}
		c.coef = nil
		c.Samples = make([]uint16, c.Width*c.Height)
		for y := 0; y < c.Height; y++ {
			copy(c.Samples[y*c.Width:(y+1)*c.Width], plane[y*stride:])
		}
	}
	return nil
}

// islow holds libjpeg's accurate integer IDCT (jidctint.c) parameters for one precision.
type islow struct {
	pass1 uint     // PASS1_BITS: 2 at 8 bits, 1 at 12
	limit []uint16 // IDCT_range_limit, indexed by value & (len-1)
}

// islow8 is the IDCT of 8-bit samples, shared by IDCT8 (read-only).
var islow8 = idctParams(8)

// IDCT8 dequantises one 8x8 block of coefficients (natural order) by q and
// applies libjpeg's accurate integer IDCT (jpeg_idct_islow) for 8-bit
// samples, range limit included, writing the samples to out with the given
// row stride: the arithmetic of this package's sequential decoder, for
// other 8-bit JPEG decoders that must match libjpeg.
func IDCT8(coef []int16, q *[64]uint16, out []uint8, stride int) {
	idct(islow8, coef, q, out, stride)
}

// idctParams returns the IDCT parameters for 8- or 12-bit samples.
func idctParams(precision int) *islow {
	n := 1 << uint(precision) // MAXJSAMPLE+1
	center := n / 2
	p := &islow{pass1: 2, limit: make([]uint16, 4*n)}
	if precision == 12 {
		p.pass1 = 1
	}
	// libjpeg's prepare_range_limit_table seen from CENTERJSAMPLE: value+center clamped to
	// 0..n-1 for -center <= value < 2n - center, and its wrap-around beyond (corrupt data only).
	for i := range p.limit {
		switch {
		case i < center:
			p.limit[i] = uint16(i + center)
		case i < 2*n:
			p.limit[i] = uint16(n - 1)
		case i < 4*n-center:
			p.limit[i] = 0
		default:
			p.limit[i] = uint16(i - (4*n - center))
		}
	}
	return p
}

// libjpeg's islow constants: FIX(x) = round(x * 2^13).
const (
	fix0298631336 = 2446
	fix0390180644 = 3196
	fix0541196100 = 4433
	fix0765366865 = 6270
	fix0899976223 = 7373
	fix1175875602 = 9633
	fix1501321110 = 12299
	fix1847759065 = 15137
	fix1961570560 = 16069
	fix2053119869 = 16819
	fix2562915447 = 20995
	fix3072711026 = 25172
	constBits     = 13
)

// idct dequantises one block and applies jpeg_idct_islow: columns into a workspace scaled by
// 2^pass1, then rows, then the range limit.
// It is generic so that 8-bit decoders keep their int16 coefficients and
// uint8 samples without conversions (each instance is compiled apart).
func idct[C int16 | int32, S uint8 | uint16](p *islow, coef []C, q *[64]uint16, out []S, stride int) {
	var ws [64]int32 // libjpeg's workspace is int
	mask := len(p.limit) - 1
	for col := 0; col < 8; col++ {
		in := func(r int) int64 { return int64(coef[r*8+col]) * int64(q[r*8+col]) }
		if coef[8+col] == 0 && coef[16+col] == 0 && coef[24+col] == 0 && coef[32+col] == 0 &&
			coef[40+col] == 0 && coef[48+col] == 0 && coef[56+col] == 0 {
			dc := int32(in(0) << p.pass1)
			for r := 0; r < 8; r++ {
				ws[r*8+col] = dc
			}
			continue
		}
		e := idct1D(in(0), in(1), in(2), in(3), in(4), in(5), in(6), in(7))
		sh := constBits - p.pass1
		for r := 0; r < 8; r++ {
			ws[r*8+col] = int32((e[r] + 1<<(sh-1)) >> sh)
		}
	}
	for row := 0; row < 8; row++ {
		w := ws[row*8 : row*8+8 : row*8+8]
		o := out[row*stride : row*stride+8 : row*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			sh := p.pass1 + 3
			v := S(p.limit[int((int64(w[0])+1<<(sh-1))>>sh)&mask])
			for i := range o {
				o[i] = v
			}
			continue
		}
		e := idct1D(int64(w[0]), int64(w[1]), int64(w[2]), int64(w[3]), int64(w[4]), int64(w[5]), int64(w[6]), int64(w[7]))
		sh := constBits + p.pass1 + 3
		for i := range o {
			o[i] = S(p.limit[int((e[i]+1<<(sh-1))>>sh)&mask])
		}
	}
}

// idct1D is one 8-point pass of jpeg_idct_islow before descaling: outputs in natural order,
// scaled by 2^constBits.
func idct1D(x0, x1, x2, x3, x4, x5, x6, x7 int64) [8]int64 {
	// Even part.
	z1 := (x2 + x6) * fix0541196100
	tmp2 := z1 - x6*fix1847759065
	tmp3 := z1 + x2*fix0765366865
	tmp0 := (x0 + x4) << constBits
	tmp1 := (x0 - x4) << constBits
	tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
	tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
	// Odd part.
	t0, t1, t2, t3 := x7, x5, x3, x1
	z1 = t0 + t3
	z2 := t1 + t2
	z3 := t0 + t2
	z4 := t1 + t3
	z5 := (z3 + z4) * fix1175875602
	t0 *= fix0298631336
	t1 *= fix2053119869
	t2 *= fix3072711026
	t3 *= fix1501321110
	z1 *= -fix0899976223
	z2 *= -fix2562915447
	z3 = z3*-fix1961570560 + z5
	z4 = z4*-fix0390180644 + z5
	t0 += z1 + z3
	t1 += z2 + z4
	t2 += z2 + z3
	t3 += z1 + z4
	return [8]int64{tmp10 + t3, tmp11 + t2, tmp12 + t1, tmp13 + t0, tmp13 - t0, tmp12 - t1, tmp11 - t2, tmp10 - t3}
}
