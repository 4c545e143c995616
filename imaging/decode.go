package imaging

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math"

	"github.com/xraygpt-go/xraygpt/dicom"
	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// DefaultMaxPixels is the largest image (width*height) that Load and Decode
// accept when Limits.MaxPixels is zero: 100 megapixels, far above any chest
// X-ray (a 43x43 cm detector at 100 µm is about 18.5 megapixels).
const DefaultMaxPixels = 100_000_000

// DefaultMaxHeaderBytes bounds how many bytes the header check may read (and
// buffer) before the image's dimensions are known, when
// Limits.MaxHeaderBytes is zero.
const DefaultMaxHeaderBytes = 16 << 20

// Sentinel errors that callers can test with errors.Is.
var (
	// ErrFormat means the data is not in a format this package reads (the
	// first bytes match no known signature).
	ErrFormat = errors.New("unknown image format")
	// ErrTooLarge means the header declares more pixels than the limit, or the
	// header itself is unreasonably long.
	ErrTooLarge = errors.New("image too large")
	// ErrUnsupported means the format is known but this kind of image is not
	// handled (CMYK/YCCK JPEG, arithmetic-coded or 12-bit colour JPEG, ...).
	ErrUnsupported = errors.New("unsupported image kind")
	// ErrCorrupt means the file is malformed or truncated.
	ErrCorrupt = errors.New("corrupt or truncated image")
)

// Limits bounds what Load and Decode accept. The zero value applies the
// defaults.
type Limits struct {
	// MaxPixels is the largest width*height accepted; 0 means
	// DefaultMaxPixels. The header is checked before any pixel memory is
	// allocated.
	MaxPixels int64
	// MaxHeaderBytes bounds the bytes read before the dimensions are known;
	// 0 means DefaultMaxHeaderBytes.
	MaxHeaderBytes int64
	// Warn, when set, receives what a decoder noticed but did not refuse
	// (a multi-frame DICOM file of which only the first frame is read, ...).
	Warn func(msg string)
}

func (l Limits) maxPixels() int64 {
	if l.MaxPixels > 0 {
		return l.MaxPixels
	}
	return DefaultMaxPixels
}

func (l Limits) maxHeaderBytes() int64 {
	if l.MaxHeaderBytes > 0 {
		return l.MaxHeaderBytes
	}
	return DefaultMaxHeaderBytes
}

// format is one row of the format table: a signature test on the first bytes
// of the data, a header reader and a full decoder. A new format (DICOM, say)
// is one more row in formats; files are recognised by content, never by their
// name.
type format struct {
	name   string
	match  func(head []byte) bool
	config func(io.Reader) (image.Config, error)
	// decode reads the whole image; l.MaxPixels is the limit the header has
	// already been checked against, for decoders that re-read dimensions.
	decode func(r io.Reader, l Limits) (image.Image, error)
}

// sniffLen is how many leading bytes the signature tests may look at (DICOM
// needs 132: a 128-byte preamble then "DICM").
const sniffLen = 132

var formats = [...]format{
	{
		name:   "png",
		match:  func(h []byte) bool { return bytes.HasPrefix(h, []byte("\x89PNG\r\n\x1a\n")) },
		config: png.DecodeConfig,
		decode: func(r io.Reader, _ Limits) (image.Image, error) { return png.Decode(r) },
	},
	{
		name:   "jpeg",
		match:  func(h []byte) bool { return bytes.HasPrefix(h, []byte{0xff, 0xd8, 0xff}) },
		config: jpegConfig,
		decode: func(r io.Reader, l Limits) (image.Image, error) { return decodeJPEG(r, l.maxPixels()) },
	},
	{
		name:   "dicom",
		match:  dicom.IsDICOM,
		config: dicom.DecodeConfig,
		decode: decodeDICOM,
	},
}

// decodeDICOM reads the first frame of a DICOM file (see package dicom:
// rescale, VOI window, MONOCHROME1 inverted), passing its warnings on.
func decodeDICOM(r io.Reader, l Limits) (image.Image, error) {
	max := l.maxPixels()
	if max > math.MaxInt32 {
		max = math.MaxInt32
	}
	img, err := dicom.DecodeReader(r, dicom.Options{MaxPixels: int(max)})
	if err != nil {
		return nil, err
	}
	if l.Warn != nil {
		for _, w := range img.Warnings {
			l.Warn("dicom: " + w)
		}
	}
	return img.Pixels, nil
}

func sniff(head []byte) *format {
	for i := range formats {
		if formats[i].match(head) {
			return &formats[i]
		}
	}
	return nil
}

