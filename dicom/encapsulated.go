package dicom

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"runtime"
	"strings"

	"github.com/xraygpt-go/xraygpt/codec/charls"
	"github.com/xraygpt-go/xraygpt/codec/openjpeg"
	"github.com/xraygpt-go/xraygpt/codec/rawjpeg"
)

// encapsulatedFrame decodes the first frame of encapsulated Pixel Data with the codec of ts.
func encapsulatedFrame(img *Image, ds *dataset, ts transferSyntax, opts Options) (*frame, error) {
	data, err := firstFrame(img, ds, ts.kind)
	if err != nil {
		return nil, err
	}
	var f *frame
	switch ts.kind {
	case syntaxRLE:
		if err = checkSamples(img); err == nil {
			var words []uint16
			if words, err = decodeRLE(data, img.Rows, img.Columns, img.SamplesPerPixel, img.BitsAllocated); err == nil {
				f = &frame{words: words, photometric: img.Photometric}
			}
		}
	case syntaxJPEG:
		f, err = jpegFrame(img, data, opts)
	case syntaxJPEGLS:
		f, err = jpeglsFrame(img, data, opts)
	case syntaxJPEG2000:
		f, err = j2kFrame(img, data, opts)
	default:
		err = fmt.Errorf("%w: %s (%s)", ErrUnsupportedTransferSyntax, ts.name, ts.uid)
	}
	if err != nil {
		return nil, fmt.Errorf("%s (%s) frame 1 of %d (%d bytes from offset %d): %w", ts.name, ts.uid, img.Frames, len(data), ds.pixelOff, err)
	}
	return f, nil
}

// codecError maps a codec's sentinel errors to this package's.
func codecError(err error, unsupported, tooLarge error) error {
	switch {
	case errors.Is(err, unsupported):
		return fmt.Errorf("%v: %w", err, ErrUnsupported)
	case errors.Is(err, tooLarge):
		return fmt.Errorf("%v: %w", err, ErrTooLarge)
	}
	return fmt.Errorf("%v: %w", err, ErrMalformed)
}

// adoptGeometry makes img describe what a codec decoded (w x h, ncomp components of prec
// bits), with a warning for each attribute that said otherwise.
func adoptGeometry(img *Image, w, h, ncomp, prec int, lossless bool) error {
	if w != img.Columns || h != img.Rows {
		img.Warnings = append(img.Warnings, fmt.Sprintf("codestream is %dx%d, the attributes say %dx%d; using the codestream's", w, h, img.Columns, img.Rows))
		img.Columns, img.Rows = w, h
	}
	if ncomp != 1 && ncomp != 3 {
		return fmt.Errorf("%d components: %w", ncomp, ErrUnsupported)
	}
	if ncomp != img.SamplesPerPixel {
		img.Warnings = append(img.Warnings, fmt.Sprintf("codestream has %d components, Samples per Pixel is %d; using the codestream's", ncomp, img.SamplesPerPixel))
		img.SamplesPerPixel = ncomp
		if ncomp == 3 {
			img.Photometric = "RGB"
		} else {
			img.Photometric = "MONOCHROME2"
		}
	}
	if prec > 16 {
		return fmt.Errorf("%d-bit samples: %w", prec, ErrUnsupported)
	}
	if prec > img.BitsAllocated {
		img.Warnings = append(img.Warnings, fmt.Sprintf("codestream precision %d exceeds Bits Allocated %d; using %d", prec, img.BitsAllocated, prec))
		img.BitsAllocated, img.BitsStored, img.HighBit = 16, prec, prec-1
	}
	if !lossless && (prec != img.BitsStored || img.Signed) {
		img.Warnings = append(img.Warnings, fmt.Sprintf("lossy codestream of %d-bit unsigned samples; Bits Stored %d / Pixel Representation %d ignored", prec, img.BitsStored, map[bool]int{true: 1}[img.Signed]))
		img.BitsStored, img.HighBit, img.Signed = prec, prec-1, false
	}
	return nil
}

