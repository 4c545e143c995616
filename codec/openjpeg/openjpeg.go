//go:build linux || darwin

// Package openjpeg decodes JPEG 2000 codestreams with OpenJPEG (libopenjp2, Debian
// libopenjp2-7, Homebrew openjpeg), loaded at run time with purego: no cgo, and a program
// built without the library still runs; Open then says what to install.
package openjpeg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/xraygpt-go/xraygpt/internal/dynlib"
)

// Sentinel errors; Decode's errors wrap one of them.
var (
	// ErrNotAvailable: the OpenJPEG library could not be loaded.
	ErrNotAvailable = errors.New("OpenJPEG (libopenjp2) not available: install Debian/Ubuntu libopenjp2-7 or Homebrew openjpeg")
	// ErrUnsupported: a valid codestream this package does not return (subsampled components, more than 16 bits, ...).
	ErrUnsupported = errors.New("unsupported JPEG 2000")
	// ErrCorrupt: OpenJPEG refused the codestream.
	ErrCorrupt = errors.New("corrupt JPEG 2000")
	// ErrTooLarge: the header declares more pixels than allowed.
	ErrTooLarge = errors.New("JPEG 2000 too large")
)

// Image is a decoded JPEG 2000 image: Components planes of Width x Height samples.
type Image struct {
	Width, Height int
	Precision     int  // bits per sample
	Signed        bool // samples are signed
	// Components holds one plane per component, row by row; OpenJPEG has already undone a
	// multiple-component transform (RCT or ICT) the codestream declares.
	Components [][]int32
}

// Library is the loaded OpenJPEG library.
type Library struct {
	version string

	createDecompress  func(format int32) uintptr
	destroyCodec      func(codec uintptr)
	setDefaultParams  func(params unsafe.Pointer)
	setupDecoder      func(codec uintptr, params unsafe.Pointer) int32
	setThreads        func(codec uintptr, n int32) int32 // nil before OpenJPEG 2.3
	setErrorHandler   func(codec, fn, data uintptr) int32
	streamCreate      func(size uintptr, input int32) uintptr
	streamDestroy     func(stream uintptr)
	streamSetRead     func(stream, fn uintptr)
	streamSetSkip     func(stream, fn uintptr)
	streamSetSeek     func(stream, fn uintptr)
	streamSetUserData func(stream, data, free uintptr)
	streamSetLength   func(stream uintptr, n uint64)
	readHeader        func(stream, codec uintptr, image *uintptr) int32
	decode            func(codec, stream, image uintptr) int32
	endDecompress     func(codec, stream uintptr) int32
	imageDestroy      func(image uintptr)
}

var (
	loadOnce sync.Once
	loaded   *Library
	loadErr  error
)

// Open loads OpenJPEG once per process (from $XRAYGPT_OPENJPEG when set) and returns it, or an error wrapping ErrNotAvailable.
func Open() (*Library, error) {
	loadOnce.Do(func() { loaded, loadErr = open() })
	return loaded, loadErr
}

// Version is the library's version string ("2.5.0").
func (l *Library) Version() string { return l.version }

