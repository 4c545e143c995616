package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/llama"
)

func devicesCommand() *cli.Command {
	return &cli.Command{
		Name:  "devices",
		Usage: "list the compute devices llama.cpp can use (CPU, Metal, CUDA, Vulkan)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "lib-dir", Usage: "folder of GPU backend plugins", DefaultText: "env XRAYGPT_LIB_DIR, else lib/ next to the binary"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also print llama.cpp's system info"},
		},
		Action: func(c *cli.Context) error {
			loadBackends(c)
			w := c.App.Writer
			for i, d := range llama.Devices() {
				mem := ""
				if d.TotalMemory > 0 {
					mem = fmt.Sprintf(", %.1f GiB free of %.1f GiB", gib(d.FreeMemory), gib(d.TotalMemory))
				}
				fmt.Fprintf(w, "%d: %s (%s) %s%s\n", i, d.Name, d.Type, d.Description, mem)
			}
			if c.Bool("verbose") {
				fmt.Fprintln(w, llama.SystemInfo())
			}
			return nil
		},
	}
}

func gib(b uint64) float64 { return float64(b) / (1 << 30) }
