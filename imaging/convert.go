package imaging

import (
	"fmt"
	"image"
	"image/color"
)

// ToRGB8 converts a decoded image to 8-bit RGB the way Pillow 9.4's
// Image.open(path).convert("RGB") does, so that a Go pipeline sees the same
// bytes as the Python reference. The result is an *image.RGBA with every
// alpha set to 255. Per source kind:
//
//   - 8-bit gray (PNG L, JPEG gray; 1/2/4-bit PNG scaled to 0..255 as both
//     Go and Pillow do): R=G=B=gray.
//   - 16-bit gray PNG: Pillow opens it as mode "I" and convert("RGB") clips
//     every value above 255 to 255, turning a real X-ray white. This package
//     does not copy that: it scales the full range, round(v*255/65535),
//     which keeps the image. Documented deviation.
//   - gray+alpha and RGBA (8- and 16-bit), and gray/RGB with a tRNS chunk:
//     Pillow drops alpha (no compositing on a background); so does this.
//   - 16-bit RGB, RGBA and gray+alpha: Pillow's PNG unpacker keeps the high
//     byte (v>>8); so does this.
//   - palette: palette lookup, alpha ignored; out-of-range indices are black.
//   - JPEG YCbCr: libjpeg's fixed-point YCbCr->RGB and its "fancy" (triangle)
//     chroma upsampling for 4:2:0 and 4:2:2 (chroma wider than 2 samples;
//     narrower is replicated, as libjpeg-turbo does), so that colour JPEGs
//     decoded by Load match Pillow exactly. 4:4:0 is replicated where
//     libjpeg-turbo interpolates vertically (known deviation; such files are
//     rare), 4:1:1 and 4:1:0 are replicated as in libjpeg.
//   - CMYK/YCCK JPEG: ErrUnsupported.
//
// Other image.Image kinds go through color.NRGBA64Model and keep the high
// byte of each channel.
func ToRGB8(img image.Image) (*image.RGBA, error) {
	m, err := to8(img)
	if err != nil {
		return nil, err
	}
	if g, ok := m.(*image.Gray); ok {
		return grayToRGBA(g), nil
	}
	return m.(*image.RGBA), nil
}

// ToGray8 converts a decoded image to 8-bit gray the way Pillow 9.4's
// convert("L") does (this is what MedCLIP's pad-to-square paste does to
// non-gray inputs): colour sources are first made RGB as in ToRGB8, then
// L = (19595*R + 38470*G + 7471*B + 32768) >> 16 (ITU-R 601 luma in Pillow's
// fixed point). Alpha is dropped. 16-bit gray is scaled as in ToRGB8 rather
// than clipped.
func ToGray8(img image.Image) (*image.Gray, error) {
	m, err := to8(img)
	if err != nil {
		return nil, err
	}
	if g, ok := m.(*image.Gray); ok {
		return g, nil
	}
	rgb := m.(*image.RGBA)
	w, h := rgb.Rect.Dx(), rgb.Rect.Dy()
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		src := rgb.Pix[y*rgb.Stride : y*rgb.Stride+4*w]
		dst := out.Pix[y*out.Stride : y*out.Stride+w]
		for x := range dst {
			p := src[4*x : 4*x+3 : 4*x+3]
			dst[x] = luma(p[0], p[1], p[2])
		}
	}
	return out, nil
}

// luma is Pillow's RGB->L conversion.
func luma(r, g, b uint8) uint8 {
	return uint8((uint32(r)*19595 + uint32(g)*38470 + uint32(b)*7471 + 0x8000) >> 16)
}

// scale16 maps a 16-bit sample to 8 bits with rounding: round(v*255/65535).
func scale16(v uint16) uint8 {
	return uint8((uint32(v)*255 + 32767) / 65535)
}

