package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/engine"
	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/server"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve an OpenAI-compatible API and a web page",
		Description: `Loads the models once and answers POST /v1/chat/completions (OpenAI's format, the X-ray as
a data: URL), GET /v1/models, GET /health, GET /metrics, and a web page at /.
It listens on 127.0.0.1 only unless --host says otherwise: put a key (--api-key-file)
and TLS (a reverse proxy) in front before opening it to a network. The generation
flags are the defaults of requests. SIGTERM or Ctrl-C stops taking requests, lets the
ones in flight finish (up to --shutdown-timeout) and exits 0.`,
		Flags: append(append(modelFlags(), generateFlags()...),
			&cli.StringFlag{Name: "host", Value: "127.0.0.1", Usage: "address to listen on (0.0.0.0: every interface)"},
			&cli.IntFlag{Name: "port", Value: 8080, Usage: "TCP port (0: any free port, printed on stderr)"},
			&cli.IntFlag{Name: "parallel", Aliases: []string{"np"}, Usage: "requests answered at once, batched into the same decode steps; the KV cache holds --parallel x --ctx-size positions", DefaultText: "4 on the CPU, 8 with a GPU"},
			&cli.IntFlag{Name: "max-queue", Usage: "requests waiting for a slot beyond --parallel; more get 429", DefaultText: "4 x --parallel"},
			&cli.StringFlag{Name: "api-key", Usage: "require this key (Authorization: Bearer KEY or X-Api-Key: KEY); visible in ps, prefer --api-key-file"},
			&cli.StringFlag{Name: "api-key-file", Usage: "read the required key from this file (first line)"},
			&cli.StringFlag{Name: "max-body", Value: "32MB", Usage: "largest request body (KB, MB, GB are powers of 1024); 413 beyond"},
			&cli.StringFlag{Name: "cors-origin", Usage: "origin allowed to call the API from a browser page served elsewhere (* for any)"},
			&cli.IntFlag{Name: "max-tokens-cap", Value: 1024, Usage: "most new tokens one request may ask for"},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 30 * time.Second, Usage: "how long requests in flight may finish after SIGTERM"},
		),
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit("serve: takes no arguments (usage: xraygpt serve [-m MODEL --vision VISION] [--port 8080])", 2)
	}
	maxBody, err := parseSize(c.String("max-body"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("serve: --max-body: %v", err), 2)
	}
	if d := c.Duration("shutdown-timeout"); d < 0 {
		return cli.Exit(fmt.Sprintf("serve: --shutdown-timeout %s: want 0 or more", d), 2)
	}
	key, err := apiKey(c)
	if err != nil {
		return err
	}
	paths, err := engine.ModelPaths{Model: c.String("model"), Vision: c.String("vision"), Dir: c.String("model-dir")}.Resolve()
	if err != nil {
		return err
	}
	gen := generateOptions(c)
	logger := log.New(os.Stderr, "", log.LstdFlags)
	srv := server.New(server.Options{
		APIKey: key, MaxBody: maxBody, CORSOrigin: c.String("cors-origin"),
		Gen: gen, MaxTokensCap: c.Int("max-tokens-cap"),
		Model:  strings.TrimSuffix(filepath.Base(paths.Model), ".gguf"),
		Vision: strings.TrimSuffix(filepath.Base(paths.Vision), ".gguf"),
		Log:    logger,
	})

	// Listen first: /health answers 503 while the models load.
	addr := net.JoinHostPort(c.String("host"), strconv.Itoa(c.Int("port")))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if ip := net.ParseIP(c.String("host")); (ip == nil || !ip.IsLoopback()) && c.String("host") != "localhost" && key == "" {
		logger.Printf("warning: listening on %s without an API key: anyone who can reach it can use the model", c.String("host"))
	}
	hs := srv.HTTPServer(addr)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	logger.Printf("listening on http://%s (loading the models)", ln.Addr())

	parallel := c.Int("parallel")
	e, err := openEngine(c)
	if err == nil {
		if parallel == 0 {
			parallel = defaultParallel() // after openEngine: it looks for a GPU
		}
		var sched engine.SchedulerOptions
		if sched, err = schedulerOptions(c, parallel); err == nil {
			sched.Queue = c.Int("max-queue") // 0: 4 x --parallel
			err = srv.SetEngine(e, sched)
		}
		if err != nil {
			e.Close()
		}
	}
	if err != nil {
		hs.Close()
		if c.Context.Err() != nil { // SIGTERM or Ctrl-C while loading
			logger.Printf("stopped while loading the models")
			return nil
		}
		return err
	}
	logger.Printf("ready: %s + %s, %d slot(s), on http://%s", paths.Model, paths.Vision, parallel, ln.Addr())

	select {
	case err = <-served: // the listener failed
		srv.Close()
		e.Close()
		return fmt.Errorf("serve: %w", err)
	case <-c.Context.Done():
	}
	logger.Printf("shutting down: finishing the requests in flight (at most %s)", c.Duration("shutdown-timeout"))
	srv.Drain()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), c.Duration("shutdown-timeout"))
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		logger.Printf("shutdown deadline passed: closing the remaining connections")
		hs.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Printf("serve: %v", err)
	}
	// Handlers whose connections were closed may still be finishing.
	for wait := time.Now(); srv.Busy() && time.Since(wait) < 10*time.Second; {
		time.Sleep(20 * time.Millisecond)
	}
	err = errors.Join(srv.Close(), e.Close())
	logger.Printf("stopped")
	return err
}

// apiKey reads --api-key or --api-key-file.
func apiKey(c *cli.Context) (string, error) {
	key, file := c.String("api-key"), c.String("api-key-file")
	if key != "" && file != "" {
		return "", cli.Exit("serve: give --api-key or --api-key-file, not both", 2)
	}
	if file != "" {
		data, err := fileio.ReadRegular(file, 64<<10)
		if err != nil {
			return "", fmt.Errorf("serve: --api-key-file: %w", err)
		}
		key, _, _ = strings.Cut(string(data), "\n")
		key = strings.TrimSpace(key)
		if key == "" {
			return "", cli.Exit(fmt.Sprintf("serve: --api-key-file %s: the first line is empty", file), 2)
		}
	}
	if strings.ContainsAny(key, " \t\r\n") {
		return "", cli.Exit("serve: the API key must not contain white space", 2)
	}
	return key, nil
}

// parseSize reads "32MB", "512KB", "1GB" (powers of 1024) or a byte count.
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q: want a size such as 32MB", s)
	}
	return n * mult, nil
}
