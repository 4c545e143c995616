// Package dicom reads the first frame of a DICOM Part 10 file (a chest radiograph, typically) as
// a display-ready Go image: stored values masked and sign-extended, rescaled, windowed (the file's
// VOI window, or a percentile window when it has none), MONOCHROME1 inverted.
//
// It reads explicit and implicit VR little endian, deflated and big endian explicit VR, native
// 8/16-bit pixel data, and encapsulated pixel data as PACS export it, decoded as GDCM does: JPEG
// baseline, 12-bit extended and lossless (package codec/rawjpeg, pure Go), RLE Lossless (pure
// Go), JPEG-LS (CharLS) and JPEG 2000 (OpenJPEG), the last two loaded at run time when
// installed. Other transfer syntaxes (MPEG, HTJ2K, JPEG 2000 Part 2, ...), and JPEG-LS or JPEG
// 2000 without their library, fail with ErrUnsupportedTransferSyntax naming the syntax, its UID
// and, for a missing library, the package to install.
//
// Entry points: DecodeFile and Decode (an io.ReaderAt of known size) return an *Image with the
// pixels, the attributes that describe them and warnings; DecodeReader does the same for a
// stream. IsDICOM and DecodeConfig have the shapes an image-format table needs.
//
// The reader is defensive: every length is checked against the bytes left before anything is
// allocated, sequences are skipped with a nesting limit, and the decoded size is capped by
// Options.MaxPixels and by what the file's size can hold.
package dicom

