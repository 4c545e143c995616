package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/batch"
	"github.com/xraygpt-go/xraygpt/engine"
	"github.com/xraygpt-go/xraygpt/internal/timing"
)

func summarizeCommand() *cli.Command {
	return &cli.Command{
		Name:      "summarize",
		Usage:     "write a radiology summary for each image",
		ArgsUsage: "IMAGE...",
		Description: `Summarizes each chest X-ray (PNG, JPEG or DICOM) with XrayGPT's prompt, streaming the
answer to stdout. With --json, prints one JSON object per image instead.`,
		Flags: append(append(modelFlags(), generateFlags()...),
			&cli.StringFlag{Name: "prompt", Aliases: []string{"p"}, Value: engine.DefaultQuestion, Usage: "the question asked about each image"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per image"},
		),
		Action: runSummarize,
	}
}

// summaryJSON is one line of summarize --json.
type summaryJSON struct {
	Image   string          `json:"image"`
	Prompt  string          `json:"prompt"`
	Summary string          `json:"summary"`
	Error   string          `json:"error,omitempty"`
	Timings *summaryTimings `json:"timings,omitempty"`
}

// summaryTimings is summarize --json's "timings": the keys of a batch
// result's timings plus the time it took to load the models.
type summaryTimings struct {
	LoadMS float64 `json:"load_ms"`
	batch.Timings
}

func runSummarize(c *cli.Context) error {
	images := c.Args().Slice()
	if len(images) == 0 {
		return cli.Exit("summarize: no image given (usage: xraygpt summarize IMAGE...)", 2)
	}
	prompt := c.String("prompt")
	if err := engine.NewConversation().Ask(prompt); err != nil {
		return cli.Exit("summarize: --prompt is empty", 2)
	}
	chat, closeChat, err := openChat(c)
	if err != nil {
		return err
	}
	defer closeChat()
	gen := generateOptions(c)
	asJSON := c.Bool("json")
	out := c.App.Writer
	failed := 0
	for i, path := range images {
		if err := c.Context.Err(); err != nil {
			return err
		}
		if !asJSON && len(images) > 1 {
			if i > 0 {
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "== %s ==\n", path)
		}
		start := time.Now()
		ans, err := summarizeOne(c, chat, path, prompt, gen, !asJSON)
		if err != nil {
			failed++
			fmt.Fprintf(os.Stderr, "xraygpt: %v\n", err)
			if asJSON {
				json.NewEncoder(out).Encode(summaryJSON{Image: path, Prompt: prompt, Error: err.Error()})
			}
			continue
		}
		if asJSON {
			t := batchTimings(ans.Timings)
			t.TotalMS = timing.MS(time.Since(start))
			json.NewEncoder(out).Encode(summaryJSON{Image: path, Prompt: prompt, Summary: ans.Text,
				Timings: &summaryTimings{LoadMS: timing.MS(ans.Timings.Load), Timings: t}})
		} else {
			fmt.Fprintln(out)
		}
		if c.Bool("verbose") {
			fmt.Fprintf(os.Stderr, "timings: %s\n", ans.Timings)
		}
	}
	if failed > 0 {
		return cli.Exit(fmt.Sprintf("summarize: %d of %d images failed", failed, len(images)), 1)
	}
	return nil
}

func summarizeOne(c *cli.Context, chat *engine.Chat, path, prompt string, gen engine.GenerateOptions, stream bool) (*engine.Answer, error) {
	img, err := chat.Engine().EncodeFile(c.Context, path)
	if err != nil {
		return nil, err
	}
	for _, w := range img.Warnings {
		fmt.Fprintf(os.Stderr, "xraygpt: %s: %s\n", path, w)
	}
	chat.SetImage(img)
	var onText func(string)
	if stream {
		onText = func(s string) { fmt.Fprint(c.App.Writer, s) }
	}
	return chat.Ask(c.Context, prompt, gen, onText)
}
