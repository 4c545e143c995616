//go:build !linux && !darwin

package openjpeg

import "errors"

// Sentinel errors, as on Linux and macOS.
var (
	ErrNotAvailable = errors.New("OpenJPEG (libopenjp2) is loaded only on Linux and macOS")
	ErrUnsupported  = errors.New("unsupported JPEG 2000")
	ErrCorrupt      = errors.New("corrupt JPEG 2000")
	ErrTooLarge     = errors.New("JPEG 2000 too large")
)

// Image is a decoded JPEG 2000 image.
type Image struct {
	Width, Height int
	Precision     int
	Signed        bool
	Components    [][]int32
}

// Library is never available here.
type Library struct{}

// Open always fails here.
func Open() (*Library, error) { return nil, ErrNotAvailable }

// Version is empty.
func (l *Library) Version() string { return "" }

// Decode always fails here.
func (l *Library) Decode([]byte, int64, int) (*Image, error) { return nil, ErrNotAvailable }
