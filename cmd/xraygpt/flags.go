package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/xraygpt-go/xraygpt/engine"
	"github.com/xraygpt-go/xraygpt/linalg"
	"github.com/xraygpt-go/xraygpt/llama"
	"github.com/xraygpt-go/xraygpt/vision"
)

// flagRange is the allowed range of a numeric flag: Min to Max, with Min
// itself excluded when MinOpen.
type flagRange struct {
	Min, Max float64
	MinOpen  bool
	Note     string // what special values mean, for the message
}

func (r flagRange) contains(v float64) bool {
	if r.MinOpen && !(v > r.Min) || !r.MinOpen && !(v >= r.Min) {
		return false // NaN too
	}
	return v <= r.Max
}

func (r flagRange) String() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	s := f(r.Min) + " to " + f(r.Max)
	if r.MinOpen {
		s = "more than " + f(r.Min) + " and at most " + f(r.Max)
	}
	if r.Note != "" {
		s += " (" + r.Note + ")"
	}
	return s
}

// maxThreads is the most threads a thread flag takes: 4 per core, and no
// more than ggml's limit of 512. More only slows things down, and beyond what
// the system lets a process create, ggml aborts the process.
func maxThreads() int { return min(512, 4*runtime.NumCPU()) }

// flagRanges lists the range of every numeric flag of every command, by
// flag name; checkFlags enforces them before a command starts (a test checks
// that no numeric flag is missing here).
func flagRanges() map[string]flagRange {
	threads := flagRange{0, float64(maxThreads()), false, fmt.Sprintf("0: one per core; at most 4 per core (%d cores), 512 in all", runtime.NumCPU())}
	return map[string]flagRange{
		// Models (modelFlags) and quantize.
		"gpu-layers":     {-1, 1 << 20, false, "-1: all"},
		"threads":        threads,
		"vision-threads": threads,
		"ctx-size":       {1, 1 << 20, false, ""},
		// Generation (generateFlags).
		"max-tokens":     {1, 1 << 20, false, ""},
		"temp":           {0, 100, false, "0: greedy"},
		"top-p":          {0, 1, false, "1: off"},
		"top-k":          {0, 1 << 30, false, "0: off"},
		"min-p":          {0, 1, false, "0: off"},
		"repeat-penalty": {0, 100, true, "1: off"},
		"seed":           {0, math.MaxUint32, false, "0: random"},
		"draft":          {0, 64, false, "0: off"},
		// batch.
		"queue":    {0, 256, false, "0: no overlap"},
		"parallel": {0, 256, false, "0: 4 on the CPU, 8 with a GPU"},
		// serve (its --parallel is batch's).
		"port":             {0, 65535, false, "0: any free port"},
		"max-queue":        {0, 4096, false, "0: 4 x --parallel"},
		"max-tokens-cap":   {1, 1 << 20, false, ""},
		"shutdown-timeout": {0, float64(24 * time.Hour), false, "a duration, e.g. 30s"},
		// batch's shards (also checked against each other by batchShard).
		"shard-count": {1, 1 << 24, false, ""},
		"shard-index": {0, 1<<24 - 1, false, "from 0"},
		// convert vision.
		"eva-heads":     {0, 4096, false, "0: from the checkpoint"},
		"qformer-heads": {0, 4096, false, "0: from the checkpoint"},
		"eva-blocks":    {0, 4096, false, "0: all but the last"},
	}
}

// checkFlags is every command's Before: it refuses an out-of-range number
// with a usage error (exit status 2) naming the flag and its range, before
// anything is loaded.
func checkFlags(c *cli.Context) error {
	ranges := flagRanges()
	for _, f := range c.Command.Flags {
		names := f.Names()
		r, ok := ranges[names[0]]
		if !ok || !c.IsSet(names[0]) {
			continue
		}
		var v float64
		var text string
		switch f.(type) {
		case *cli.IntFlag:
			n := c.Int(names[0])
			v, text = float64(n), strconv.Itoa(n)
		case *cli.UintFlag:
			n := c.Uint(names[0])
			v, text = float64(n), strconv.FormatUint(uint64(n), 10)
		case *cli.Float64Flag:
			v = c.Float64(names[0])
			text = strconv.FormatFloat(v, 'g', -1, 64)
		default:
			continue
		}
		if !r.contains(v) {
			return cli.Exit(fmt.Sprintf("%s: %s %s: out of range; want %s", c.Command.FullName(), flagNames(names), text, r), 2)
		}
	}
	return nil
}

// flagNames writes a flag's names as a user types them: "-n/--max-tokens".
func flagNames(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		if len(n) == 1 || n == "ngl" {
			out[i] = "-" + n
		} else {
			out[i] = "--" + n
		}
	}
	if len(out) > 1 { // the short form first
		out[0], out[len(out)-1] = out[len(out)-1], out[0]
	}
	return strings.Join(out, "/")
}

// usageError turns a flag the library could not parse ("-n abc") into a
// usage error, exit status 2.
func usageError(c *cli.Context, err error, _ bool) error {
	name := "xraygpt"
	if c.Command != nil && c.Command.Name != "" {
		name = c.Command.FullName()
	}
	return cli.Exit(fmt.Sprintf("%s: %v", name, err), 2)
}

