package dicom

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"strings"
)

// voiWindow is the first VOI window of the file, when usable.
type voiWindow struct {
	ok            bool
	center, width float64
	function      string // LINEAR, LINEAR_EXACT or SIGMOID
}

// frameInfo is what rendering needs besides the samples.
type frameInfo struct {
	voi   voiWindow
	mono1 bool
}

// readAttributes fills img from the kept attributes and checks the ones every decode needs.
func readAttributes(img *Image, ds *dataset) error {
	img.SOPClassUID = ds.str(tagSOPClassUID)
	img.Modality = ds.str(tagModality)
	img.BodyPart = ds.str(tagBodyPart)
	img.ViewPosition = ds.str(tagViewPosition)
	img.Photometric = strings.ToUpper(ds.str(tagPhotometric))
	if sp, ok := ds.floats(tagPixelSpacing); ok && len(sp) == 2 {
		img.PixelSpacing = [2]float64{sp[0], sp[1]}
	}
	var ok bool
	if img.Rows, ok = ds.uint(tagRows); !ok || img.Rows == 0 {
		return fmt.Errorf("tag %v Rows: missing or zero: %w", tagRows, ErrMalformed)
	}
	if img.Columns, ok = ds.uint(tagColumns); !ok || img.Columns == 0 {
		return fmt.Errorf("tag %v Columns: missing or zero: %w", tagColumns, ErrMalformed)
	}
	if img.Rows > 0xffff || img.Columns > 0xffff {
		return fmt.Errorf("Rows x Columns %dx%d: more than 65535 (they are US): %w", img.Rows, img.Columns, ErrMalformed)
	}
	if img.SamplesPerPixel, ok = ds.uint(tagSamplesPerPixel); !ok {
		img.SamplesPerPixel = 1
	}
	if img.Photometric == "" {
		img.Photometric = "MONOCHROME2"
		if img.SamplesPerPixel == 3 {
			img.Photometric = "RGB"
		}
		img.Warnings = append(img.Warnings, "no Photometric Interpretation (0028,0004); assumed "+img.Photometric)
	}
	if img.BitsAllocated, ok = ds.uint(tagBitsAllocated); !ok {
		img.BitsAllocated = 8
		img.Warnings = append(img.Warnings, "no Bits Allocated (0028,0100); assumed 8")
	}
	if img.BitsStored, ok = ds.uint(tagBitsStored); !ok || img.BitsStored == 0 || img.BitsStored > img.BitsAllocated {
		if ok {
			img.Warnings = append(img.Warnings, fmt.Sprintf("Bits Stored (0028,0101) %d invalid for Bits Allocated %d; using %d", img.BitsStored, img.BitsAllocated, img.BitsAllocated))
		}
		img.BitsStored = img.BitsAllocated
	}
	if img.HighBit, ok = ds.uint(tagHighBit); !ok || img.HighBit < img.BitsStored-1 || img.HighBit >= img.BitsAllocated {
		if ok {
			img.Warnings = append(img.Warnings, fmt.Sprintf("High Bit (0028,0102) %d invalid; using %d", img.HighBit, img.BitsStored-1))
		}
		img.HighBit = img.BitsStored - 1
	}
	if pr, ok := ds.uint(tagPixelRepresent); ok && pr == 1 {
		img.Signed = true
	}
	img.Frames = 1
	if n, ok := ds.int(tagNumberOfFrames); ok {
		if n < 1 {
			img.Warnings = append(img.Warnings, fmt.Sprintf("Number of Frames (0028,0008) %d; using 1", n))
		} else {
			img.Frames = n
		}
	}
	if img.Frames > 1 {
		img.Warnings = append(img.Warnings, fmt.Sprintf("multi-frame image (%d frames): only the first is decoded", img.Frames))
	}

	img.RescaleSlope, img.RescaleIntercept = 1, 0
	if v, ok := ds.floats(tagRescaleSlope); ok && len(v) > 0 {
		if v[0] == 0 {
			img.Warnings = append(img.Warnings, "Rescale Slope (0028,1053) is 0; using 1")
		} else {
			img.RescaleSlope = v[0]
		}
	} else if !ok {
		img.Warnings = append(img.Warnings, "unparsable Rescale Slope (0028,1053) ignored")
	}
	if v, ok := ds.floats(tagRescaleIntercept); ok && len(v) > 0 {
		img.RescaleIntercept = v[0]
	} else if !ok {
		img.Warnings = append(img.Warnings, "unparsable Rescale Intercept (0028,1052) ignored")
	}
	if ds.hasModLUT {
		img.Warnings = append(img.Warnings, "Modality LUT Sequence (0028,3000) ignored; rescale slope/intercept used")
	}
	if ds.hasVOILUT {
		img.Warnings = append(img.Warnings, "VOI LUT Sequence (0028,3010) ignored")
	}
	return nil
}

