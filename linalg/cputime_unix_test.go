//go:build unix

package linalg

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time this process has used, or 0
// when it cannot tell.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
