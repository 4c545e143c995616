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
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp()
	if err := app.RunContext(ctx, interspersed(app, os.Args)); err != nil {
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
			serveCommand(),
			batchCommand(),
			mergeCommand(),
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

// interspersed moves a command's flags before its arguments, so that
// "xraygpt convert llm DIR -o OUT" works as it reads: urfave/cli v2 stops
// parsing flags at the first argument. Everything after "--" stays an
// argument.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	cmds, i := app.Commands, 1
	for i < len(args) && !strings.HasPrefix(args[i], "-") {
		next := findCommand(cmds, args[i])
		if next == nil {
			break
		}
		cmd, cmds = next, next.Subcommands
		i++
	}
	if cmd == nil {
		return args
	}
	out := append([]string(nil), args[:i]...)
	var positional []string
	for j := i; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "--":
			positional = append(positional, args[j:]...)
			j = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			out = append(out, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue(cmd, name) && j+1 < len(args) {
				j++
				out = append(out, args[j])
			}
		default:
			positional = append(positional, a)
		}
	}
	return append(out, positional...)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether the command's flag called name needs a value.
func takesValue(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}