// voiOf returns the first usable VOI window of ds, adding warnings to img for unusable ones.
func voiOf(img *Image, ds *dataset) voiWindow {
	cs, okc := ds.floats(tagWindowCenter)
	ws, okw := ds.floats(tagWindowWidth)
	if len(cs) == 0 && len(ws) == 0 && okc && okw {
		return voiWindow{}
	}
	if !okc || !okw || len(cs) == 0 || len(ws) == 0 {
		img.Warnings = append(img.Warnings, "unparsable or incomplete Window Center/Width (0028,1050/1051) ignored")
		return voiWindow{}
	}
	w := voiWindow{ok: true, center: cs[0], width: ws[0], function: strings.ToUpper(ds.str(tagVOILUTFunction))}
	switch w.function {
	case "":
		w.function = "LINEAR"
	case "LINEAR", "LINEAR_EXACT", "SIGMOID":
	default:
		img.Warnings = append(img.Warnings, fmt.Sprintf("unknown VOI LUT Function (0028,1056) %q; using LINEAR", w.function))
		w.function = "LINEAR"
	}
	if (w.function == "LINEAR" && w.width < 1) || w.width <= 0 {
		img.Warnings = append(img.Warnings, fmt.Sprintf("Window Width (0028,1051) %g invalid for %s; window ignored", w.width, w.function))
		return voiWindow{}
	}
	return w
}

// decodePixels decodes the first frame into img.Pixels.
func decodePixels(img *Image, ds *dataset, ts transferSyntax, opts Options) error {
	if img.Rows*img.Columns > opts.maxPixels() {
		return fmt.Errorf("%dx%d pixels exceed the limit of %d: %w", img.Columns, img.Rows, opts.maxPixels(), ErrTooLarge)
	}
	info := frameInfo{voi: voiOf(img, ds)}
	switch img.Photometric {
	case "MONOCHROME1":
		info.mono1 = true
	case "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT":
	default:
		return fmt.Errorf("tag %v Photometric Interpretation %q: %w", tagPhotometric, img.Photometric, ErrUnsupported)
	}
	if ts.kind == syntaxJPEG {
		return decodeJPEG(img, ds, info, opts)
	}
	return decodeNative(img, ds, info, opts)
}

// decodeNative decodes uncompressed pixel data.
func decodeNative(img *Image, ds *dataset, info frameInfo, opts Options) error {
	p := ds.pixel
	if p.length == undefinedLength {
		return errAt(p.tag, p.off, "undefined length (encapsulated) Pixel Data in a native transfer syntax")
	}
	if img.BitsAllocated != 8 && img.BitsAllocated != 16 {
		return fmt.Errorf("Bits Allocated (0028,0100) %d: %w", img.BitsAllocated, ErrUnsupported)
	}
	spp := img.SamplesPerPixel
	if spp != 1 && spp != 3 {
		return fmt.Errorf("Samples per Pixel (0028,0002) %d: %w", spp, ErrUnsupported)
	}
	mono := strings.HasPrefix(img.Photometric, "MONOCHROME")
	if mono != (spp == 1) {
		return fmt.Errorf("Photometric Interpretation %s with %d samples per pixel: %w", img.Photometric, spp, ErrUnsupported)
	}
	if spp == 3 && img.Photometric != "RGB" && img.Photometric != "YBR_FULL" {
		return fmt.Errorf("native Photometric Interpretation %s: %w", img.Photometric, ErrUnsupported)
	}
	bytesPer := img.BitsAllocated / 8
	frameLen := int64(img.Rows) * int64(img.Columns) * int64(spp) * int64(bytesPer)
	if frameLen > int64(p.length) {
		return errAt(p.tag, p.off, "Pixel Data holds %d bytes, one %dx%d frame needs %d", p.length, img.Columns, img.Rows, frameLen)
	}
	if int64(img.Frames) > int64(p.length)/frameLen {
		img.Warnings = append(img.Warnings, fmt.Sprintf("Pixel Data (%d bytes) holds fewer than the %d frames declared", p.length, img.Frames))
	}
	c := ds.pixelCur
	raw, err := c.read(frameLen)
	if err != nil {
		return errAt(p.tag, p.off, "Pixel Data truncated: %v", err)
	}
	n := img.Rows * img.Columns * spp
	samples := make([]int32, n)
	shift := uint(img.HighBit + 1 - img.BitsStored)
	mask := uint32(1)<<uint(img.BitsStored) - 1
	sign := uint32(1) << uint(img.BitsStored-1)
	for i := range samples {
		var v uint32
		if bytesPer == 1 {
			v = uint32(raw[i])
		} else {
			v = uint32(c.bo.Uint16(raw[2*i:]))
		}
		v = (v >> shift) & mask
		if img.Signed && v&sign != 0 {
			samples[i] = int32(v) - int32(mask) - 1
		} else {
			samples[i] = int32(v)
		}
	}
	if spp == 1 {
		renderGray(img, samples, img.BitsStored, img.Signed, info, opts)
		return nil
	}
	return renderColour(img, samples, ds)
}

