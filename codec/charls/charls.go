//go:build linux || darwin

// Package charls decodes JPEG-LS codestreams with CharLS (libcharls 2.x, Debian libcharls2,
// Homebrew charls), loaded at run time with purego: no cgo, and a program built without the
// library still runs; Open then says what to install.
package charls

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/xraygpt-go/xraygpt/internal/dynlib"
)

// Sentinel errors; Decode's errors wrap one of them.
var (
	// ErrNotAvailable: the CharLS library could not be loaded.
	ErrNotAvailable = errors.New("CharLS (libcharls) not available: install Debian/Ubuntu libcharls2 or Homebrew charls")
	// ErrUnsupported: a valid codestream this package does not return (more than 16 bits, 4 components, ...).
	ErrUnsupported = errors.New("unsupported JPEG-LS")
	// ErrCorrupt: CharLS refused the codestream.
	ErrCorrupt = errors.New("corrupt JPEG-LS")
	// ErrTooLarge: the header declares more pixels than allowed.
	ErrTooLarge = errors.New("JPEG-LS too large")
)

// Image is a decoded JPEG-LS image.
type Image struct {
	Width, Height int
	Components    int
	BitsPerSample int
	NearLossless  int // NEAR of the first component; 0 for lossless
	// Samples holds Width*Height*Components samples, pixel-interleaved.
	Samples []uint16
}

// Library is the loaded CharLS library.
type Library struct {
	version string

	create        func() uintptr
	destroy       func(d uintptr)
	setSource     func(d uintptr, src unsafe.Pointer, n uintptr) int32
	readHeader    func(d uintptr) int32
	frameInfo     func(d uintptr, info *frameInfo) int32
	nearLossless  func(d uintptr, component int32, near *int32) int32
	interleave    func(d uintptr, mode *int32) int32
	destSize      func(d uintptr, stride uint32, size *uintptr) int32
	decodeToBuf   func(d uintptr, dst unsafe.Pointer, n uintptr, stride uint32) int32
	errorMessage  func(code int32) string
	versionString func() string
}

// frameInfo is charls_frame_info.
type frameInfo struct {
	width, height  uint32
	bitsPerSample  int32
	componentCount int32
}

var (
	loadOnce sync.Once
	loaded   *Library
	loadErr  error
)

// Open loads CharLS once per process (from $XRAYGPT_CHARLS when set) and returns it, or an error wrapping ErrNotAvailable.
func Open() (*Library, error) {
	loadOnce.Do(func() { loaded, loadErr = open() })
	return loaded, loadErr
}

// Version is the library's version string ("2.4.1").
func (l *Library) Version() string { return l.version }

func open() (*Library, error) {
	h, err := dynlib.Open(dynlib.Candidates("XRAYGPT_CHARLS",
		[]string{"libcharls.so.2", "libcharls.so"},
		[]string{"libcharls.2.dylib", "libcharls.dylib", "/opt/homebrew/opt/charls/lib/libcharls.dylib", "/usr/local/opt/charls/lib/libcharls.dylib"})...)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNotAvailable, err)
	}
	l := &Library{}
	if err := dynlib.Bind(h,
		dynlib.Func{Ptr: &l.create, Name: "charls_jpegls_decoder_create"},
		dynlib.Func{Ptr: &l.destroy, Name: "charls_jpegls_decoder_destroy"},
		dynlib.Func{Ptr: &l.setSource, Name: "charls_jpegls_decoder_set_source_buffer"},
		dynlib.Func{Ptr: &l.readHeader, Name: "charls_jpegls_decoder_read_header"},
		dynlib.Func{Ptr: &l.frameInfo, Name: "charls_jpegls_decoder_get_frame_info"},
		dynlib.Func{Ptr: &l.nearLossless, Name: "charls_jpegls_decoder_get_near_lossless"},
		dynlib.Func{Ptr: &l.interleave, Name: "charls_jpegls_decoder_get_interleave_mode"},
		dynlib.Func{Ptr: &l.destSize, Name: "charls_jpegls_decoder_get_destination_size"},
		dynlib.Func{Ptr: &l.decodeToBuf, Name: "charls_jpegls_decoder_decode_to_buffer"},
		dynlib.Func{Ptr: &l.errorMessage, Name: "charls_get_error_message"},
		dynlib.Func{Ptr: &l.versionString, Name: "charls_get_version_string"},
	); err != nil {
		return nil, fmt.Errorf("%w: %v (CharLS 2.1 or newer is needed)", ErrNotAvailable, err)
	}
	l.version = l.versionString()
	return l, nil
}

