package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/imaging"
	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/vision"
	"github.com/xraygpt-go/xraygpt/vision/npy"
)

func embedCommand() *cli.Command {
	return &cli.Command{
		Name:  "embed",
		Usage: "write an image's soft tokens (or encoder tokens) as a float32 .npy file",
		Description: `Writes the soft tokens [tokens, width] when the vision file has a projector, otherwise the
encoder's output tokens (XrayGPT: Q-Former 32x768; MedCLIP: Swin's last hidden state 49x768).
--stage writes an intermediate output instead (see --stage list).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "vision", Required: true, Usage: "vision model GGUF"},
			&cli.StringFlag{Name: "image", Required: true, Usage: "image file (PNG, JPEG or DICOM)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "output .npy file"},
			&cli.StringFlag{Name: "stage", Usage: "intermediate stage to write (\"list\" prints the names)"},
		},
		Action: runEmbed,
	}
}

func runEmbed(c *cli.Context) error {
	if err := checkModelFile(c.String("vision"), roleVision); err != nil {
		return err
	}
	if err := fileio.CheckOutput(c.String("output"), c.String("image"), c.String("vision")); err != nil {
		return cli.Exit("embed: "+err.Error(), 2)
	}
	tuneBLAS()
	m, err := vision.Open(c.String("vision"), vision.Options{})
	if err != nil {
		return err
	}
	defer m.Close()
	img, err := imaging.Load(c.String("image"))
	if err != nil {
		return err
	}
	out := c.String("output")
	stage := c.String("stage")
	if stage == "" {
		t, err := m.EncodeImage(c.Context, img)
		if err != nil {
			return fmt.Errorf("embed %s: %w", c.String("image"), err)
		}
		return npy.WriteFile(out, t.Data, []int{t.Rows, t.Cols})
	}
	px, err := m.Config.Preprocess.Pixels(img)
	if err != nil {
		return fmt.Errorf("embed %s: %w", c.String("image"), err)
	}
	stages, err := m.EncodeStages(c.Context, px)
	if err != nil {
		return fmt.Errorf("embed %s: %w", c.String("image"), err)
	}
	var names []string
	for _, s := range stages {
		if s.Name == stage {
			return npy.WriteFile(out, s.Data, []int{s.Rows, s.Cols})
		}
		names = append(names, s.Name)
	}
	if stage == "list" {
		fmt.Fprintln(os.Stdout, strings.Join(names, "\n"))
		return nil
	}
	return cli.Exit(fmt.Sprintf("embed: no stage %q; stages: %s", stage, strings.Join(names, ", ")), 2)
}
