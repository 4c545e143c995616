package imaging

import (
	"fmt"
	"image"
	"math"
	"runtime"
	"sync"
)

// Pillow's 8-bit resampler keeps coefficients in fixed point with
// 32-8-2 = 22 fraction bits: 8 bits for the pixel, 2 for the overshoot of
// the cubic's negative lobes.
const precisionBits = 32 - 8 - 2

// bicubic is the Keys cubic convolution kernel with a = -0.5, support 2, as in
// Pillow's Resample.c. The explicit float64 conversions stop the compiler from
// fusing multiply-adds (Go may on arm64), which would change the last bit of
// some coefficients relative to Pillow's plain SSE2 arithmetic.
func bicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		// ((a+2)x - (a+3)) x x + 1
		t := float64(float64((a+2.0)*x) - (a + 3.0))
		return float64(float64(t*x)*x) + 1
	}
	if x < 2 {
		// (((x-5)x + 8)x - 4) a
		t := float64(float64((x-5)*x) + 8)
		return float64(float64(t*x)-4) * a
	}
	return 0
}

// coeffs are the fixed-point filter taps of one resampling direction.
type coeffs struct {
	ksize  int     // stride of k: Pillow's ceil(support)*2+1
	first  []int   // first input index used by each output
	n      []int   // number of taps of each output
	k      []int32 // taps, ksize per output
	lo, hi int     // range of input indices used by any output
}

// precompute mirrors Pillow's precompute_coeffs followed by
// normalize_coeffs_8bpc for box (0, inSize): the filter is widened by the
// downscale factor (antialiasing), each output's taps are normalised to sum
// to 1, then rounded half away from zero to 22 fraction bits.
func precompute(inSize, outSize int) coeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := 2.0 * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := coeffs{
		ksize: ksize,
		first: make([]int, outSize),
		n:     make([]int, outSize),
		k:     make([]int32, outSize*ksize),
		lo:    inSize,
	}
	w := make([]float64, ksize)
	ss := 1.0 / filterscale
	for xx := 0; xx < outSize; xx++ {
		center := float64((float64(xx) + 0.5) * scale)
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			t := float64(float64(float64(x+xmin)-center) + 0.5)
			w[x] = bicubic(float64(t * ss))
			ww += w[x]
		}
		k := c.k[xx*ksize : xx*ksize+ksize]
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				k[x] = int32(-0.5 + float64(v*(1<<precisionBits)))
			} else {
				k[x] = int32(0.5 + float64(v*(1<<precisionBits)))
			}
		}
		c.first[xx], c.n[xx] = xmin, xmax
		if xmax > 0 {
			c.lo = min(c.lo, xmin)
			c.hi = max(c.hi, xmin+xmax)
		}
	}
	if c.hi < c.lo {
		c.lo, c.hi = 0, 0
	}
	return c
}