// Decode decodes a JPEG-LS codestream; maxPixels caps width x height before the samples are
// allocated.
func (l *Library) Decode(data []byte, maxPixels int64) (*Image, error) {
	if len(data) < 4 {
		return nil, fmt.Errorf("%d bytes: %w", len(data), ErrCorrupt)
	}
	// CharLS 2.4 can spend seconds on a stream cut short: refuse one without its EOI marker
	// (ff d9, possibly followed by a padding byte) before decoding.
	end := len(data)
	if data[end-1] == 0 {
		end--
	}
	if data[end-2] != 0xff || data[end-1] != 0xd9 {
		return nil, fmt.Errorf("no EOI marker at the end of the %d bytes (truncated?): %w", len(data), ErrCorrupt)
	}
	d := l.create()
	if d == 0 {
		return nil, errors.New("charls: charls_jpegls_decoder_create failed")
	}
	defer l.destroy(d)
	// CharLS keeps a pointer to data from set_source_buffer to the end of the decode.
	defer runtime.KeepAlive(data)
	fail := func(what string, code int32) error {
		return fmt.Errorf("%s: %s (CharLS error %d): %w", what, l.errorMessage(code), code, ErrCorrupt)
	}
	if rc := l.setSource(d, unsafe.Pointer(&data[0]), uintptr(len(data))); rc != 0 {
		return nil, fail("source", rc)
	}
	if rc := l.readHeader(d); rc != 0 {
		return nil, fail("reading the header", rc)
	}
	var fi frameInfo
	if rc := l.frameInfo(d, &fi); rc != 0 {
		return nil, fail("frame info", rc)
	}
	w, h, nc, bits := int64(fi.width), int64(fi.height), int(fi.componentCount), int(fi.bitsPerSample)
	// Run mode codes long runs of equal samples in a few bits, so the header is bounded by
	// maxPixels rather than by the data's size.
	switch {
	case maxPixels > 0 && w*h > maxPixels:
		return nil, fmt.Errorf("%dx%d pixels exceed the limit of %d: %w", w, h, maxPixels, ErrTooLarge)
	case nc != 1 && nc != 3:
		return nil, fmt.Errorf("%d components: %w", nc, ErrUnsupported)
	case bits < 2 || bits > 16:
		return nil, fmt.Errorf("%d bits per sample: %w", bits, ErrUnsupported)
	}
	var near, mode int32
	if rc := l.nearLossless(d, 0, &near); rc != 0 {
		return nil, fail("near-lossless parameter", rc)
	}
	if rc := l.interleave(d, &mode); rc != 0 {
		return nil, fail("interleave mode", rc)
	}
	var size uintptr
	if rc := l.destSize(d, 0, &size); rc != 0 {
		return nil, fail("destination size", rc)
	}
	bytesPer := int64(1)
	if bits > 8 {
		bytesPer = 2
	}
	if int64(size) != w*h*int64(nc)*bytesPer {
		return nil, fmt.Errorf("destination size %d for %dx%dx%d %d-bit samples: %w", size, w, h, nc, bits, ErrUnsupported)
	}
	buf := make([]byte, size)
	if rc := l.decodeToBuf(d, unsafe.Pointer(&buf[0]), size, 0); rc != 0 {
		return nil, fail("decoding", rc)
	}
	img := &Image{Width: int(w), Height: int(h), Components: nc, BitsPerSample: bits, NearLossless: int(near)}
	n := int(w * h)
	img.Samples = make([]uint16, n*nc)
	for i := range img.Samples {
		j := i
		if nc > 1 && mode == 0 { // interleave mode none: CharLS writes the components one plane after another
			j = (i%nc)*n + i/nc
		}
		if bytesPer == 1 {
			img.Samples[i] = uint16(buf[j])
		} else {
			img.Samples[i] = binary.NativeEndian.Uint16(buf[2*j:])
		}
	}
	return img, nil
}
