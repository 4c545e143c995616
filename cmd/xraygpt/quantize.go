package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/llama"
)

func quantizeCommand() *cli.Command {
	return &cli.Command{
		Name:      "quantize",
		Usage:     "quantize a GGUF language model (e.g. to Q4_K_M)",
		ArgsUsage: "IN.gguf OUT.gguf TYPE",
		Description: "TYPE is one of: " + strings.Join(llama.QuantTypes(), ", ") + `.
Q4_K_M is a good default for a 7B model on a laptop; Q8_0 is nearly lossless.`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "CPU threads (default: one per core)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 3 {
				return cli.Exit("quantize: usage: xraygpt quantize IN.gguf OUT.gguf TYPE", 2)
			}
			in, out, typ := c.Args().Get(0), c.Args().Get(1), c.Args().Get(2)
			if !slices.Contains(llama.QuantTypes(), strings.ToUpper(typ)) {
				return cli.Exit(fmt.Sprintf("quantize: unknown type %q; want one of %s", typ, strings.Join(llama.QuantTypes(), ", ")), 2)
			}
			if err := checkModelFile(in, roleQuantize); err != nil {
				return err
			}
			if err := fileio.CheckOutput(out, in); err != nil {
				return cli.Exit("quantize: "+err.Error(), 2)
			}
			start := time.Now()
			done := make(chan struct{})
			if isTerminal(os.Stderr) { // llama.cpp reports no fraction: show that work goes on
				go func() {
					t := time.NewTicker(time.Second)
					defer t.Stop()
					for {
						select {
						case <-done:
							fmt.Fprint(os.Stderr, "\r\033[K")
							return
						case <-t.C:
							fmt.Fprintf(os.Stderr, "\rquantizing to %s... %s", typ, time.Since(start).Round(time.Second))
						}
					}
				}()
			}
			err := llama.Quantize(c.Context, in, out, llama.QuantizeOptions{Type: strings.ToUpper(typ), Threads: c.Int("threads")})
			close(done)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "wrote %s in %s\n", out, time.Since(start).Round(time.Second))
			return nil
		},
	}
}