func open() (*Library, error) {
	h, err := dynlib.Open(dynlib.Candidates("XRAYGPT_OPENJPEG",
		[]string{"libopenjp2.so.7", "libopenjp2.so"},
		[]string{"libopenjp2.7.dylib", "libopenjp2.dylib", "/opt/homebrew/opt/openjpeg/lib/libopenjp2.dylib", "/usr/local/opt/openjpeg/lib/libopenjp2.dylib"})...)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNotAvailable, err)
	}
	l := &Library{}
	var version func() string
	if err := dynlib.Bind(h,
		dynlib.Func{Ptr: &version, Name: "opj_version"},
		dynlib.Func{Ptr: &l.createDecompress, Name: "opj_create_decompress"},
		dynlib.Func{Ptr: &l.destroyCodec, Name: "opj_destroy_codec"},
		dynlib.Func{Ptr: &l.setDefaultParams, Name: "opj_set_default_decoder_parameters"},
		dynlib.Func{Ptr: &l.setupDecoder, Name: "opj_setup_decoder"},
		dynlib.Func{Ptr: &l.setErrorHandler, Name: "opj_set_error_handler"},
		dynlib.Func{Ptr: &l.streamCreate, Name: "opj_stream_create"},
		dynlib.Func{Ptr: &l.streamDestroy, Name: "opj_stream_destroy"},
		dynlib.Func{Ptr: &l.streamSetRead, Name: "opj_stream_set_read_function"},
		dynlib.Func{Ptr: &l.streamSetSkip, Name: "opj_stream_set_skip_function"},
		dynlib.Func{Ptr: &l.streamSetSeek, Name: "opj_stream_set_seek_function"},
		dynlib.Func{Ptr: &l.streamSetUserData, Name: "opj_stream_set_user_data"},
		dynlib.Func{Ptr: &l.streamSetLength, Name: "opj_stream_set_user_data_length"},
		dynlib.Func{Ptr: &l.readHeader, Name: "opj_read_header"},
		dynlib.Func{Ptr: &l.decode, Name: "opj_decode"},
		dynlib.Func{Ptr: &l.endDecompress, Name: "opj_end_decompress"},
		dynlib.Func{Ptr: &l.imageDestroy, Name: "opj_image_destroy"},
	); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAvailable, err)
	}
	dynlib.BindOptional(h, dynlib.Func{Ptr: &l.setThreads, Name: "opj_codec_set_threads"})
	l.version = version()
	return l, nil
}

// memStream is the codestream one decode reads, found by the callbacks through its handle.
type memStream struct {
	data   []byte
	pos    int
	errMsg string // OpenJPEG's last error message
}

// streams maps handles (the callbacks' user data) to the decodes in flight.
var (
	streams    sync.Map
	nextHandle atomic.Uintptr
	cbOnce     sync.Once
	cbRead     uintptr
	cbSkip     uintptr
	cbSeek     uintptr
	cbError    uintptr
)

func stream(handle uintptr) *memStream {
	s, _ := streams.Load(handle)
	return s.(*memStream)
}

// callbacks creates the C callbacks once per process (purego cannot free them).
func callbacks() {
	cbOnce.Do(func() {
		cbRead = purego.NewCallback(func(buf, n, handle uintptr) uintptr {
			s := stream(handle)
			if s.pos >= len(s.data) {
				return ^uintptr(0) // (OPJ_SIZE_T)-1: end of stream
			}
			k := copy(unsafe.Slice((*byte)(cptr(buf)), n), s.data[s.pos:])
			s.pos += k
			return uintptr(k)
		})
		cbSkip = purego.NewCallback(func(n int64, handle uintptr) int64 {
			s := stream(handle)
			if n < 0 || int64(s.pos)+n > int64(len(s.data)) {
				return -1
			}
			s.pos += int(n)
			return n
		})
		cbSeek = purego.NewCallback(func(off int64, handle uintptr) int32 {
			s := stream(handle)
			if off < 0 || off > int64(len(s.data)) {
				return 0
			}
			s.pos = int(off)
			return 1
		})
		cbError = purego.NewCallback(func(msg, handle uintptr) {
			stream(handle).errMsg = goString(msg)
		})
	})
}

// cptr turns an address of C memory, which the Go garbage collector never moves or frees,
// into a pointer (written so that vet's uintptr check, meant for Go memory, does not apply).
func cptr(u uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&u)) }

// goString copies a NUL-terminated C string of at most 1 KiB.
func goString(p uintptr) string {
	if p == 0 {
		return ""
	}
	var b []byte
	for i := uintptr(0); i < 1024; i++ {
		c := *(*byte)(cptr(p + i))
		if c == 0 {
			break
		}
		b = append(b, c)
	}
	for len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	return string(b)
}

