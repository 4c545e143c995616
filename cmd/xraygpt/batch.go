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
			&cli.BoolFlag{Name: "eval", Usage: "score the results against the references with ROUGE when done"},
			&cli.BoolFlag{Name: "json", Usage: "with --eval, print the ROUGE report as JSON"},
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
	if err := checkBatchInputs(c.Args().Slice()); err != nil {
		return err
	}
	items, err := batch.Collect(c.Args().Slice())
	if err != nil {
		return err
	}
	gen := generateOptions(c)
	assignPrompts(items, c.String("prompt"), uint64(gen.Seed))

	if err := checkBatchOutputs(c, items); err != nil {
		return err
	}
	out, err := batch.OpenOutput(c.String("output"))
	if err != nil {
		return err
	}
	defer out.Close()
	chat, closeChat, err := openChat(c)
	if err != nil {
		return err
	}
	defer closeChat()
	models, err := modelFiles(chat.Engine())
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
		Queue: queue,
		Encode: func(ctx context.Context, it batch.Item) (batch.Encoded, error) {
			img, err := encodeFile(ctx, chat.Engine(), it.Image)
			if err != nil {
				return batch.Encoded{}, err
			}
			return batch.Encoded{Value: img, Vision: img.Vision, Warnings: img.Warnings}, nil
		},
		Generate: func(ctx context.Context, it batch.Item, enc batch.Encoded) (batch.Generated, error) {
			chat.SetImage(enc.Value.(*engine.Image))
			ans, err := chat.Ask(ctx, it.Prompt, gen, nil)
			if err != nil {
				return batch.Generated{}, err
			}
			t := ans.Timings
			return batch.Generated{Summary: ans.Text, Timings: batch.Timings{
				PromptMS: ms(t.Prompt), GenerateMS: ms(t.Generate),
				PromptTokens: t.PromptTokens, GeneratedTokens: t.GeneratedTokens,
			}}, nil
		},
		Decorate: func(r *batch.Result) { r.Models, r.Settings = models, settings },
		Progress: &batch.Progress{W: os.Stderr, Terminal: isTerminal(os.Stderr)},
	}
	stats, err := r.Run(c.Context, items, out)
	if err != nil {
		return err
	}
	if path := c.String("csv"); path != "" {
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

// assignPrompts gives each item without a prompt the default one, or with
// "random" one of XrayGPT's alignment prompts. The picks depend only on the
// seed and the item order, so a resumed run asks the same questions.
func assignPrompts(items []batch.Item, prompt string, seed uint64) {
	picker := engine.NewPromptPicker(seed)
	for i := range items {
		p := prompt
		if strings.EqualFold(prompt, "random") {
			p = picker.Next()
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
func checkBatchOutputs(c *cli.Context, items []batch.Item) error {
	inputs := c.Args().Slice()
	for _, it := range items {
		inputs = append(inputs, it.Image)
	}
	paths, _ := engine.ModelPaths{Model: c.String("model"), Vision: c.String("vision"), Dir: c.String("model-dir")}.Resolve()
	inputs = append(inputs, paths.Model, paths.Vision)
	if err := fileio.CheckOutput(c.String("output"), inputs...); err != nil {
		return cli.Exit("batch: -o/--output: "+err.Error(), 2)
	}
	if csv := c.String("csv"); csv != "" {
		if err := fileio.CheckOutput(csv, append(inputs, c.String("output"))...); err != nil {
			return cli.Exit("batch: --csv: "+err.Error(), 2)
		}
		if err := batch.CheckCSV(csv); err != nil {
			return err
		}
	}
	return nil
}
