//go:build !unix

package linalg

import "time"

// processCPU cannot tell on this platform.
func processCPU() time.Duration { return 0 }