// Flags shared by the commands that run the models, named as in llama.cpp.
func modelFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "language model GGUF (env " + engine.EnvModel + ")"},
		&cli.StringFlag{Name: "vision", Usage: "vision model GGUF (env " + engine.EnvVision + ")"},
		&cli.StringFlag{Name: "model-dir", Usage: "folder holding both GGUF files (env " + engine.EnvModelDir + ")"},
		&cli.IntFlag{Name: "gpu-layers", Aliases: []string{"ngl"}, Value: -2, Usage: "layers to offload to the GPU (-1 all)", DefaultText: "all when a GPU is found, else none"},
		&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "CPU threads of the language model", DefaultText: "one per core"},
		&cli.IntFlag{Name: "vision-threads", Usage: "CPU threads of the vision encoder; in a batch, cores the language model does not use let the vision of the next images run alongside it", DefaultText: "one per core"},
		&cli.IntFlag{Name: "ctx-size", Aliases: []string{"c"}, Value: engine.DefaultContextSize, Usage: "context size in tokens"},
		&cli.StringFlag{Name: "mmap", Value: "auto", Usage: "map the language model file (on), or read it into memory (off); auto: off when running on the CPU only, where llama.cpp's repacked weights would otherwise be resident next to the mapped file, on with GPU offload"},
		&cli.StringFlag{Name: "lib-dir", Usage: "folder of GPU backend plugins", DefaultText: "env XRAYGPT_LIB_DIR, else lib/ next to the binary"},
		&cli.StringFlag{Name: "prompt-cache", Usage: "folder keeping the KV state of XrayGPT's system prompt between runs", DefaultText: "xraygpt/ in the user cache folder"},
		&cli.IntFlag{Name: "draft", Usage: "speculative decoding: up to N draft tokens from n-gram matches (the conversation, earlier answers, --draft-corpus) verified per step; greedy text is unchanged, sampled text keeps its distribution (with --seed, nearly always the same text); faster where a step of N+1 tokens costs little more than one (see bench/speculative.sh); 0 = off"},
		&cli.StringFlag{Name: "draft-corpus", Usage: "reports to draft from with --draft (plain text, one per line, or JSONL with a \"report\" field)"},
		&cli.BoolFlag{Name: "no-prompt-cache", Usage: "decode the system prompt in every run instead of keeping it in --prompt-cache"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print llama.cpp's log, devices and timings on stderr"},
	}
}

// promptCacheDir is the prompt cache's folder, "" when it is off.
func promptCacheDir(c *cli.Context) string {
	if c.Bool("no-prompt-cache") {
		return ""
	}
	if dir := c.String("prompt-cache"); dir != "" {
		return dir
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "xraygpt")
}

func generateFlags() []cli.Flag {
	d := engine.DefaultGenerateOptions()
	return []cli.Flag{
		&cli.IntFlag{Name: "max-tokens", Aliases: []string{"n"}, Value: d.MaxTokens, Usage: "most tokens to generate per answer"},
		&cli.Float64Flag{Name: "temp", Value: decimal(d.Temperature), Usage: "sampling temperature; 0 is greedy"},
		&cli.Float64Flag{Name: "top-p", Value: decimal(d.TopP), Usage: "nucleus sampling threshold (1 = off)"},
		&cli.IntFlag{Name: "top-k", Value: d.TopK, Usage: "sample from the K most likely tokens (0 = off)"},
		&cli.Float64Flag{Name: "min-p", Value: decimal(d.MinP), Usage: "drop tokens below MIN-P times the top probability (0 = off)"},
		&cli.Float64Flag{Name: "repeat-penalty", Value: decimal(d.RepeatPenalty), Usage: "repetition penalty (1 = off)"},
		&cli.UintFlag{Name: "seed", Usage: "random seed (0 = random)"},
	}
}

// decimal widens a float32 setting to the float64 with the same shortest
// decimal form, so that help prints 0.9, not 0.8999999761581421.
func decimal(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}

func generateOptions(c *cli.Context) engine.GenerateOptions {
	return engine.GenerateOptions{
		MaxTokens:     c.Int("max-tokens"),
		Temperature:   float32(c.Float64("temp")),
		TopK:          c.Int("top-k"),
		TopP:          float32(c.Float64("top-p")),
		MinP:          float32(c.Float64("min-p")),
		RepeatPenalty: float32(c.Float64("repeat-penalty")),
		Seed:          uint32(c.Uint("seed")),
	}
}

// tuneBLAS gives the native BLAS one thread: the vision encoder splits its
// products over Go goroutines itself, which measured faster than OpenBLAS's
// own threads (see vision's benchmarks). OpenBLAS's thread count is
// process-wide, so the command, not a library, sets it.
func tuneBLAS() { linalg.SetThreads(linalg.Default(), 1) }