// jpegFrame decodes a JPEG frame (lossless, or DCT at 8 or 12 bits) with package rawjpeg, the
// way GDCM's libjpeg does. 8-bit colour with subsampled chroma (and progressive files) go to
// image/jpeg instead.
func jpegFrame(img *Image, data []byte, opts Options) (*frame, error) {
	// The header decides the decoder before any sample is decoded.
	hdr, err := rawjpeg.DecodeHeader(data, int64(opts.maxPixels()))
	if errors.Is(err, rawjpeg.ErrProgressive) {
		return goJPEGFrame(img, data, opts)
	}
	if err != nil {
		return nil, codecError(err, rawjpeg.ErrUnsupported, rawjpeg.ErrTooLarge)
	}
	if len(hdr.Components) == 3 && chromaSampling(hdr) == otherSampling {
		if hdr.Precision == 8 {
			return goJPEGFrame(img, data, opts)
		}
		return nil, fmt.Errorf("%d-bit JPEG with chroma sampling %dx%d: %w", hdr.Precision, hdr.Components[0].H, hdr.Components[0].V, ErrUnsupported)
	}
	jf, err := rawjpeg.Decode(data, int64(opts.maxPixels()))
	if err != nil {
		return nil, codecError(err, rawjpeg.ErrUnsupported, rawjpeg.ErrTooLarge)
	}
	nc := len(jf.Components)
	if nc == 3 {
		upsampleChroma(jf)
	}
	if err := adoptGeometry(img, jf.Width, jf.Height, nc, jf.Precision, jf.Lossless); err != nil {
		return nil, err
	}
	n := jf.Width * jf.Height
	words := make([]uint16, n*nc)
	for k, c := range jf.Components {
		for i, v := range c.Samples[:n] {
			words[i*nc+k] = v
		}
	}
	f := &frame{words: words, photometric: img.Photometric}
	if nc == 3 {
		// GDCM never colour-converts a JPEG frame: the samples keep the codestream's colour
		// space and the Photometric Interpretation says which it is. Markers that disagree
		// with it are reported, and the Photometric Interpretation wins, as in GDCM.
		f.photometric = "RGB"
		if strings.HasPrefix(img.Photometric, "YBR") {
			f.photometric = "YBR_FULL"
		}
		if ycc, marker := jpegColourMarker(jf); marker != "" && ycc != (f.photometric == "YBR_FULL") {
			img.Warnings = append(img.Warnings, fmt.Sprintf("JPEG %s says %s, Photometric Interpretation says %s; following the Photometric Interpretation", marker, map[bool]string{true: "YCbCr", false: "RGB"}[ycc], img.Photometric))
		}
	}
	return f, nil
}

// Chroma samplings of a 3-component frame.
const (
	fullSampling  = iota // every component at the frame's size
	h2v1Sampling         // 4:2:2: luma 2x1, chroma 1x1 (and at least 2 chroma columns)
	otherSampling        // left to image/jpeg (8-bit) or refused
)

// chromaSampling classifies the sampling factors of a 3-component frame.
func chromaSampling(f *rawjpeg.Frame) int {
	y, cb, cr := f.Components[0], f.Components[1], f.Components[2]
	switch {
	case y.H == cb.H && y.V == cb.V && y.H == cr.H && y.V == cr.V:
		return fullSampling
	case y.H == 2 && y.V == 1 && cb.H == 1 && cb.V == 1 && cr.H == 1 && cr.V == 1 && cb.Width >= 2:
		return h2v1Sampling
	}
	return otherSampling
}

// upsampleChroma brings 4:2:2 chroma (see chromaSampling) to full width with libjpeg's "fancy"
// triangle filter (jdsample.c h2v1_fancy_upsample), in place; full sampling is left as it is.
func upsampleChroma(f *rawjpeg.Frame) {
	if chromaSampling(f) != h2v1Sampling {
		return
	}
	for k := 1; k < 3; k++ {
		c := &f.Components[k]
		w := c.Width
		out := make([]uint16, f.Width*f.Height)
		var odd []uint16 // an odd width upsamples one column too many
		if 2*w > f.Width {
			odd = make([]uint16, 2*w)
		}
		for yy := 0; yy < f.Height; yy++ {
			in := c.Samples[yy*w : (yy+1)*w]
			row := out[yy*f.Width : (yy+1)*f.Width]
			if odd != nil {
				row = odd
			}
			row[0] = in[0]
			row[1] = uint16((3*int(in[0]) + int(in[1]) + 2) >> 2)
			for i := 1; i < w-1; i++ {
				v := 3 * int(in[i])
				row[2*i] = uint16((v + int(in[i-1]) + 1) >> 2)
				row[2*i+1] = uint16((v + int(in[i+1]) + 2) >> 2)
			}
			row[2*w-2] = uint16((3*int(in[w-1]) + int(in[w-2]) + 1) >> 2)
			row[2*w-1] = in[w-1]
			if odd != nil {
				copy(out[yy*f.Width:(yy+1)*f.Width], odd)
			}
		}
		c.Samples, c.Width, c.H = out, f.Width, 2
	}
}

// jpegColourMarker returns what a 3-component JPEG's markers say of its colour space, as
// libjpeg reads them (an Adobe APP14 transform flag, then a JFIF APP0, then component ids
// 'R','G','B'), and which marker said it; "" when none does.
func jpegColourMarker(f *rawjpeg.Frame) (ycc bool, marker string) {
	c := f.Components
	switch {
	case f.Adobe:
		return f.AdobeTransform != 0, fmt.Sprintf("Adobe APP14 transform %d", f.AdobeTransform)
	case f.JFIF:
		return true, "JFIF APP0"
	case c[0].ID == 'R' && c[1].ID == 'G' && c[2].ID == 'B':
		return false, "component ids R,G,B"
	}
	return false, ""
}