// to8 converts img to an 8-bit image: *image.Gray for single-channel sources
// (so the resize does one channel instead of three identical ones), otherwise
// *image.RGBA with opaque alpha. Both start at (0,0). A *image.Gray or
// *image.RGBA source that already starts at (0,0) is returned as is (not
// copied).
func to8(img image.Image) (image.Image, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("empty image (%dx%d)", w, h)
	}
	switch m := img.(type) {
	case *image.Gray:
		if b.Min == (image.Point{}) {
			return m, nil
		}
		out := image.NewGray(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			copy(out.Pix[y*out.Stride:y*out.Stride+w], m.Pix[i:i+w])
		}
		return out, nil
	case *image.Gray16:
		out := image.NewGray(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			src := m.Pix[i : i+2*w]
			dst := out.Pix[y*out.Stride : y*out.Stride+w]
			for x := range dst {
				dst[x] = scale16(uint16(src[2*x])<<8 | uint16(src[2*x+1]))
			}
		}
		return out, nil
	case *image.CMYK:
		return nil, fmt.Errorf("%w: CMYK/YCCK image (convert it to RGB or gray first)", ErrUnsupported)
	case *image.YCbCr:
		return ycbcrToRGBA(m), nil
	}

	out := image.NewRGBA(image.Rect(0, 0, w, h))
	row := func(y int) []uint8 { return out.Pix[y*out.Stride : y*out.Stride+4*w] }
	switch m := img.(type) {
	case *image.RGBA:
		if b.Min == (image.Point{}) && allOpaque(m) {
			return m, nil
		}
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			dst := row(y)
			copy(dst, m.Pix[i:i+4*w])
			for x := 3; x < len(dst); x += 4 {
				dst[x] = 0xff
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			dst := row(y)
			copy(dst, m.Pix[i:i+4*w])
			for x := 3; x < len(dst); x += 4 {
				dst[x] = 0xff
			}
		}
	case *image.RGBA64:
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			highBytes(row(y), m.Pix[i:i+8*w])
		}
	case *image.NRGBA64:
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			highBytes(row(y), m.Pix[i:i+8*w])
		}
	case *image.Paletted:
		var pal [256][4]uint8
		for i := range pal {
			pal[i] = [4]uint8{0, 0, 0, 0xff}
			if i >= len(m.Palette) {
				continue
			}
			switch p := m.Palette[i].(type) {
			case color.RGBA: // Go's PNG decoder: opaque entries
				pal[i] = [4]uint8{p.R, p.G, p.B, 0xff}
			case color.NRGBA: // Go's PNG decoder: entries with tRNS alpha
				pal[i] = [4]uint8{p.R, p.G, p.B, 0xff}
			default:
				c := color.NRGBA64Model.Convert(p).(color.NRGBA64)
				pal[i] = [4]uint8{uint8(c.R >> 8), uint8(c.G >> 8), uint8(c.B >> 8), 0xff}
			}
		}
		for y := 0; y < h; y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			src := m.Pix[i : i+w]
			dst := row(y)
			for x, idx := range src {
				copy(dst[4*x:4*x+4], pal[idx][:])
			}
		}
	default:
		for y := 0; y < h; y++ {
			dst := row(y)
			for x := 0; x < w; x++ {
				c := color.NRGBA64Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8), 0xff
			}
		}
	}
	return out, nil
}

func allOpaque(m *image.RGBA) bool {
	for i := 3; i < len(m.Pix); i += 4 {
		if m.Pix[i] != 0xff {
			return false
		}
	}
	return true
}

// highBytes keeps the high byte of each big-endian 16-bit R, G, B sample.
func highBytes(dst, src []uint8) {
	for x := 0; 4*x < len(dst); x++ {
		dst[4*x] = src[8*x]
		dst[4*x+1] = src[8*x+2]
		dst[4*x+2] = src[8*x+4]
		dst[4*x+3] = 0xff
	}
}

func grayToRGBA(g *image.Gray) *image.RGBA {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		i := g.PixOffset(g.Rect.Min.X, g.Rect.Min.Y+y)
		src := g.Pix[i : i+w]
		dst := out.Pix[y*out.Stride : y*out.Stride+4*w]
		for x, v := range src {
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = v, v, v, 0xff
		}
	}
	return out
}

