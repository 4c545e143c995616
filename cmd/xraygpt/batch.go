package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/batch"
	"github.com/xraygpt-go/xraygpt/engine"
	"github.com/xraygpt-go/xraygpt/evaluate"
	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/llama"
)

func batchCommand() *cli.Command {
	return &cli.Command{
		Name:      "batch",
		Usage:     "summarize many images into a resumable JSONL file",
		ArgsUsage: "INPUT...",
		Description: `INPUT is a folder (searched recursively for .png, .jpg, .jpeg, .dcm), a glob pattern, an image,
or a manifest (.csv or .jsonl with id, image, and optional prompt and reference columns).
Each image becomes one JSON line in --output. Rerunning with the same output skips the images
already done and retries the failed ones. The vision model encodes the next images while the
language model writes the current summary. Exits with status 1 when an image failed.
--eval scores the summaries against the manifest's references with ROUGE at the end.`,
		Flags: append(append(modelFlags(), generateFlags()...),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "JSONL results file (resumed if it exists)"},
			&cli.StringFlag{Name: "csv", Usage: "also write the results as CSV to this file"},
			&cli.StringFlag{Name: "prompt", Aliases: []string{"p"}, Value: engine.DefaultQuestion, Usage: `question for images without one; "random" picks one of XrayGPT's alignment prompts per image (seeded by --seed)`},
			&cli.IntFlag{Name: "queue", Value: 2, Usage: "images encoded ahead of the language model (0: no overlap)"},
			&cli.IntFlag{Name: "parallel", Aliases: []string{"np"}, Usage: "images the language model answers at once, batched into the same decode steps; the KV cache holds --parallel x --ctx-size positions", DefaultText: "4 on the CPU, 8 with a GPU"},
			&cli.BoolFlag{Name: "eval", Usage: "score the results against the references with ROUGE when done"},
			&cli.BoolFlag{Name: "json", Usage: "with --eval, print the ROUGE report as JSON"},
			shardCountFlag(), shardIndexFlag(),
		),
		Action: runBatch,
	}
}

func runBatch(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.Exit("batch: no input given (usage: xraygpt batch INPUT... -o OUT.jsonl)", 2)
	}
	if strings.TrimSpace(c.String("prompt")) == "" {
		return cli.Exit("batch: --prompt is empty", 2)
	}
	shard, err := batchShard(c)
	if err != nil {
		return err
	}
	if err := checkBatchInputs(c.Args().Slice()); err != nil {
		return err
	}
	items, err := batch.CollectShard(c.Args().Slice(), shard)
	if err != nil {
		return err
	}
	gen := generateOptions(c)
	assignPrompts(items, c.String("prompt"), uint64(gen.Seed))

	if err := checkBatchOutputs(c, items, shard); err != nil {
		return err
	}
	out, err := batch.OpenOutput(shard.Path(c.String("output")))
	if err != nil {
		return err
	}
	if shard.Count > 0 {
		fmt.Fprintf(os.Stderr, "batch: %v: %d items -> %s\n", shard, len(items), out.Path())
	}
	defer out.Close()
	e, err := openEngine(c)
	if err != nil {
		return err
	}
	defer e.Close()
	parallel := c.Int("parallel")
	if parallel == 0 {
		parallel = defaultParallel()
	}
	sched, err := newScheduler(c, e, parallel)
	if err != nil {
		return err
	}
	defer sched.Close()
	models, err := modelFiles(e)
	if err != nil {
		return err
	}
	settings := map[string]any{
		"max_tokens": gen.MaxTokens, "temperature": gen.Temperature, "top_k": gen.TopK, "top_p": gen.TopP,
		"min_p": gen.MinP, "repeat_penalty": gen.RepeatPenalty, "seed": gen.Seed, "ctx_size": c.Int("ctx-size"),
	}
	queue := c.Int("queue")
	if queue == 0 {
		queue = -1 // the runner's "one after the other"
	}
	r := &batch.Runner{
		Queue:    queue,
		Parallel: parallel,
		Encode: func(ctx context.Context, it batch.Item) (batch.Encoded, error) {
			img, err := e.EncodeFile(ctx, it.Image)
			if err != nil {
				return batch.Encoded{}, err
			}
			return batch.Encoded{Value: img, Vision: img.Vision, Warnings: img.Warnings}, nil
		},
		Generate: func(ctx context.Context, it batch.Item, enc batch.Encoded) (batch.Generated, error) {
			chat := sched.NewChat()
			chat.SetImage(enc.Value.(*engine.Image))
			ans, err := chat.Ask(ctx, it.Prompt, gen, nil)
			if err != nil {
				return batch.Generated{}, err
			}
			return batch.Generated{Summary: ans.Text, Timings: batchTimings(ans.Timings)}, nil
		},
		Decorate: func(r *batch.Result) { r.Models, r.Settings = models, settings },
		Progress: &batch.Progress{W: os.Stderr, Terminal: isTerminal(os.Stderr)},
	}
	stats, err := r.Run(c.Context, items, out)
	if err != nil {
		return err
	}
	if path := c.String("csv"); path != "" {
		path = shard.Path(path)
		results, err := batch.ReadResults(out.Path())
		if err != nil {
			return err
		}
		if err := batch.WriteCSV(path, results); err != nil {
			return err
		}
	}
	if c.Bool("eval") {
		if err := evalBatch(c, out.Path(), c.App.Writer); err != nil {
			return err
		}
	}
	if stats.Failed > 0 {
		return cli.Exit(fmt.Sprintf("batch: %d of %d images failed (see the error field in %s)", stats.Failed, stats.Total, out.Path()), 1)
	}
	return nil
}