// maxJPEGPixelsPerByte bounds what a baseline JPEG can decode to per compressed byte: each
// 8x8 block needs at least a DC code and an end-of-block code, 2 bits in all.
const maxJPEGPixelsPerByte = 256

// goJPEGFrame decodes an 8-bit JPEG rawjpeg does not (progressive, subsampled colour) with
// image/jpeg, converting colour to RGB.
func goJPEGFrame(img *Image, data []byte, opts Options) (*frame, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrMalformed)
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	if px > int64(opts.maxPixels()) {
		return nil, fmt.Errorf("JPEG frame %dx%d exceeds the limit of %d pixels: %w", cfg.Width, cfg.Height, opts.maxPixels(), ErrTooLarge)
	}
	if px > maxJPEGPixelsPerByte*int64(len(data))+64*64 {
		return nil, fmt.Errorf("JPEG frame declares %dx%d pixels, more than its %d bytes can hold: %w", cfg.Width, cfg.Height, len(data), ErrMalformed)
	}
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrMalformed)
	}
	nc := 3
	if _, ok := m.(*image.Gray); ok {
		nc = 1
	}
	if err := adoptGeometry(img, cfg.Width, cfg.Height, nc, 8, false); err != nil {
		return nil, err
	}
	n := cfg.Width * cfg.Height
	words := make([]uint16, n*nc)
	if g, ok := m.(*image.Gray); ok {
		for y := 0; y < cfg.Height; y++ {
			for x, v := range g.Pix[y*g.Stride : y*g.Stride+cfg.Width] {
				words[y*cfg.Width+x] = uint16(v)
			}
		}
		return &frame{words: words, photometric: img.Photometric}, nil
	}
	out := image.NewRGBA(m.Bounds())
	draw.Draw(out, out.Bounds(), m, m.Bounds().Min, draw.Src)
	for i := 0; i < n; i++ {
		words[3*i], words[3*i+1], words[3*i+2] = uint16(out.Pix[4*i]), uint16(out.Pix[4*i+1]), uint16(out.Pix[4*i+2])
	}
	return &frame{words: words, photometric: "RGB"}, nil
}

// jpeglsFrame decodes a JPEG-LS frame with CharLS.
func jpeglsFrame(img *Image, data []byte, opts Options) (*frame, error) {
	lib, err := charls.Open()
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrUnsupportedTransferSyntax)
	}
	ls, err := lib.Decode(data, int64(opts.maxPixels()))
	if err != nil {
		return nil, codecError(err, charls.ErrUnsupported, charls.ErrTooLarge)
	}
	if err := adoptGeometry(img, ls.Width, ls.Height, ls.Components, ls.BitsPerSample, ls.NearLossless == 0); err != nil {
		return nil, err
	}
	return &frame{words: ls.Samples, photometric: img.Photometric}, nil
}

// j2kFrame decodes a JPEG 2000 frame with OpenJPEG. OpenJPEG undoes the codestream's
// multiple-component transform, so YBR_RCT and YBR_ICT come out as RGB, as with GDCM.
func j2kFrame(img *Image, data []byte, opts Options) (*frame, error) {
	lib, err := openjpeg.Open()
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrUnsupportedTransferSyntax)
	}
	j, err := lib.Decode(data, int64(opts.maxPixels()), runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, codecError(err, openjpeg.ErrUnsupported, openjpeg.ErrTooLarge)
	}
	if j.Precision != img.BitsStored && j.Precision <= 16 {
		// GDCM takes the codestream's precision too (a lossy 12-bit image may decode to 4096).
		img.Warnings = append(img.Warnings, fmt.Sprintf("codestream precision %d, Bits Stored %d; using the codestream's", j.Precision, img.BitsStored))
		img.BitsStored, img.HighBit = j.Precision, j.Precision-1
		img.BitsAllocated = max(img.BitsAllocated, 8*((j.Precision+7)/8))
	}
	if j.Signed != img.Signed {
		img.Warnings = append(img.Warnings, fmt.Sprintf("codestream samples signed=%v, Pixel Representation says %v; using the codestream's", j.Signed, img.Signed))
		img.Signed = j.Signed
	}
	if err := adoptGeometry(img, j.Width, j.Height, len(j.Components), j.Precision, true); err != nil {
		return nil, err
	}
	nc, n := len(j.Components), j.Width*j.Height
	words := make([]uint16, n*nc)
	for k, plane := range j.Components {
		for i, v := range plane {
			words[i*nc+k] = uint16(v)
		}
	}
	f := &frame{words: words, photometric: img.Photometric}
	if img.Photometric == "YBR_RCT" || img.Photometric == "YBR_ICT" {
		f.photometric = "RGB"
	}
	return f, nil
}
