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
		ArgsUsage: "PREDICTIONS [REFERENCES]",
		Description: `PREDICTIONS is a JSONL or CSV file with id and summary (or prediction), e.g. the output of
xraygpt batch; REFERENCES has id and reference (or report). Without REFERENCES, each prediction row's
own reference field is used. Scores are computed as Google's rouge-score does, with and without
Porter stemming, and reported per item and as plain means of the per-item scores.`,
		Flags: []cli.Flag{
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

func runEval(c *cli.Context) error {
	if c.NArg() < 1 || c.NArg() > 2 {
		return cli.Exit("eval: usage: xraygpt eval PREDICTIONS [REFERENCES]", 2)
	}
	stem, err := parseStemming(c.String("stem"))
	if err != nil {
		return cli.Exit("eval: "+err.Error(), 2)
	}
	res, err := evaluate.EvaluateFiles(c.Context, c.Args().Get(0), c.Args().Get(1), evaluate.Options{
		Stemming: stem,
		Fields:   evaluate.Fields{ID: c.String("id-field"), Prediction: c.String("pred-field"), Reference: c.String("ref-field")},
	})
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