// renderColour turns three-sample pixels into RGBA (8-bit) or RGBA64 (deeper) without windowing.
func renderColour(img *Image, s []int32, ds *dataset) error {
	w, h := img.Columns, img.Rows
	planar, _ := ds.uint(tagPlanarConfig)
	n := w * h
	at := func(i, k int) int32 {
		if planar == 1 {
			return s[k*n+i]
		}
		return s[3*i+k]
	}
	img.Window = WindowNone
	if img.Signed {
		return fmt.Errorf("signed colour samples: %w", ErrUnsupported)
	}
	if img.BitsStored <= 8 {
		out := image.NewRGBA(image.Rect(0, 0, w, h))
		scale := func(v int32) uint8 {
			return uint8((int64(v)*255 + int64(1)<<uint(img.BitsStored-1)) / (int64(1)<<uint(img.BitsStored) - 1))
		}
		for i := 0; i < n; i++ {
			r, g, b := scale(at(i, 0)), scale(at(i, 1)), scale(at(i, 2))
			if img.Photometric == "YBR_FULL" {
				r, g, b = color.YCbCrToRGB(r, g, b)
			}
			out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = r, g, b, 255
		}
		img.Pixels = out
		return nil
	}
	if img.Photometric != "RGB" {
		return fmt.Errorf("%d-bit %s: %w", img.BitsStored, img.Photometric, ErrUnsupported)
	}
	out := image.NewRGBA64(image.Rect(0, 0, w, h))
	max := float64(int64(1)<<uint(img.BitsStored) - 1)
	for i := 0; i < n; i++ {
		for k := 0; k < 3; k++ {
			binary.BigEndian.PutUint16(out.Pix[8*i+2*k:], uint16(math.Round(float64(at(i, k))*65535/max)))
		}
		out.Pix[8*i+6], out.Pix[8*i+7] = 0xff, 0xff
	}
	img.Pixels = out
	return nil
}

// fragment is one encapsulated pixel data item.
type fragment struct {
	itemOff int64 // offset of the item tag
	off     int64 // offset of the data
	length  int64
}

// fragments reads the Basic Offset Table and the fragment items of encapsulated Pixel Data.
func fragments(ds *dataset) (bot []uint32, frags []fragment, err error) {
	c := ds.pixelCur
	// Item tags and lengths in encapsulated pixel data are little endian (PS3.5 A.4).
	c.bo, c.explicit = binary.LittleEndian, false
	first := true
	for {
		h, err := c.readHeader()
		if err != nil {
			return nil, nil, errAt(tagPixelData, ds.pixel.off, "encapsulated Pixel Data not terminated: %v", err)
		}
		if h.tag == tagSequenceDelimition {
			break
		}
		if h.tag != tagItem {
			return nil, nil, errAt(h.tag, h.off, "expected an item (fffe,e000) in encapsulated Pixel Data")
		}
		if h.length == undefinedLength {
			return nil, nil, errAt(h.tag, h.off, "undefined-length fragment in encapsulated Pixel Data")
		}
		if first {
			// The Basic Offset Table: one 32-bit offset per frame, possibly empty.
			first = false
			if h.length%4 != 0 {
				return nil, nil, errAt(h.tag, h.off, "Basic Offset Table length %d is not a multiple of 4", h.length)
			}
			b, err := c.read(int64(h.length))
			if err != nil {
				return nil, nil, errAt(h.tag, h.off, "Basic Offset Table: %v", err)
			}
			for i := 0; i+4 <= len(b); i += 4 {
				bot = append(bot, binary.LittleEndian.Uint32(b[i:]))
			}
			continue
		}
		start := c.off
		if err := c.skip(h.tag, int64(h.length)); err != nil {
			return nil, nil, err
		}
		frags = append(frags, fragment{itemOff: h.off, off: start, length: int64(h.length)})
	}
	if len(frags) == 0 {
		return nil, nil, errAt(tagPixelData, ds.pixel.off, "encapsulated Pixel Data has no fragments")
	}
	return bot, frags, nil
}

