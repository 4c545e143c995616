// Command xraygpt reads chest X-rays and writes radiology summaries with
// XrayGPT's model (vision encoder + projection + Vicuna via llama.cpp),
// answers follow-up questions, converts and quantizes the released weights,
// runs batches and evaluates them with ROUGE.
//
// Each subcommand lives in its own file (summarize.go, chat.go, ...).
// stdout carries only results; logs, progress and timings go to stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newApp().RunContext(ctx, os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "xraygpt: %v\n", err)
		var exit cli.ExitCoder
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "xraygpt",
		Usage:   "chest X-ray summaries and follow-up answers, offline",
		Version: version,
		Commands: []*cli.Command{
			summarizeCommand(),
			chatCommand(),
			batchCommand(),
			evalCommand(),
			convertCommand(),
			quantizeCommand(),
			embedCommand(),
			devicesCommand(),
			versionCommand(),
		},
		// Errors are printed once by main, not by the library as well.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}
