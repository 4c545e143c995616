//go:build !linux && !darwin

package charls

import "errors"

// Sentinel errors, as on Linux and macOS.
var (
	ErrNotAvailable = errors.New("CharLS (libcharls) is loaded only on Linux and macOS")
	ErrUnsupported  = errors.New("unsupported JPEG-LS")
	ErrCorrupt      = errors.New("corrupt JPEG-LS")
	ErrTooLarge     = errors.New("JPEG-LS too large")
)

// Image is a decoded JPEG-LS image.
type Image struct {
	Width, Height, Components, BitsPerSample, NearLossless int
	Samples                                                []uint16
}

// Library is never available here.
type Library struct{}

// Open always fails here.
func Open() (*Library, error) { return nil, ErrNotAvailable }

// Version is empty.
func (l *Library) Version() string { return "" }

// Decode always fails here.
func (l *Library) Decode([]byte, int64) (*Image, error) { return nil, ErrNotAvailable }