// checkSIZ reads the image and tile size (SIZ) of the codestream in data before OpenJPEG does:
// OpenJPEG allocates its per-tile structures while reading the main header, so a hostile
// header declaring a huge image or millions of tiles costs seconds and gigabytes before any
// limit could be checked on what it returns. The image must fit maxPixels, with at most 4
// components, and tiles must average at least 64x64 pixels (or be 16 or fewer).
func checkSIZ(data []byte, maxPixels int64) error {
	i := bytes.Index(data[:min(len(data), 1<<16)], []byte{0xff, 0x4f, 0xff, 0x51})
	if i < 0 || len(data) < i+4+38 {
		return fmt.Errorf("no SOC and SIZ markers at the start of the codestream: %w", ErrCorrupt)
	}
	siz := data[i+4:]
	u32 := func(o int) int64 { return int64(binary.BigEndian.Uint32(siz[o:])) }
	xsiz, ysiz, xo, yo := u32(4), u32(8), u32(12), u32(16)
	xt, yt, xto, yto := u32(20), u32(24), u32(28), u32(32)
	nc := int(binary.BigEndian.Uint16(siz[36:]))
	w, h := xsiz-xo, ysiz-yo
	switch {
	case w <= 0 || h <= 0 || xt == 0 || yt == 0 || xto > xo || yto > yo || xto+xt <= xo || yto+yt <= yo:
		return fmt.Errorf("SIZ: image %dx%d at (%d,%d), tiles %dx%d at (%d,%d): %w", xsiz, ysiz, xo, yo, xt, yt, xto, yto, ErrCorrupt)
	case maxPixels > 0 && w*h > maxPixels:
		return fmt.Errorf("%dx%d pixels exceed the limit of %d: %w", w, h, maxPixels, ErrTooLarge)
	case nc < 1 || nc > 4:
		return fmt.Errorf("%d components: %w", nc, ErrUnsupported)
	}
	tiles := ((xsiz - xto + xt - 1) / xt) * ((ysiz - yto + yt - 1) / yt)
	if tiles > 16 && tiles > w*h/(64*64) {
		return fmt.Errorf("%d tiles of %dx%d for a %dx%d image: %w", tiles, xt, yt, w, h, ErrUnsupported)
	}
	return nil
}

// Layouts of OpenJPEG 2.x's opj_image_t and opj_image_comp_t (64-bit ABI).
type cImage struct {
	x0, y0, x1, y1 uint32
	numcomps       uint32
	colorSpace     int32
	comps          uintptr
	iccBuf         uintptr
	iccLen         uint32
}

type cImageComp struct {
	dx, dy, w, h, x0, y0 uint32
	prec, bpp, sgnd      uint32
	resnoDecoded, factor uint32
	data                 uintptr
	alpha                uint16
}

