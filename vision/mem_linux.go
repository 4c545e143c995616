//go:build linux

package vision

import (
	"os"
	"syscall"
	"unsafe"
)

// Memory advice for the weights. Page faults are expensive on the VMs this
// runs on (25-40 µs each), so the heap copy of widened weights asks for
// transparent huge pages and mapped f32 weights are populated in one call.
// Failures are ignored: the advice only changes speed and residency.

const (
	madvHugePage     = 14
	madvPopulateRead = 22 // Linux 5.14+
)

var pageSize = uintptr(os.Getpagesize())

// pageRange returns the page-aligned range covering (outer) or inside
// (inner) b, or nil.
func pageRange(b []byte, outer bool) []byte {
	if len(b) == 0 {
		return nil
	}
	base := unsafe.Pointer(&b[0])
	start := uintptr(base)
	end := start + uintptr(len(b))
	var s, e uintptr
	if outer {
		s = start &^ (pageSize - 1)
		e = (end + pageSize - 1) &^ (pageSize - 1)
	} else {
		s = (start + pageSize - 1) &^ (pageSize - 1)
		e = end &^ (pageSize - 1)
	}
	if e <= s {
		return nil
	}
	// The outer range may start before b: still inside the same mapping.
	return unsafe.Slice((*byte)(unsafe.Add(base, int(s)-int(start))), e-s)
}

func adviseHugePages[T float32 | uint16](f []T) {
	if len(f) == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*int(unsafe.Sizeof(f[0])))
	if r := pageRange(b, false); r != nil {
		syscall.Madvise(r, madvHugePage)
	}
}

// populate maps the pages of b (part of a read-only file mapping) now.
func populate(b []byte) {
	if r := pageRange(b, true); r != nil {
		if syscall.Madvise(r, madvPopulateRead) != nil {
			syscall.Madvise(r, syscall.MADV_WILLNEED)
		}
	}
}

// dropPages unmaps the pages inside b (part of a read-only file mapping)
// from this process; the data stays in the page cache.
func dropPages(b []byte) {
	if r := pageRange(b, false); r != nil {
		syscall.Madvise(r, syscall.MADV_DONTNEED)
	}
}