// openEngine resolves the model files, loads GPU plugins and both models.
func openEngine(c *cli.Context) (*engine.Engine, error) {
	tuneBLAS()
	paths, err := engine.ModelPaths{Model: c.String("model"), Vision: c.String("vision"), Dir: c.String("model-dir")}.Resolve()
	if err != nil {
		return nil, err
	}
	if err := checkModelFile(paths.Model, roleLanguage); err != nil {
		return nil, err
	}
	if err := checkModelFile(paths.Vision, roleVision); err != nil {
		return nil, err
	}
	verbose := c.Bool("verbose")
	if verbose {
		llama.SetLogOutput(os.Stderr, llama.LogInfo)
	}
	ngl := c.Int("gpu-layers")
	gpu := loadBackends(c)
	if ngl == -2 { // auto
		ngl = 0
		if gpu {
			ngl = -1
		}
	}
	var noMmap bool
	switch c.String("mmap") {
	case "auto":
		noMmap = ngl == 0
	case "on":
	case "off":
		noMmap = true
	default:
		return nil, cli.Exit(fmt.Sprintf("--mmap %q: want auto, on or off", c.String("mmap")), 2)
	}
	if verbose {
		for _, d := range llama.Devices() {
			fmt.Fprintf(os.Stderr, "device: %s (%s, %s)\n", d.Name, d.Type, d.Description)
		}
		fmt.Fprintf(os.Stderr, "gpu layers: %d, mmap: %v\nlanguage model: %s\nvision model: %s\n", ngl, !noMmap, paths.Model, paths.Vision)
	}
	bar := newProgressBar(os.Stderr, "loading "+filepath.Base(paths.Model))
	e, err := engine.Open(c.Context, engine.Options{
		ModelPath: paths.Model, VisionPath: paths.Vision,
		GPULayers: ngl, NoMmap: noMmap, Threads: c.Int("threads"), ContextSize: c.Int("ctx-size"),
		Progress:       bar.Set,
		Vision:         vision.Options{Threads: c.Int("vision-threads")},
		PromptCacheDir: promptCacheDir(c),
		Warn:           func(msg string) { fmt.Fprintf(os.Stderr, "xraygpt: warning: %s\n", msg) },
	})
	bar.Done()
	return e, err
}

// openChat opens the engine and a chat on it; the returned function
// releases both.
func openChat(c *cli.Context) (*engine.Chat, func(), error) {
	e, err := openEngine(c)
	if err != nil {
		return nil, nil, err
	}
	s, err := newScheduler(c, e, 1)
	if err != nil {
		e.Close()
		return nil, nil, err
	}
	return s.NewChat(), func() { s.Close(); e.Close() }, nil
}

// newScheduler starts the engine's scheduler with slots sequences at once
// and the command's --ctx-size and --draft settings.
func newScheduler(c *cli.Context, e *engine.Engine, slots int) (*engine.Scheduler, error) {
	opts, err := schedulerOptions(c, slots)
	if err != nil {
		return nil, err
	}
	return e.NewScheduler(opts)
}

// schedulerOptions are the scheduler settings of the command's flags, with
// slots sequences at once and as many waiting.
func schedulerOptions(c *cli.Context, slots int) (engine.SchedulerOptions, error) {
	opts := engine.SchedulerOptions{Slots: slots, Queue: slots, ContextSize: c.Int("ctx-size"), Draft: c.Int("draft")}
	if path := c.String("draft-corpus"); path != "" {
		corpus, err := engine.ReadDraftCorpus(path)
		if err != nil {
			return opts, err
		}
		opts.DraftCorpus = corpus
	}
	return opts, nil
}

// loadBackends loads the GPU plugins of the first folder that has them
// (--lib-dir, $XRAYGPT_LIB_DIR, lib/ next to the binary) and reports
// whether a GPU device is present.
func loadBackends(c *cli.Context) bool {
	exe, _ := os.Executable()
	dirs := llama.FindBackendDirs(exe, c.String("lib-dir"), os.Getenv(llama.LibDirEnv))
	if len(dirs) > 0 {
		if err := llama.LoadBackends(dirs[0]); err != nil {
			fmt.Fprintf(os.Stderr, "xraygpt: GPU plugins in %s: %v\n", dirs[0], err)
		} else if c.Bool("verbose") {
			fmt.Fprintf(os.Stderr, "GPU plugins: %s\n", dirs[0])
		}
	}
	for _, d := range llama.Devices() {
		if d.Type != llama.DeviceCPU {
			return true
		}
	}
	return false
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar draws "label [#####.....] 50%" on a terminal and nothing
// when the output is piped.
type progressBar struct {
	w     io.Writer
	label string
	last  int
	on    bool
}

func newProgressBar(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, label: label, last: -1, on: isTerminal(w)}
}

// Set shows the fraction done (0..1).
func (p *progressBar) Set(f float32) {
	if !p.on {
		return
	}
	pct := int(f * 100)
	if pct == p.last {
		return
	}
	p.last = pct
	const width = 30
	n := width * pct / 100
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%%", p.label, strings.Repeat("#", n), strings.Repeat(".", width-n), pct)
}

// Done ends the bar's line.
func (p *progressBar) Done() {
	if p.on && p.last >= 0 {
		fmt.Fprintf(p.w, "\r\033[K")
	}
}
