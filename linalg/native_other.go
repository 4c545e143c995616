//go:build !linux && !darwin

package linalg

import (
	"fmt"
	"runtime"

	"gonum.org/v1/gonum/blas/gonum"
)

// Library is a native CBLAS library; on this platform none can be loaded.
type Library struct {
	gonum.Implementation

	gemvMin int // unused here; keeps the tests' view of Library the same
}

// Open always fails on this platform.
func Open(path string) (*Library, error) {
	return nil, fmt.Errorf("load BLAS %s on %s: %w", path, runtime.GOOS, ErrUnsupported)
}

// Name describes the library.
func (l *Library) Name() string { return "none" }

// IsOpenBLAS reports false: no library is loaded on this platform.
func (l *Library) IsOpenBLAS() bool { return false }

// Core returns "": no library is loaded on this platform.
func (l *Library) Core() string { return "" }

// Path returns "": no library is loaded on this platform.
func (l *Library) Path() string { return "" }

// Threads returns 0: the library cannot tell.
func (l *Library) Threads() int { return 0 }

// SetThreads fails with ErrNoThreadControl.
func (l *Library) SetThreads(n int) error { return ErrNoThreadControl }

func openOpenBLAS() (*Library, error)   { return Open("openblas") }
func openAccelerate() (*Library, error) { return Open("accelerate") }
func openPlatform() (*Library, error)   { return nil, fmt.Errorf("%s: %w", runtime.GOOS, ErrUnsupported) }
