package dicom

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
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
	var (
		f   *frame
		err error
	)
	if ts.kind == syntaxImplicitLE || ts.kind == syntaxExplicitLE || ts.kind == syntaxExplicitBE || ts.kind == syntaxDeflatedLE {
		f, err = nativeFrame(img, ds)
	} else {
		f, err = encapsulatedFrame(img, ds, ts, opts)
	}
	if err != nil {
		return err
	}
	samples := storedSamples(img, f.words, f.shift)
	if opts.keepSamples {
		img.samples, img.samplesPhotometric = samples, f.photometric
	}
	if img.SamplesPerPixel == 1 {
		renderGray(img, samples, img.BitsStored, img.Signed, info, opts)
		return nil
	}
	return renderColour(img, samples, f.photometric)
}

// frame is the first frame's words as stored (or as a codec returned them), pixel-interleaved.
type frame struct {
	words       []uint16
	shift       uint   // bits below the stored value (High Bit + 1 - Bits Stored; 0 for compressed data)
	photometric string // colour space of the words (a codec may have converted YCbCr to RGB)
}

// storedSamples masks each word to Bits Stored above shift and sign-extends it when signed.
func storedSamples(img *Image, words []uint16, shift uint) []int32 {
	samples := make([]int32, len(words))
	mask := uint32(1)<<uint(img.BitsStored) - 1
	sign := uint32(1) << uint(img.BitsStored-1)
	for i, w := range words {
		v := (uint32(w) >> shift) & mask
		if img.Signed && v&sign != 0 {
			samples[i] = int32(v) - int32(mask) - 1
		} else {
			samples[i] = int32(v)
		}
	}
	return samples
}

// checkSamples checks the samples per pixel and photometric interpretation agree.
func checkSamples(img *Image) error {
	spp := img.SamplesPerPixel
	if spp != 1 && spp != 3 {
		return fmt.Errorf("Samples per Pixel (0028,0002) %d: %w", spp, ErrUnsupported)
	}
	mono := strings.HasPrefix(img.Photometric, "MONOCHROME")
	if mono != (spp == 1) {
		return fmt.Errorf("Photometric Interpretation %s with %d samples per pixel: %w", img.Photometric, spp, ErrUnsupported)
	}
	return nil
}

// nativeFrame reads uncompressed pixel data.
func nativeFrame(img *Image, ds *dataset) (*frame, error) {
	p := ds.pixel
	if p.length == undefinedLength {
		return nil, errAt(p.tag, p.off, "undefined length (encapsulated) Pixel Data in a native transfer syntax")
	}
	if img.BitsAllocated != 8 && img.BitsAllocated != 16 {
		return nil, fmt.Errorf("Bits Allocated (0028,0100) %d: %w", img.BitsAllocated, ErrUnsupported)
	}
	if err := checkSamples(img); err != nil {
		return nil, err
	}
	spp := img.SamplesPerPixel
	if spp == 3 && img.Photometric != "RGB" && img.Photometric != "YBR_FULL" {
		return nil, fmt.Errorf("native Photometric Interpretation %s: %w", img.Photometric, ErrUnsupported)
	}
	bytesPer := img.BitsAllocated / 8
	frameLen := int64(img.Rows) * int64(img.Columns) * int64(spp) * int64(bytesPer)
	if frameLen > int64(p.length) {
		return nil, errAt(p.tag, p.off, "Pixel Data holds %d bytes, one %dx%d frame needs %d", p.length, img.Columns, img.Rows, frameLen)
	}
	c := ds.pixelCur
	// What the file holds after the Pixel Data header: its size, or for a stream of a single
	// frame what arrives (a multi-frame stream is not read ahead past its first frame).
	avail := c.end - c.off
	if c.s != nil {
		avail = int64(p.length)
		if img.Frames == 1 {
			if got := c.s.fill(c.off + int64(p.length)); got < c.off+int64(p.length) && c.s.err != nil {
				avail = got - c.off // the stream ended (or failed) before the declared length
			}
		}
	}
	if int64(p.length) > avail {
		if frameLen > avail {
			return nil, errAt(p.tag, p.off, "Pixel Data declares %d bytes, the file holds %d after it: truncated, one frame needs %d", p.length, avail, frameLen)
		}
		img.Warnings = append(img.Warnings, fmt.Sprintf("Pixel Data declares %d bytes but the file holds only %d after it (truncated file?); the first frame is complete", p.length, avail))
	} else if int64(img.Frames) > int64(p.length)/frameLen {
		img.Warnings = append(img.Warnings, fmt.Sprintf("Pixel Data (%d bytes) holds fewer than the %d frames declared", p.length, img.Frames))
	}
	raw, err := c.read(frameLen)
	if err != nil {
		return nil, errAt(p.tag, p.off, "Pixel Data truncated: %v", err)
	}
	n := img.Rows * img.Columns
	words := make([]uint16, n*spp)
	planar, _ := ds.uint(tagPlanarConfig)
	for i := range words {
		j := i
		if spp == 3 && planar == 1 { // colour-by-plane: word i (pixel i/3, sample i%3) is at plane i%3
			j = (i%3)*n + i/3
		}
		if bytesPer == 1 {
			words[i] = uint16(raw[j])
		} else {
			words[i] = c.bo.Uint16(raw[2*j:])
		}
	}
	return &frame{words: words, shift: uint(img.HighBit + 1 - img.BitsStored), photometric: img.Photometric}, nil
}

// renderColour turns three-sample pixels (pixel-interleaved, in colour space photometric)
// into RGBA (8-bit) or RGBA64 (deeper) without windowing.
func renderColour(img *Image, s []int32, photometric string) error {
	w, h := img.Columns, img.Rows
	n := w * h
	at := func(i, k int) int32 { return s[3*i+k] }
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
			if photometric == "YBR_FULL" || photometric == "YBR_FULL_422" { // full resolution by now
				r, g, b = color.YCbCrToRGB(r, g, b)
			}
			out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = r, g, b, 255
		}
		img.Pixels = out
		return nil
	}
	if photometric != "RGB" {
		return fmt.Errorf("%d-bit %s: %w", img.BitsStored, photometric, ErrUnsupported)
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
func firstFrame(img *Image, ds *dataset, kind syntaxKind) ([]byte, error) {
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
	case len(frags) == img.Frames || kind == syntaxRLE:
		use = frags[:1] // one fragment per frame (always so for RLE, PS3.5 A.4.2)
	default:
		// No usable offset table: the first frame ends with the fragment holding the EOI marker
		// (JPEG, JPEG-LS) or EOC marker (JPEG 2000), both ff d9.
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
