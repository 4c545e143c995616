package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

func chatCommand() *cli.Command {
	return &cli.Command{
		Name:      "chat",
		Usage:     "talk about an image: ask questions, switch images",
		ArgsUsage: "IMAGE",
		Description: `An interactive session about one X-ray. Type a question and press Enter.
Commands: /image PATH switches to another image, /reset forgets the conversation,
/quit (or Ctrl-D) leaves. Ctrl-C stops the answer being written, not the program.`,
		Flags:  append(modelFlags(), generateFlags()...),
		Action: runChat,
	}
}

func runChat(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("chat: give exactly one image (usage: xraygpt chat IMAGE)", 2)
	}
	chat, closeChat, err := openChat(c)
	if err != nil {
		return err
	}
	defer closeChat()

	// Ctrl-C cancels the answer in progress; main's handler still sees the
	// signal, so this session runs on a context it does not cancel.
	base := context.WithoutCancel(c.Context)
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	defer signal.Stop(interrupts)

	out, errOut := c.App.Writer, os.Stderr
	setImage := func(path string) error {
		img, err := encodeFile(base, chat.Engine(), path)
		if err != nil {
			return err
		}
		chat.SetImage(img)
		for _, w := range img.Warnings {
			fmt.Fprintf(errOut, "xraygpt: %s: %s\n", path, w)
		}
		fmt.Fprintf(errOut, "image: %s (%d soft tokens)\n", path, img.Rows)
		return nil
	}
	if err := setImage(c.Args().First()); err != nil {
		return err
	}
	gen := generateOptions(c)
	interactive := isTerminal(os.Stdin) && isTerminal(errOut)
	var in interface {
		read(<-chan os.Signal) (string, error)
	} = &lineReader{in: bufio.NewReader(os.Stdin)}
	if interactive {
		fmt.Fprintln(errOut, "Ask about the image. /image PATH, /reset, /quit (or Ctrl-D).")
		in = newTTYReader(os.Stdin, errOut, ">>> ")
	}
	for {
		line, err := in.read(interrupts)
		if errors.Is(err, errInterrupted) {
			fmt.Fprintln(errOut, "\n(Ctrl-C stops an answer; type /quit or press Ctrl-D to leave)")
			continue
		}
		if err == io.EOF {
			if interactive {
				fmt.Fprintln(errOut)
			}
			return nil
		}
		if err != nil {
			return err
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case line == "/quit" || line == "/exit" || line == "/bye":
			return nil
		case line == "/reset":
			chat.Reset()
			fmt.Fprintln(errOut, "conversation cleared")
			continue
		case strings.HasPrefix(line, "/image"):
			path := strings.TrimSpace(strings.TrimPrefix(line, "/image"))
			if path == "" {
				fmt.Fprintln(errOut, "usage: /image PATH")
			} else if err := setImage(path); err != nil {
				fmt.Fprintf(errOut, "xraygpt: %v\n", err)
			}
			continue
		case strings.HasPrefix(line, "/"):
			fmt.Fprintln(errOut, "commands: /image PATH, /reset, /quit")
			continue
		}
		ctx, cancel := context.WithCancel(base)
		done := make(chan struct{})
		go func() {
			select {
			case <-interrupts:
				cancel()
			case <-done:
			}
		}()
		ans, err := chat.Ask(ctx, line, gen, func(s string) { fmt.Fprint(out, s) })
		close(done)
		cancel()
		fmt.Fprintln(out)
		switch {
		case errors.Is(err, context.Canceled):
			fmt.Fprintln(errOut, "(stopped)")
		case err != nil:
			fmt.Fprintf(errOut, "xraygpt: %v\n", err)
		case c.Bool("verbose"):
			fmt.Fprintf(errOut, "timings: %s\n", ans.Timings)
		}
	}
}

var errInterrupted = errors.New("interrupted")

// ttyReader reads lines with editing and in-memory history
// (golang.org/x/term), with the terminal in raw mode only while a line is
// typed, so that Ctrl-C during an answer is a signal. x/term reports Ctrl-C
// like Ctrl-D (io.EOF); the input is watched for it to tell them apart. Each
// line gets a fresh x/term.Terminal (sharing the history), so an
// interrupted line leaves no state behind.
type ttyReader struct {
	in      *os.File
	out     io.Writer
	prompt  string
	history term.History
	ctrlC   bool
}

func newTTYReader(in *os.File, out io.Writer, prompt string) *ttyReader {
	return &ttyReader{in: in, out: out, prompt: prompt}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

func (r *ttyReader) read(<-chan os.Signal) (string, error) {
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{readFunc(func(p []byte) (int, error) {
		n, err := r.in.Read(p)
		if bytes.IndexByte(p[:n], 3) >= 0 {
			r.ctrlC = true
		}
		return n, err
	}), r.out}, r.prompt)
	if r.history != nil {
		t.History = r.history
	}
	r.history = t.History
	fd := int(r.in.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return "", err
	}
	r.ctrlC = false
	line, err := t.ReadLine()
	term.Restore(fd, old)
	if err == io.EOF && r.ctrlC {
		return "", errInterrupted
	}
	return line, err
}

// lineReader reads stdin lines in a goroutine so that a Ctrl-C can
// interrupt the wait; a line still being read is kept for the next call.
type lineReader struct {
	in      *bufio.Reader
	pending chan lineResult
}

type lineResult struct {
	line string
	err  error
}

func (r *lineReader) read(interrupts <-chan os.Signal) (string, error) {
	if r.pending == nil {
		ch := make(chan lineResult, 1)
		go func() {
			line, err := r.in.ReadString('\n')
			if err == io.EOF && line != "" {
				err = nil
			}
			ch <- lineResult{line, err}
		}()
		r.pending = ch
	}
	select {
	case res := <-r.pending:
		r.pending = nil
		return res.line, res.err
	case <-interrupts:
		return "", errInterrupted
	}
}
