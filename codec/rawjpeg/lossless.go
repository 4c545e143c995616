package rawjpeg

import "github.com/xraygpt-go/xraygpt/codec/jpegbits"

// losslessScan decodes one lossless scan (T.81 Annex H): each sample is a Huffman-coded
// difference from a prediction made of its left (Ra), upper (Rb) and upper-left (Rc)
// neighbours. The first row of the scan, and of each restart interval, is predicted from the
// left, its first sample from 2^(P-Pt-1); the first sample of every other row from above.
// Values are kept modulo 2^16, as in libjpeg; the point transform is undone in finish.
func (d *decoder) losslessScan(s *scan) error {
	pred, pt := s.ss, s.al
	if pred < 1 || pred > 7 {
		return d.corrupt("lossless predictor %d outside 1..7", pred)
	}
	if pt >= d.f.Precision {
		return d.corrupt("point transform %d not below precision %d", pt, d.f.Precision)
	}
	if !d.sawScan {
		d.f.PointTransform = pt
	}
	for _, c := range s.comps {
		if c.H != 1 || c.V != 1 {
			if len(d.comps) > 1 {
				return d.corrupt("lossless component %d subsampled", c.ID)
			}
		}
	}
	initial := int32(1) << uint(d.f.Precision-pt-1)
	w, h := s.comps[0].Width, s.comps[0].Height
	if len(s.comps) > 1 {
		w, h = d.f.Width, d.f.Height
	}
	tabs := make([]*jpegbits.Huffman, len(s.comps))
	for i, c := range s.comps {
		tabs[i] = &d.dc[c.dcTab]
	}
	left := d.ri
	// Prediction restarts at row firstRow, column restartX (the scan's start or the last restart).
	firstRow, restartX := 0, 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if d.ri > 0 {
				if left == 0 {
					if err := d.restart(); err != nil {
						return err
					}
					left = d.ri
					firstRow, restartX = y, x
				}
				left--
			}
			for i, c := range s.comps {
				t, err := d.huff(tabs[i])
				if err != nil {
					return err
				}
				var diff int32
				switch {
				case t == 0:
				case t == 16:
					diff = 32768
				case t > 16:
					return d.corrupt("lossless difference category %d", t)
				default:
					diff = d.br.ReceiveExtend(t)
				}
				row := c.Samples[y*w : (y+1)*w]
				var px int32
				switch {
				case y == firstRow && x == restartX:
					px = initial
				case y == firstRow && x > restartX:
					px = int32(row[x-1]) // the restart interval's first row: from the left
				case x == 0:
					px = int32(c.Samples[(y-1)*w])
				default:
					ra, rb, rc := int32(row[x-1]), int32(c.Samples[(y-1)*w+x]), int32(c.Samples[(y-1)*w+x-1])
					switch pred {
					case 1:
						px = ra
					case 2:
						px = rb
					case 3:
						px = rc
					case 4:
						px = ra + rb - rc
					case 5:
						px = ra + (rb-rc)>>1
					case 6:
						px = rb + (ra-rc)>>1
					case 7:
						px = (ra + rb) >> 1
					}
				}
				row[x] = uint16(px + diff)
			}
		}
		if d.br.Ended {
			return d.corrupt("scan data truncated in row %d of %d", y, h)
		}
	}
	return nil
}
