package main

import (
	"context"
	"fmt"
	"time"

	"github.com/xraygpt-go/xraygpt/engine"
	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// encodeFile encodes an image file given by the user, refusing at once
// anything but a regular file (reading a named pipe would wait forever).
func encodeFile(ctx context.Context, e *engine.Engine, path string) (*engine.Image, error) {
	if err := fileio.CheckRegular(path); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return e.EncodeFile(ctx, path)
}
