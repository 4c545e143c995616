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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	app := newApp()
	// The commands that load the language model.
	if len(os.Args) > 1 {
		if cmd := findCommand(app.Commands, os.Args[1]); cmd != nil && slices.Contains([]string{"summarize", "chat", "batch", "serve"}, cmd.Name) {
			reexecWithHugePages()
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// chat handles Ctrl-C itself: it stops the answer being written.
	go exitOnSecondSignal(len(os.Args) > 1 && findCommand(app.Commands, os.Args[1]) == findCommand(app.Commands, "chat"))
	if err := app.RunContext(ctx, interspersed(app, os.Args)); err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "xraygpt: interrupted")
			os.Exit(130)
		}
		fmt.Fprintf(os.Stderr, "xraygpt: %v\n", err)
		var exit cli.ExitCoder
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		os.Exit(1)
	}
}

// exitOnSecondSignal keeps every command interruptible: the first SIGINT or
// SIGTERM cancels the commands' context, which stops them cleanly (a batch
// records nothing half-done); if the command has not returned by the next
// signal, or within forceExitAfter of a SIGTERM, the process exits at once
// with the shell's status for the signal. Outputs appear only when complete,
// so this leaves no half-written file (see docs/robustness.md). In chatMode
// SIGINT belongs to chat, which stops the answer being written with it, and
// SIGTERM ends the program at once (chat writes no file).
func exitOnSecondSignal(chatMode bool) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	if chatMode {
		for s := range sigs {
			if s == syscall.SIGTERM {
				os.Exit(exitStatus(s))
			}
		}
	}
	var timeout <-chan time.Time
	if s := <-sigs; s == syscall.SIGTERM { // main's context is cancelled by the same signal
		timeout = time.After(forceExitAfter)
	}
	fmt.Fprintln(os.Stderr, "xraygpt: interrupted; stopping (send the signal again to quit at once)")
	select {
	case s := <-sigs:
		os.Exit(exitStatus(s))
	case <-timeout:
		fmt.Fprintln(os.Stderr, "xraygpt: still running after SIGTERM; quitting")
		os.Exit(exitStatus(syscall.SIGTERM))
	}
}

// forceExitAfter is how long a command may take to stop after SIGTERM.
const forceExitAfter = 10 * time.Second

func exitStatus(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 1
}

func newApp() *cli.App {
	app := &cli.App{
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
		OnUsageError:   usageError,
	}
	setChecks(app.Commands)
	return app
}

// setChecks makes every command check its numeric flags before it runs and
// report unparsable flags as usage errors.
func setChecks(cmds []*cli.Command) {
	for _, c := range cmds {
		c.Before = checkFlags
		c.OnUsageError = usageError
		setChecks(c.Subcommands)
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