// Load reads an image file (PNG, JPEG or DICOM, recognised by its first bytes) with
// the default Limits. The header's dimensions are checked before the pixels
// are decoded. Errors name the file and wrap ErrFormat, ErrTooLarge,
// ErrUnsupported or ErrCorrupt.
//
// PNGs are read with image/png (16-bit samples kept). Baseline and
// progressive 8-bit gray and YCbCr JPEGs are read with this package's own
// decoder, whose samples equal libjpeg-turbo's (and so Pillow's); lossless and
// 12-bit grey JPEGs (and lossless RGB) go to package rawjpeg and come back as
// Gray16 (RGBA64); other JPEG kinds go to image/jpeg, and CMYK/YCCK JPEGs are
// refused (ErrUnsupported).
// A gray JPEG gives an *image.Gray, a colour one an *image.YCbCr (convert it
// with ToRGB8, which does libjpeg's upsampling and colour conversion).
func Load(path string) (image.Image, error) { return Limits{}.Load(path) }

// Decode reads a PNG, JPEG or DICOM image from r with the default Limits; see Load.
func Decode(r io.Reader) (image.Image, error) { return Limits{}.Decode(r) }

// Load is the package-level Load with these limits.
func (l Limits) Load(path string) (image.Image, error) {
	f, err := fileio.OpenRegular(path)
	if err != nil {
		return nil, fmt.Errorf("imaging: load %s: %w", path, err)
	}
	defer f.Close()
	img, err := l.decode(f)
	if err != nil {
		return nil, fmt.Errorf("imaging: load %s: %w", path, err)
	}
	return img, nil
}

// Decode is the package-level Decode with these limits.
func (l Limits) Decode(r io.Reader) (image.Image, error) {
	img, err := l.decode(r)
	if err != nil {
		return nil, fmt.Errorf("imaging: decode: %w", err)
	}
	return img, nil
}

// decode sniffs the format, reads the header through a bounded recorder,
// checks the dimensions, then decodes the recorded bytes followed by the rest
// of the stream.
func (l Limits) decode(r io.Reader) (image.Image, error) {
	br := bufio.NewReaderSize(r, 4096)
	head, err := br.Peek(sniffLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(head) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrCorrupt)
	}
	f := sniff(head)
	if f == nil {
		return nil, fmt.Errorf("%w (not PNG, JPEG or DICOM; first bytes % x)", ErrFormat, head[:min(len(head), 8)])
	}

	rec := &boundedBuffer{max: l.maxHeaderBytes()}
	cfg, err := f.config(io.TeeReader(br, rec))
	if rec.overflow {
		return nil, fmt.Errorf("%s: %w: more than %d bytes before the image dimensions", f.name, ErrTooLarge, rec.max)
	}
	if err != nil {
		return nil, classify(f.name, "header", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%s: %w: header declares %dx%d pixels", f.name, ErrCorrupt, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > l.maxPixels() {
		return nil, fmt.Errorf("%s: %w: %dx%d is %d pixels, limit %d", f.name, ErrTooLarge, cfg.Width, cfg.Height, px, l.maxPixels())
	}

	img, err := f.decode(io.MultiReader(bytes.NewReader(rec.buf), br), l)
	if err != nil {
		return nil, classify(f.name, "pixels", err)
	}
	if _, ok := img.(*image.CMYK); ok {
		return nil, fmt.Errorf("%s: %w: CMYK/YCCK colour (only gray and YCbCr/RGB JPEGs are read)", f.name, ErrUnsupported)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("%s: %w: header says %dx%d, decoded %dx%d", f.name, ErrCorrupt, cfg.Width, cfg.Height, b.Dx(), b.Dy())
	}
	return img, nil
}

// classify wraps a decoder error with the sentinel that describes it.
func classify(name, stage string, err error) error {
	var (
		pu png.UnsupportedError
		ju jpeg.UnsupportedError
	)
	switch {
	case errors.As(err, &pu), errors.As(err, &ju),
		errors.Is(err, dicom.ErrUnsupported), errors.Is(err, dicom.ErrUnsupportedTransferSyntax), errors.Is(err, dicom.ErrNoPixelData):
		return fmt.Errorf("%s %s: %w: %v", name, stage, ErrUnsupported, err)
	case errors.Is(err, dicom.ErrTooLarge):
		return fmt.Errorf("%s %s: %w: %v", name, stage, ErrTooLarge, err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%s %s: %w: truncated (%v)", name, stage, ErrCorrupt, err)
	default:
		return fmt.Errorf("%s %s: %w: %v", name, stage, ErrCorrupt, err)
	}
}

// boundedBuffer records what the header reader consumed, up to max bytes.
type boundedBuffer struct {
	buf      []byte
	max      int64
	overflow bool
}

var errHeaderTooLong = errors.New("header too long")

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if int64(len(b.buf))+int64(len(p)) > b.max {
		b.overflow = true
		return 0, errHeaderTooLong
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}
