package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/evaluate"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "score summaries against reference reports with ROUGE-1/2/L/Lsum",
		ArgsUsage: "PREDICTIONS... [--references REFERENCES]",
		Description: `PREDICTIONS are JSONL or CSV files (or quoted glob patterns) with id and summary (or
prediction), e.g. the output of xraygpt batch or its shard files, read as one list; REFERENCES has id
and reference (or report). Without references, each prediction row's own reference field is used.
As before, "eval PREDICTIONS REFERENCES" with two files takes the second as the references when none
of its rows has a prediction. Scores are computed as Google's rouge-score does, with and without
Porter stemming, and reported per item and as plain means of the per-item scores.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "references", Aliases: []string{"r"}, Usage: "file of reference reports (id and reference or report)"},
			&cli.BoolFlag{Name: "json", Usage: "print the full result (per-item scores too) as JSON"},
			&cli.StringFlag{Name: "stem", Value: "both", Usage: "Porter stemming: both, on or off"},
			&cli.StringFlag{Name: "id-field", Usage: "name of the id column (default id)"},
			&cli.StringFlag{Name: "pred-field", Usage: "name of the prediction column (default prediction, then summary)"},
			&cli.StringFlag{Name: "ref-field", Usage: "name of the reference column (default reference, then report)"},
		},
		Action: runEval,
	}
}

func parseStemming(s string) (evaluate.Stemming, error) {
	switch s {
	case "both":
		return evaluate.StemBoth, nil
	case "on":
		return evaluate.StemOn, nil
	case "off":
		return evaluate.StemOff, nil
	}
	return 0, fmt.Errorf("--stem %q: want both, on or off", s)
}

// hasPredictions reports whether a row of the file has a prediction; an
// unreadable file is left for the evaluation to report.
func hasPredictions(path string, fields evaluate.Fields) bool {
	recs, err := evaluate.ReadFile(path, evaluate.FormatAuto, fields)
	if err != nil {
		return true
	}
	for _, r := range recs {
		if r.HasPrediction {
			return true
		}
	}
	return false
}

func runEval(c *cli.Context) error {
	if c.NArg() < 1 {
		return cli.Exit("eval: usage: xraygpt eval PREDICTIONS... [--references REFERENCES]", 2)
	}
	stem, err := parseStemming(c.String("stem"))
	if err != nil {
		return cli.Exit("eval: "+err.Error(), 2)
	}
	opts := evaluate.Options{
		Stemming: stem,
		Fields:   evaluate.Fields{ID: c.String("id-field"), Prediction: c.String("pred-field"), Reference: c.String("ref-field")},
	}
	preds, err := expandGlobs(c.Args().Slice())
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	refs := c.String("references")
	if refs == "" && c.NArg() == 2 && len(preds) == 2 && !hasPredictions(preds[1], opts.Fields) {
		preds, refs = preds[:1], preds[1] // the two-file form: PREDICTIONS REFERENCES
	}
	res, err := evaluate.EvaluateFileSet(c.Context, preds, refs, opts)
	if err != nil && !(errors.Is(err, evaluate.ErrNoItems) && res != nil) {
		return err
	}
	if c.Bool("json") {
		if werr := res.WriteJSON(c.App.Writer); werr != nil {
			return werr
		}
	} else if werr := res.WriteTable(c.App.Writer); werr != nil {
		return werr
	}
	return err
}