// Decode decodes a JPEG 2000 codestream (or JP2 file). maxPixels caps width x height before
// any sample is decoded; threads (0: none) is passed to OpenJPEG.
func (l *Library) Decode(data []byte, maxPixels int64, threads int) (*Image, error) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		return nil, fmt.Errorf("32-bit platform: %w", ErrUnsupported)
	}
	format := int32(0) // OPJ_CODEC_J2K
	switch {
	case len(data) >= 4 && data[0] == 0xff && data[1] == 0x4f && data[2] == 0xff && data[3] == 0x51:
	case len(data) >= 12 && string(data[4:8]) == "jP  ":
		format = 2 // OPJ_CODEC_JP2
	default:
		return nil, fmt.Errorf("no SOC marker (ff 4f ff 51) or JP2 signature at the start: %w", ErrCorrupt)
	}
	if err := checkSIZ(data, maxPixels); err != nil {
		return nil, err
	}
	callbacks()
	s := &memStream{data: data}
	handle := nextHandle.Add(1)
	streams.Store(handle, s)
	defer streams.Delete(handle)
	fail := func(what string) error {
		if s.errMsg != "" {
			return fmt.Errorf("%s: %s (at byte %d of %d): %w", what, s.errMsg, s.pos, len(data), ErrCorrupt)
		}
		return fmt.Errorf("%s failed (at byte %d of %d): %w", what, s.pos, len(data), ErrCorrupt)
	}

	codec := l.createDecompress(format)
	if codec == 0 {
		return nil, errors.New("openjpeg: opj_create_decompress failed")
	}
	defer l.destroyCodec(codec)
	l.setErrorHandler(codec, cbError, handle)
	// opj_dparameters_t is about 18 KiB in OpenJPEG 2.5; 64 KiB leaves room for any 2.x.
	params := make([]byte, 64<<10)
	l.setDefaultParams(unsafe.Pointer(&params[0]))
	if l.setupDecoder(codec, unsafe.Pointer(&params[0])) == 0 {
		return nil, fail("opj_setup_decoder")
	}
	runtime.KeepAlive(params)
	if threads > 1 && l.setThreads != nil {
		l.setThreads(codec, int32(threads))
	}
	st := l.streamCreate(1<<20, 1)
	if st == 0 {
		return nil, errors.New("openjpeg: opj_stream_create failed")
	}
	defer l.streamDestroy(st)
	l.streamSetRead(st, cbRead)
	l.streamSetSkip(st, cbSkip)
	l.streamSetSeek(st, cbSeek)
	l.streamSetUserData(st, handle, 0)
	l.streamSetLength(st, uint64(len(data)))

	var imgPtr uintptr
	ok := l.readHeader(st, codec, &imgPtr)
	if imgPtr != 0 {
		defer l.imageDestroy(imgPtr)
	}
	if ok == 0 || imgPtr == 0 {
		return nil, fail("reading the main header")
	}
	img := (*cImage)(cptr(imgPtr))
	w, h := int64(img.x1)-int64(img.x0), int64(img.y1)-int64(img.y0)
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("image area %dx%d: %w", w, h, ErrCorrupt)
	}
	if maxPixels > 0 && w*h > maxPixels {
		return nil, fmt.Errorf("%dx%d pixels exceed the limit of %d: %w", w, h, maxPixels, ErrTooLarge)
	}
	nc := int(img.numcomps)
	if nc < 1 || nc > 4 {
		return nil, fmt.Errorf("%d components: %w", nc, ErrUnsupported)
	}
	comps := unsafe.Slice((*cImageComp)(cptr(img.comps)), nc)
	for i, c := range comps {
		if c.dx != 1 || c.dy != 1 {
			return nil, fmt.Errorf("component %d subsampled %dx%d: %w", i, c.dx, c.dy, ErrUnsupported)
		}
		if c.prec < 1 || c.prec > 16 || c.prec != comps[0].prec || c.sgnd != comps[0].sgnd {
			return nil, fmt.Errorf("component %d: %d-bit samples (first: %d): %w", i, c.prec, comps[0].prec, ErrUnsupported)
		}
	}
	// No samples-per-byte bound here: a lossy codestream may legitimately stop after a few
	// hundred bytes (quality layers); memory is bounded by maxPixels (4 bytes per sample).
	if l.decode(codec, st, imgPtr) == 0 {
		return nil, fail("decoding")
	}
	if l.endDecompress(codec, st) == 0 {
		return nil, fail("ending the decode")
	}
	out := &Image{Width: int(w), Height: int(h), Precision: int(comps[0].prec), Signed: comps[0].sgnd != 0}
	for i, c := range comps {
		if int64(c.w) != w || int64(c.h) != h || c.data == 0 {
			return nil, fmt.Errorf("component %d decoded as %dx%d of a %dx%d image: %w", i, c.w, c.h, w, h, ErrUnsupported)
		}
		plane := make([]int32, w*h)
		copy(plane, unsafe.Slice((*int32)(cptr(c.data)), w*h))
		out.Components = append(out.Components, plane)
	}
	return out, nil
}
