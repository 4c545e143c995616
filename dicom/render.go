package dicom

import (
	"fmt"
	"image"
	"math"
)

// renderGray maps stored grey samples (masked and sign-extended, bits wide) to img.Pixels:
// modality rescale, then the VOI window, a percentile or min/max window, or (8-bit data
// without window or rescale) the stored values as they are; MONOCHROME1 is inverted last.
func renderGray(img *Image, samples []int32, bits int, signed bool, info frameInfo, opts Options) {
	w, h := img.Columns, img.Rows
	slope, icept := img.RescaleSlope, img.RescaleIntercept
	mode := opts.Window
	if mode != WindowPercentile && mode != WindowMinMax {
		switch {
		case info.voi.ok:
			mode = WindowVOI
		case bits <= 8 && !signed && slope == 1 && icept == 0:
			mode = WindowNone
		default:
			mode = WindowPercentile
		}
	}
	img.Window = mode

	// Every stored value maps through one lookup table of at most 2^16 entries.
	offset := int32(0)
	if signed {
		offset = int32(1) << uint(bits-1)
	}
	size := 1 << uint(bits)
	modality := func(i int) float64 { return float64(int32(i)-offset)*slope + icept }

	if mode == WindowNone {
		full := float64(size - 1)
		out := image.NewGray(image.Rect(0, 0, w, h))
		for i, v := range samples {
			y := uint8(math.Round(float64(v) * 255 / full))
			if info.mono1 {
				y = 255 - y
			}
			out.Pix[i] = y
		}
		img.Pixels = out
		return
	}

	var frac func(x float64) float64
	switch mode {
	case WindowVOI:
		c, wd := info.voi.center, info.voi.width
		switch info.voi.function {
		case "SIGMOID":
			// PS3.3 C.11.2.1.3.1
			frac = func(x float64) float64 { return 1 / (1 + math.Exp(-4*(x-c)/wd)) }
			img.WindowLow, img.WindowHigh = c-wd/2, c+wd/2
		case "LINEAR_EXACT":
			// PS3.3 C.11.2.1.3.2
			frac = linear(c, wd)
			img.WindowLow, img.WindowHigh = c-wd/2, c+wd/2
		default:
			// PS3.3 C.11.2.1.2.1: LINEAR uses c - 0.5 and w - 1.
			frac = linear(c-0.5, wd-1)
			img.WindowLow, img.WindowHigh = c-0.5-(wd-1)/2, c-0.5+(wd-1)/2
		}
	default:
		hist := make([]int, size)
		for _, v := range samples {
			hist[v+offset]++
		}
		n := len(samples)
		kLo, kHi := 0, n-1
		if mode == WindowPercentile {
			// numpy.percentile's "lower" and "higher" methods at 0.5 and 99.5.
			kLo = int(math.Floor(0.005 * float64(n-1)))
			kHi = int(math.Ceil(0.995 * float64(n-1)))
		}
		if slope < 0 {
			kLo, kHi = n-1-kHi, n-1-kLo
		}
		lo, hi := modality(orderStat(hist, kLo)), modality(orderStat(hist, kHi))
		if slope < 0 {
			lo, hi = hi, lo
		}
		img.WindowLow, img.WindowHigh = lo, hi
		if hi <= lo {
			img.Warnings = append(img.Warnings, fmt.Sprintf("flat image (all values %g): rendered black", lo))
			frac = func(float64) float64 { return 0 }
		} else {
			frac = func(x float64) float64 { return (x - lo) / (hi - lo) }
		}
	}

	lut := make([]uint16, size)
	for i := range lut {
		f := frac(modality(i))
		if !(f > 0) { // also NaN
			f = 0
		} else if f > 1 {
			f = 1
		}
		y := uint16(math.Round(f * 65535))
		if info.mono1 {
			y = 65535 - y
		}
		lut[i] = y
	}
	out := image.NewGray16(image.Rect(0, 0, w, h))
	for i, v := range samples {
		y := lut[v+offset]
		out.Pix[2*i], out.Pix[2*i+1] = uint8(y>>8), uint8(y)
	}
	img.Pixels = out
}

// linear is the VOI linear function with centre c and width w already adjusted (PS3.3 C.11.2.1.2).
func linear(c, w float64) func(float64) float64 {
	return func(x float64) float64 {
		switch {
		case x <= c-w/2:
			return 0
		case x > c+w/2:
			return 1
		}
		return (x-c)/w + 0.5
	}
}

// orderStat returns the index of the k-th smallest value (0-based) counted in hist.
func orderStat(hist []int, k int) int {
	seen := 0
	for i, n := range hist {
		seen += n
		if seen > k {
			return i
		}
	}
	return len(hist) - 1
}
