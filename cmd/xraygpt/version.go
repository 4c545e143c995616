package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/codec/charls"
	"github.com/xraygpt-go/xraygpt/codec/openjpeg"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version and build information",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "xraygpt %s (%s/%s, %s)\n", version, runtime.GOOS, runtime.GOARCH, runtime.Version())
			fmt.Fprintln(c.App.Writer, "DICOM codecs: native, deflate, JPEG baseline/extended 12-bit/lossless, RLE (built in)")
			if l, err := openjpeg.Open(); err == nil {
				fmt.Fprintf(c.App.Writer, "  JPEG 2000: OpenJPEG %s\n", l.Version())
			} else {
				fmt.Fprintf(c.App.Writer, "  JPEG 2000: unavailable: %v\n", err)
			}
			if l, err := charls.Open(); err == nil {
				fmt.Fprintf(c.App.Writer, "  JPEG-LS: CharLS %s\n", l.Version())
			} else {
				fmt.Fprintf(c.App.Writer, "  JPEG-LS: unavailable: %v\n", err)
			}
			return nil
		},
	}
}