import (
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// Sentinel errors; errors returned by Decode wrap one of them.
var (
	// ErrNotDICOM: the bytes have neither the "DICM" prefix nor a plausible first element.
	ErrNotDICOM = errors.New("not a DICOM file")
	// ErrMalformed: the file is truncated or its structure is invalid.
	ErrMalformed = errors.New("malformed DICOM")
	// ErrUnsupportedTransferSyntax: the pixel data's encoding cannot be decoded here.
	ErrUnsupportedTransferSyntax = errors.New("unsupported DICOM transfer syntax")
	// ErrUnsupported: a valid file whose pixel format (photometric interpretation, bit depth) is not handled.
	ErrUnsupported = errors.New("unsupported DICOM pixel format")
	// ErrNoPixelData: the file holds no image (a structured report, a DICOMDIR, ...).
	ErrNoPixelData = errors.New("DICOM file has no Pixel Data (7fe0,0010): no image to read")
	// ErrTooLarge: the image exceeds Options.MaxPixels.
	ErrTooLarge = errors.New("DICOM image too large")
)

// SniffLen is the number of leading bytes IsDICOM needs to recognise a file with a preamble.
const SniffLen = 132

// DefaultMaxPixels is the pixel limit (rows x columns) used when Options.MaxPixels is zero.
const DefaultMaxPixels = 1 << 26

// DefaultMaxBytes is the most DecodeReader buffers from its stream when Options.MaxBytes is zero.
const DefaultMaxBytes = 1 << 30

// WindowMode chooses how grey levels are mapped to the output range.
type WindowMode int

const (
	// WindowAuto uses the file's VOI window (first Window Center/Width) when present. Without
	// one, data of more than 8 bits (or rescaled, or signed) get WindowPercentile, and 8-bit
	// data are kept as stored (WindowNone).
	WindowAuto WindowMode = iota
	// WindowPercentile maps the 0.5th percentile of the rescaled values to black and the 99.5th to white.
	WindowPercentile
	// WindowMinMax maps the minimum rescaled value to black and the maximum to white.
	WindowMinMax
	// WindowVOI is reported in Image.Window when the file's VOI window was applied.
	WindowVOI
	// WindowNone is reported in Image.Window when values were kept as stored (8-bit grey, colour).
	WindowNone
)

// String names the mode.
func (m WindowMode) String() string {
	switch m {
	case WindowAuto:
		return "auto"
	case WindowPercentile:
		return "percentile"
	case WindowMinMax:
		return "minmax"
	case WindowVOI:
		return "voi"
	case WindowNone:
		return "none"
	}
	return fmt.Sprintf("WindowMode(%d)", int(m))
}

// Options control decoding; the zero value is a good default.
type Options struct {
	// MaxPixels caps Rows x Columns; 0 means DefaultMaxPixels.
	MaxPixels int
	// Window selects the grey-level mapping; WindowAuto by default.
	Window WindowMode
	// MaxBytes caps what DecodeReader buffers from its stream; 0 means DefaultMaxBytes.
	MaxBytes int64

	keepSamples bool // tests: keep the stored samples in Image.samples
}

func (o Options) maxBytes() int64 {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

func (o Options) maxPixels() int {
	if o.MaxPixels <= 0 {
		return DefaultMaxPixels
	}
	return o.MaxPixels
}

// Image is the decoded first frame and the attributes that describe it.
type Image struct {
	// Pixels is *image.Gray16 (windowed grey, full 16-bit range, MONOCHROME2 sense), *image.Gray
	// (8-bit grey kept as stored), or *image.RGBA / *image.RGBA64 (colour).
	Pixels image.Image

	Rows, Columns   int
	Frames          int // NumberOfFrames; only the first is decoded
	SamplesPerPixel int
	BitsAllocated   int
	BitsStored      int
	HighBit         int
	Signed          bool // PixelRepresentation 1

	TransferSyntax     string // UID
	TransferSyntaxName string
	Photometric        string // as in the file (MONOCHROME1 output is already inverted)
	SOPClassUID        string
	Modality           string
	BodyPart           string
	ViewPosition       string
	PixelSpacing       [2]float64 // row and column spacing in mm; zero when absent

	RescaleSlope, RescaleIntercept float64
	// Window is the mapping applied; WindowLow and WindowHigh are the rescaled values mapped to
	// black and white (before any MONOCHROME1 inversion). Zero for WindowNone.
	Window                WindowMode
	WindowLow, WindowHigh float64

	// Warnings lists what was unusual but tolerated (multi-frame, ignored LUTs, guessed syntax, ...).
	Warnings []string

	model color.Model // for DecodeConfig

	// With Options.keepSamples: the first frame's stored values (masked, sign-extended,
	// pixel-interleaved) and the colour space they are in, before rendering.
	samples            []int32
	samplesPhotometric string
}

// IsDICOM reports whether head, the first bytes of a file (SniffLen or more), look like DICOM:
// "DICM" after the 128-byte preamble, or, without a preamble, a plausible group 0002 or 0008
// element at offset 0.
func IsDICOM(head []byte) bool {
	if len(head) >= 132 && string(head[128:132]) == "DICM" {
		return true
	}
	if len(head) < 8 {
		return false
	}
	group := binary.LittleEndian.Uint16(head)
	elem := binary.LittleEndian.Uint16(head[2:])
	if group != 0x0002 && group != 0x0008 {
		return false
	}
	if looksExplicit(head) {
		return true
	}
	// Implicit VR: a small even length and a low element number.
	n := binary.LittleEndian.Uint32(head[4:])
	return group == 0x0008 && elem <= 0x0020 && n <= 256 && n%2 == 0
}

// looksExplicit reports whether the element header at b[0:] carries an explicit VR.
func looksExplicit(b []byte) bool {
	return len(b) >= 6 && knownVRs[string(b[4:6])]
}

// DecodeFile decodes the first frame of the DICOM file at path.
func DecodeFile(path string, opts Options) (*Image, error) {
	f, err := fileio.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("dicom: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("dicom %s: %w", path, err)
	}
	img, err := Decode(f, st.Size(), opts)
	if err != nil {
		return nil, fmt.Errorf("dicom %s: %w", path, err)
	}
	return img, nil
}

// Decode decodes the first frame of the DICOM data in r, which holds size bytes.
func Decode(r io.ReaderAt, size int64, opts Options) (*Image, error) {
	return decode(r, nil, size, opts, false)
}

// DecodeReader decodes the first frame of the DICOM stream r. It buffers what it reads, up to
// the end of the first frame and at most Options.MaxBytes.
func DecodeReader(r io.Reader, opts Options) (*Image, error) {
	s := &streamAt{r: r, max: opts.maxBytes()}
	return decode(s, s, s.max, opts, false)
}

// DecodeConfig returns the dimensions of the DICOM stream r and the colour model Decode would
// return for it with the default Options, reading only the attributes before the pixel data.
func DecodeConfig(r io.Reader) (image.Config, error) {
	s := &streamAt{r: r, max: Options{}.maxBytes()}
	img, err := decode(s, s, s.max, Options{}, true)
	if err != nil {
		return image.Config{}, err
	}
	return image.Config{ColorModel: img.model, Width: img.Columns, Height: img.Rows}, nil
}

// decode reads r (of size bytes, or a stream when s is non-nil) up to the attributes when
// configOnly, else to the first frame's pixels.
func decode(r io.ReaderAt, s *streamAt, size int64, opts Options, configOnly bool) (*Image, error) {
	count := 0
	c := cursor{r: r, s: s, end: size, bo: binary.LittleEndian, explicit: true, count: &count}
	head := c.peek(SniffLen)
	if !IsDICOM(head) {
		return nil, ErrNotDICOM
	}
	img := &Image{}
	ds := &dataset{elems: map[dcmTag]element{}}
	hasPreamble := len(head) >= 132 && string(head[128:132]) == "DICM"
	if hasPreamble {
		c.off = 132
	}

	// File meta information: group 0002, always explicit VR little endian.
	if b := c.peek(2); len(b) == 2 && binary.LittleEndian.Uint16(b) == 0x0002 {
		if err := c.parse(ds, 0x0002); err != nil {
			return nil, fmt.Errorf("file meta: %w", err)
		}
	} else if hasPreamble {
		img.Warnings = append(img.Warnings, "no file meta information after the preamble")
	}
	uid := ds.str(tagTransferSyntax)
	if uid == "" {
		// No meta: guess from the first data set element (PS3.10 allows no guessing, readers do).
		uid = ImplicitVRLittleEndian
		if looksExplicit(c.peek(6)) {
			uid = ExplicitVRLittleEndian
		}
		img.Warnings = append(img.Warnings, "no transfer syntax in the file meta; guessed "+lookupSyntax(uid).name)
	}
	ts := lookupSyntax(uid)
	img.TransferSyntax, img.TransferSyntaxName = ts.uid, ts.name

	switch ts.kind {
	case syntaxUnsupported:
		return nil, fmt.Errorf("%w: %s (%s)", ErrUnsupportedTransferSyntax, ts.name, ts.uid)
	case syntaxImplicitLE:
		c.explicit = false
	case syntaxExplicitBE:
		c.bo = binary.BigEndian
	case syntaxDeflatedLE:
		// Inflate lazily, no further than needed and never past what one frame at MaxPixels
		// needs plus room for attributes, nor (for a sized file) past deflate's 1032:1 ratio.
		limit := int64(opts.maxPixels())*3*2 + 64<<20
		if s == nil {
			limit = min(limit, (size-c.off)*1032+1<<16)
		}
		fr := flate.NewReader(io.NewSectionReader(c.r, c.off, c.end-c.off))
		defer fr.Close()
		inflated := &streamAt{r: fr, max: limit}
		c = cursor{r: inflated, s: inflated, end: limit, bo: binary.LittleEndian, explicit: true, count: &count}
	}
	// Some writers declare one VR encoding and write the other: trust the bytes for the first element.
	if b := c.peek(6); len(b) == 6 && ts.kind != syntaxExplicitBE {
		if c.explicit && !looksExplicit(b) {
			c.explicit = false
			img.Warnings = append(img.Warnings, "data set is implicit VR although the transfer syntax says explicit")
		} else if !c.explicit && looksExplicit(b) && b[4] != 0 {
			c.explicit = true
			img.Warnings = append(img.Warnings, "data set is explicit VR although the transfer syntax says implicit")
		}
	}

	if err := c.parse(ds, -1); err != nil {
		return nil, err
	}
	if ds.pixel.tag != tagPixelData {
		return nil, ErrNoPixelData
	}
	if err := readAttributes(img, ds); err != nil {
		return nil, err
	}
	if configOnly {
		if img.Rows*img.Columns > opts.maxPixels() {
			return nil, fmt.Errorf("%dx%d pixels exceed the limit of %d: %w", img.Columns, img.Rows, opts.maxPixels(), ErrTooLarge)
		}
		img.model = colorModel(img, voiOf(img, ds))
		return img, nil
	}
	if err := decodePixels(img, ds, ts, opts); err != nil {
		return nil, err
	}
	return img, nil
}

// colorModel is the model of the image Decode returns for img's attributes with default options.
func colorModel(img *Image, voi voiWindow) color.Model {
	switch {
	case img.SamplesPerPixel == 3 && img.BitsStored > 8:
		return color.RGBA64Model
	case img.SamplesPerPixel == 3:
		return color.RGBAModel
	case !voi.ok && img.BitsStored <= 8 && !img.Signed && img.RescaleSlope == 1 && img.RescaleIntercept == 0:
		return color.GrayModel
	}
	return color.Gray16Model
}