// ycbcrToRGBA converts a decoded JPEG the way libjpeg(-turbo) does for
// Pillow: chroma is upsampled with libjpeg's fancy upsampling (h2v1, h2v2),
// then each pixel goes through libjpeg's fixed-point YCbCr->RGB tables.
func ycbcrToRGBA(m *image.YCbCr) *image.RGBA {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	cb := upsampleChroma(m, m.Cb)
	cr := upsampleChroma(m, m.Cr)
	for y := 0; y < h; y++ {
		yi := m.YOffset(b.Min.X, b.Min.Y+y)
		ys := m.Y[yi : yi+w]
		cbs := cb[y*w : y*w+w]
		crs := cr[y*w : y*w+w]
		dst := out.Pix[y*out.Stride : y*out.Stride+4*w]
		for x := range ys {
			yy := int32(ys[x])
			cbv := int32(cbs[x]) - 128
			crv := int32(crs[x]) - 128
			r := yy + (91881*crv+32768)>>16
			g := yy + ((-22554*cbv + 32768 - 46802*crv) >> 16)
			bb := yy + (116130*cbv+32768)>>16
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = clamp8(r), clamp8(g), clamp8(bb), 0xff
		}
	}
	return out
}

func clamp8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// upsampleChroma returns one chroma plane at full resolution (w*h, stride w).
func upsampleChroma(m *image.YCbCr, plane []uint8) []uint8 {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	out := make([]uint8, w*h)
	var hs, vs int // subsampling factors
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	}
	// libjpeg-turbo uses fancy upsampling only for h2v1 and h2v2 chroma more
	// than 2 samples wide (and h1v2, which is not reproduced here); otherwise
	// it replicates.
	if hs == 0 || (hs == 2 && (w+1)/2 <= 2) {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				out[y*w+x] = plane[m.COffset(b.Min.X+x, b.Min.Y+y)]
			}
		}
		return out
	}
	// Chroma sample (cx, cy) of the image, for 0 <= cx < cw, 0 <= cy < ch.
	c0 := m.COffset(b.Min.X, b.Min.Y)
	cw := (w + hs - 1) / hs
	ch := (h + vs - 1) / vs
	at := func(cx, cy int) int32 {
		cx = max(0, min(cx, cw-1))
		cy = max(0, min(cy, ch-1))
		return int32(plane[c0+cy*m.CStride+cx])
	}
	switch {
	case hs == 1 && vs == 1:
		for y := 0; y < h; y++ {
			copy(out[y*w:y*w+w], plane[c0+y*m.CStride:c0+y*m.CStride+w])
		}
	case vs == 1: // h2v1: 3/4 nearer + 1/4 further, alternating rounding bias
		row := make([]uint8, 2*cw)
		for y := 0; y < h; y++ {
			for c := 0; c < cw; c++ {
				v := at(c, y)
				if c == 0 {
					row[0] = uint8(v)
				} else {
					row[2*c] = uint8((3*v + at(c-1, y) + 1) >> 2)
				}
				if c == cw-1 {
					row[2*c+1] = uint8(v)
				} else {
					row[2*c+1] = uint8((3*v + at(c+1, y) + 2) >> 2)
				}
			}
			copy(out[y*w:y*w+w], row)
		}
	default: // h2v2: triangle filter in both directions
		row := make([]uint8, 2*cw)
		sums := make([]int32, cw)
		for y := 0; y < h; y++ {
			cy := y / 2
			far := cy - 1 // even output rows lean on the row above
			if y%2 == 1 {
				far = cy + 1
			}
			for c := 0; c < cw; c++ {
				sums[c] = 3*at(c, cy) + at(c, far)
			}
			for c := 0; c < cw; c++ {
				s := sums[c]
				if c == 0 {
					row[0] = uint8((4*s + 8) >> 4)
				} else {
					row[2*c] = uint8((3*s + sums[c-1] + 8) >> 4)
				}
				if c == cw-1 {
					row[2*c+1] = uint8((4*s + 7) >> 4)
				} else {
					row[2*c+1] = uint8((3*s + sums[c+1] + 7) >> 4)
				}
			}
			copy(out[y*w:y*w+w], row)
		}
	}
	return out
}
