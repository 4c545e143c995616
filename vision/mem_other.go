//go:build !linux

package vision

func adviseHugePages[T float32 | uint16]([]T) {}
func populate([]byte)                         {}
func dropPages([]byte)                        {}