// clip8 is Pillow's clip8: drop the fraction bits, clamp to 0..255.
func clip8(ss int32) uint8 {
	v := ss >> precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// plane is an 8-bit image with nc interleaved channels (1: gray; 4: RGBA,
// Pillow's RGB layout with a fourth byte).
type plane struct {
	pix        []uint8
	w, h       int
	stride, nc int
}

// maxTempBytes bounds the intermediate image of a resize (output width x
// input rows used). Only absurd aspect ratios (over a million rows resized
// to a few hundred columns) reach it; Pillow would allocate it regardless.
const maxTempBytes = 1 << 28

// resizePlane resamples src to ow x oh with Pillow 9.4's ImagingResample
// (BICUBIC, box = whole image, 8 bits per channel): a horizontal pass over
// just the rows the vertical pass needs, rounded and clipped to uint8, then
// a vertical pass. A direction whose size does not change is skipped, as in
// Pillow; when neither changes the result is a copy.
func resizePlane(src plane, ow, oh int) (plane, error) {
	return resizePadded(src, src.w, src.h, 0, 0, ow, oh)
}

// resizePadded resizes the cw x ch canvas that holds src at (ox, oy) on
// black (zero) without building the canvas: MedCLIP's pad-to-square followed
// by the resize. With cw, ch = src.w, src.h and no offset it is resizePlane.
func resizePadded(src plane, cw, ch, ox, oy, ow, oh int) (plane, error) {
	if src.w <= 0 || src.h <= 0 || ow <= 0 || oh <= 0 {
		return plane{}, fmt.Errorf("resize %dx%d to %dx%d: empty image", src.w, src.h, ow, oh)
	}
	needH := ow != cw
	needV := oh != ch
	padded := cw != src.w || ch != src.h
	if needH {
		vert := precompute(ch, oh)
		y0, y1 := 0, ch
		if needV {
			y0, y1 = vert.lo, vert.hi
		}
		if int64(ow)*int64(y1-y0)*int64(src.nc) > maxTempBytes {
			return plane{}, fmt.Errorf("%w: resizing %dx%d to %dx%d needs a %dx%d intermediate", ErrTooLarge, cw, ch, ow, oh, ow, y1-y0)
		}
		cur := horizontal(src, precompute(cw, ow), ox, oy, y0, y1)
		if needV {
			return vertical(cur, vert, y0), nil
		}
		return cur, nil
	}
	if padded {
		// Same width: the canvas itself is small enough to build (cw == ow).
		src = padPlane(src, cw, ch, ox, oy)
	}
	if needV {
		return vertical(src, precompute(ch, oh), 0), nil
	}
	out := plane{pix: make([]uint8, src.w*src.h*src.nc), w: src.w, h: src.h, stride: src.w * src.nc, nc: src.nc}
	for y := 0; y < src.h; y++ {
		copy(out.pix[y*out.stride:(y+1)*out.stride], src.pix[y*src.stride:y*src.stride+out.stride])
	}
	return out, nil
}

// padPlane builds the cw x ch canvas with src at (ox, oy) on zeros.
func padPlane(src plane, cw, ch, ox, oy int) plane {
	out := plane{pix: make([]uint8, cw*ch*src.nc), w: cw, h: ch, stride: cw * src.nc, nc: src.nc}
	rowLen := src.w * src.nc
	for y := 0; y < src.h; y++ {
		copy(out.pix[(oy+y)*out.stride+ox*src.nc:], src.pix[y*src.stride:y*src.stride+rowLen])
	}
	return out
}

// horizontal resamples canvas rows y0..y1 to c's output width. The canvas
// holds src at (ox, oy) on zeros; canvas pixels outside src contribute
// nothing to the sums, and canvas rows outside src come out as zeros (their
// sum is just the rounding half, which clip8 maps to 0), as Pillow computes
// on a materialised canvas.
func horizontal(src plane, c coeffs, ox, oy, y0, y1 int) plane {
	ow := len(c.first)
	nc := src.nc
	out := plane{pix: make([]uint8, ow*(y1-y0)*nc), w: ow, h: y1 - y0, stride: ow * nc, nc: nc}
	const half = 1 << (precisionBits - 1)
	parallelRows(y1-y0, ow*c.ksize, func(lo, hi int) {
		for yy := lo; yy < hi; yy++ {
			sy := yy + y0 - oy
			if sy < 0 || sy >= src.h {
				continue // zeros
			}
			srow := src.pix[sy*src.stride : sy*src.stride+src.w*nc]
			drow := out.pix[yy*out.stride : (yy+1)*out.stride]
			for xx := 0; xx < ow; xx++ {
				first, n := c.first[xx]-ox, c.n[xx]
				k := c.k[xx*c.ksize : xx*c.ksize+n]
				if first < 0 { // taps left of src see zeros
					k = k[min(-first, len(k)):]
					first = 0
				}
				if first+len(k) > src.w { // and right of it
					k = k[:max(src.w-first, 0)]
				}
				if nc == 1 {
					ss := int32(half)
					if len(k) > 0 {
						s := srow[first : first+len(k)]
						for i, kv := range k {
							ss += int32(s[i]) * kv
						}
					}
					drow[xx] = clip8(ss)
					continue
				}
				s0, s1, s2, s3 := int32(half), int32(half), int32(half), int32(half)
				if len(k) > 0 {
					s := srow[4*first : 4*(first+len(k))]
					for i, kv := range k {
						p := s[4*i : 4*i+4 : 4*i+4]
						s0 += int32(p[0]) * kv
						s1 += int32(p[1]) * kv
						s2 += int32(p[2]) * kv
						s3 += int32(p[3]) * kv
					}
				}
				d := drow[4*xx : 4*xx+4 : 4*xx+4]
				d[0], d[1], d[2], d[3] = clip8(s0), clip8(s1), clip8(s2), clip8(s3)
			}
		}
	})
	return out
}

// vertical resamples src (whose row 0 is input row y0 of the original) to c's
// output height. Integer sums do not depend on the order of the terms, so
// each output row is accumulated a whole input row at a time.
func vertical(src plane, c coeffs, y0 int) plane {
	oh := len(c.first)
	rowLen := src.w * src.nc
	out := plane{pix: make([]uint8, rowLen*oh), w: src.w, h: oh, stride: rowLen, nc: src.nc}
	const half = 1 << (precisionBits - 1)
	parallelRows(oh, rowLen*c.ksize, func(lo, hi int) {
		acc := make([]int32, rowLen)
		for yy := lo; yy < hi; yy++ {
			for i := range acc {
				acc[i] = half
			}
			first, n := c.first[yy]-y0, c.n[yy]
			k := c.k[yy*c.ksize : yy*c.ksize+n]
			for i, kv := range k {
				row := src.pix[(first+i)*src.stride : (first+i)*src.stride+rowLen]
				for x, v := range row {
					acc[x] += int32(v) * kv
				}
			}
			drow := out.pix[yy*rowLen : (yy+1)*rowLen]
			for x, ss := range acc {
				drow[x] = clip8(ss)
			}
		}
	})
	return out
}

// parallelRows runs fn over [0, n) in contiguous chunks, one per CPU, when
// the job (n rows of perRow multiply-adds) is big enough to pay for it.
func parallelRows(n, perRow int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || int64(n)*int64(perRow) < 1<<18 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		lo, hi := n*i/workers, n*(i+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// Resize resamples img to w x h pixels (the aspect ratio is not kept) with
// the same arithmetic as Pillow 9.4's img.resize((w, h), Image.BICUBIC) on
// an 8-bit image: a separable cubic convolution (a = -0.5) whose support
// grows with the downscale factor (antialiasing), fixed-point taps with 22
// fraction bits, the horizontal pass first, rounded and clipped to uint8,
// then the vertical pass. The result matches Pillow byte for byte.
//
// An *image.Gray gives an *image.Gray (Pillow mode L); an *image.RGBA gives an
// *image.RGBA whose four channels are resampled independently (Pillow mode
// RGB; give it opaque pixels). Any other image is first converted with
// ToRGB8.
func Resize(img image.Image, w, h int) (image.Image, error) {
	if w <= 0 || h <= 0 || int64(w)*int64(h) > DefaultMaxPixels {
		return nil, fmt.Errorf("imaging: resize to %dx%d: bad size", w, h)
	}
	switch m := img.(type) {
	case *image.Gray:
		src := plane{pix: m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y):], w: m.Rect.Dx(), h: m.Rect.Dy(), stride: m.Stride, nc: 1}
		if src.w == 0 || src.h == 0 {
			return nil, fmt.Errorf("imaging: resize: empty image")
		}
		r, err := resizePlane(src, w, h)
		if err != nil {
			return nil, fmt.Errorf("imaging: %w", err)
		}
		return &image.Gray{Pix: r.pix, Stride: r.stride, Rect: image.Rect(0, 0, w, h)}, nil
	case *image.RGBA:
		src := plane{pix: m.Pix[m.PixOffset(m.Rect.Min.X, m.Rect.Min.Y):], w: m.Rect.Dx(), h: m.Rect.Dy(), stride: m.Stride, nc: 4}
		if src.w == 0 || src.h == 0 {
			return nil, fmt.Errorf("imaging: resize: empty image")
		}
		r, err := resizePlane(src, w, h)
		if err != nil {
			return nil, fmt.Errorf("imaging: %w", err)
		}
		return &image.RGBA{Pix: r.pix, Stride: r.stride, Rect: image.Rect(0, 0, w, h)}, nil
	}
	rgb, err := ToRGB8(img)
	if err != nil {
		return nil, fmt.Errorf("imaging: resize: %w", err)
	}
	return Resize(rgb, w, h)
}