// firstFrame returns the bytes of the first frame of encapsulated Pixel Data.
func firstFrame(img *Image, ds *dataset) ([]byte, error) {
	if ds.pixel.length != undefinedLength {
		return nil, errAt(ds.pixel.tag, ds.pixel.off, "defined length %d for Pixel Data in an encapsulated transfer syntax", ds.pixel.length)
	}
	bot, frags, err := fragments(ds)
	if err != nil {
		return nil, err
	}
	use := frags
	switch {
	case img.Frames <= 1:
	case len(bot) >= 2:
		// Offsets count from the first fragment's item tag (PS3.5 A.4).
		base := frags[0].itemOff
		use = nil
		for _, f := range frags {
			rel := f.itemOff - base
			if rel >= int64(bot[0]) && rel < int64(bot[1]) {
				use = append(use, f)
			}
		}
	case len(frags) == img.Frames:
		use = frags[:1]
	default:
		// No usable offset table: the first frame ends with the fragment holding the JPEG EOI marker.
		for i, f := range frags {
			n := min(f.length, 8)
			tail, err := ds.pixelCur.readAt(f.off+f.length-n, n)
			if err != nil {
				return nil, errAt(tagPixelData, f.off, "fragment: %v", err)
			}
			if bytes.Contains(tail, []byte{0xff, 0xd9}) {
				use = frags[:i+1]
				break
			}
		}
	}
	if len(use) == 0 {
		return nil, errAt(tagPixelData, ds.pixel.off, "no fragment for the first frame (offset table %v)", bot[:min(len(bot), 2)])
	}
	var total int64
	for _, f := range use {
		total += f.length // each length was checked against the file, so the sum is bounded by its size
	}
	data := make([]byte, 0, total)
	for _, f := range use {
		b, err := ds.pixelCur.readAt(f.off, f.length)
		if err != nil {
			return nil, errAt(tagPixelData, f.off, "fragment: %v", err)
		}
		data = append(data, b...)
	}
	return data, nil
}

// maxJPEGPixelsPerByte bounds what a baseline JPEG can decode to per compressed byte: each
// 8x8 block needs at least a DC code and an end-of-block code, 2 bits in all.
const maxJPEGPixelsPerByte = 256

// decodeJPEG decodes encapsulated JPEG (baseline or 8-bit extended) pixel data.
func decodeJPEG(img *Image, ds *dataset, info frameInfo, opts Options) error {
	data, err := firstFrame(img, ds)
	if err != nil {
		return err
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("tag %v: JPEG frame: %v: %w", tagPixelData, err, ErrMalformed)
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	if px > int64(opts.maxPixels()) {
		return fmt.Errorf("JPEG frame %dx%d exceeds the limit of %d pixels: %w", cfg.Width, cfg.Height, opts.maxPixels(), ErrTooLarge)
	}
	if px > maxJPEGPixelsPerByte*int64(len(data))+64*64 {
		return fmt.Errorf("tag %v: JPEG frame declares %dx%d pixels, more than its %d bytes can hold: %w", tagPixelData, cfg.Width, cfg.Height, len(data), ErrMalformed)
	}
	if cfg.Width != img.Columns || cfg.Height != img.Rows {
		img.Warnings = append(img.Warnings, fmt.Sprintf("JPEG frame is %dx%d, the attributes say %dx%d; using the JPEG's", cfg.Width, cfg.Height, img.Columns, img.Rows))
		img.Columns, img.Rows = cfg.Width, cfg.Height
	}
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("tag %v: JPEG frame: %v: %w", tagPixelData, err, ErrMalformed)
	}
	if g, ok := m.(*image.Gray); ok {
		samples := make([]int32, img.Rows*img.Columns)
		for y := 0; y < img.Rows; y++ {
			row := g.Pix[y*g.Stride : y*g.Stride+img.Columns]
			for x, v := range row {
				samples[y*img.Columns+x] = int32(v)
			}
		}
		if img.BitsStored != 8 || img.Signed {
			img.Warnings = append(img.Warnings, fmt.Sprintf("JPEG samples are 8-bit unsigned; Bits Stored %d / Pixel Representation ignored", img.BitsStored))
		}
		renderGray(img, samples, 8, false, info, opts)
		return nil
	}
	if strings.HasPrefix(img.Photometric, "MONOCHROME") {
		img.Warnings = append(img.Warnings, fmt.Sprintf("%s file holds a colour JPEG; decoded as colour", img.Photometric))
	}
	out := image.NewRGBA(m.Bounds())
	draw.Draw(out, out.Bounds(), m, m.Bounds().Min, draw.Src)
	img.Pixels = out
	img.Window = WindowNone
	return nil
}