// defaultParallel is --parallel's default: on 2-8 CPU cores single-token
// decoding is bound by memory bandwidth and a batch of 4 sequences is
// bound by arithmetic (measured in bench/parallel.sh); a GPU gains up to
// about 16.
func defaultParallel() int {
	for _, d := range llama.Devices() {
		if d.Type != llama.DeviceCPU {
			return 8
		}
	}
	return 4
}

// assignPrompts gives each item without a prompt the default one, or with
// "random" one of XrayGPT's alignment prompts. The picks depend only on the
// seed and the item's id, so a resumed run or a shard asks the same questions.
func assignPrompts(items []batch.Item, prompt string, seed uint64) {
	for i := range items {
		p := prompt
		if strings.EqualFold(prompt, "random") {
			p = engine.NewPromptPicker(idSeed(seed, items[i].ID)).Next()
		}
		if items[i].Prompt == "" {
			items[i].Prompt = p
		}
	}
}

// modelFiles names and checksums the two model files for the results.
func modelFiles(e *engine.Engine) ([]batch.ModelFile, error) {
	var files []batch.ModelFile
	for _, f := range []struct{ role, path string }{{"llm", e.LanguageModel().Path()}, {"vision", e.VisionPath()}} {
		sum, err := fileSHA256(f.path)
		if err != nil {
			return nil, err
		}
		files = append(files, batch.ModelFile{Role: f.role, Name: filepath.Base(f.path), SHA256: sum})
	}
	return files, nil
}

func fileSHA256(path string) (string, error) {
	f, err := fileio.OpenRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func evalBatch(c *cli.Context, results string, w io.Writer) error {
	res, err := evaluate.EvaluateFiles(c.Context, results, "", evaluate.Options{})
	if err != nil && !(errors.Is(err, evaluate.ErrNoItems) && res != nil) {
		return err
	}
	if c.Bool("json") {
		return res.WriteJSON(w)
	}
	return res.WriteTable(w)
}

// checkBatchInputs refuses an input that is neither a folder nor a regular
// file (a named pipe would block the manifest reader), before anything is
// read. Patterns are left to batch.Collect.
func checkBatchInputs(inputs []string) error {
	for _, in := range inputs {
		st, err := os.Stat(in)
		if err != nil || st.IsDir() {
			continue // a pattern, or a folder; Collect reports missing inputs
		}
		if err := fileio.CheckRegular(in); err != nil {
			return fmt.Errorf("batch: input %w", err)
		}
	}
	return nil
}

// checkBatchOutputs refuses -o and --csv naming an input (the manifest, an
// image, a model file) or each other, and a --csv file that batch did not
// write, before the models load.
func checkBatchOutputs(c *cli.Context, items []batch.Item, shard batch.Shard) error {
	inputs := c.Args().Slice()
	for _, it := range items {
		inputs = append(inputs, it.Image)
	}
	paths, _ := engine.ModelPaths{Model: c.String("model"), Vision: c.String("vision"), Dir: c.String("model-dir")}.Resolve()
	inputs = append(inputs, paths.Model, paths.Vision)
	output := shard.Path(c.String("output"))
	if err := fileio.CheckOutput(output, inputs...); err != nil {
		return cli.Exit("batch: -o/--output: "+err.Error(), 2)
	}
	if csv := c.String("csv"); csv != "" {
		csv = shard.Path(csv)
		if err := fileio.CheckOutput(csv, append(inputs, output)...); err != nil {
			return cli.Exit("batch: --csv: "+err.Error(), 2)
		}
		if err := batch.CheckCSV(csv); err != nil {
			return err
		}
	}
	return nil
}
