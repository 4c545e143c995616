//go:build !linux

package vision

func adviseHugePages([]float32) {}
func populate([]byte)           {}
func dropPages([]byte)          {}
