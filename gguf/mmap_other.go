//go:build !unix

package gguf

import (
	"io"
	"os"
)

// mapFile reads the whole file: platforms without mmap keep it in memory.
func mapFile(fd *os.File, size int64) ([]byte, func() error, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(fd, data); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
