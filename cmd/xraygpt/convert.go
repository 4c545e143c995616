package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/xraygpt-go/xraygpt/convert"
	"github.com/xraygpt-go/xraygpt/internal/fileio"
	visconvert "github.com/xraygpt-go/xraygpt/vision/convert"
)

func convertCommand() *cli.Command {
	return &cli.Command{
		Name:  "convert",
		Usage: "convert released weights to GGUF",
		Subcommands: []*cli.Command{
			{
				Name:      "llm",
				Usage:     "convert a Hugging Face LLaMA folder (e.g. Vicuna_Radiology_fp16/) to GGUF",
				ArgsUsage: "FOLDER",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "output GGUF file"},
					&cli.StringFlag{Name: "dtype", Value: "f16", Usage: "precision of the weight matrices: f16, f32 or bf16"},
				},
				Action: runConvertLLM,
			},
			{
				Name:  "vision",
				Usage: "convert vision checkpoints (XrayGPT's EVA + Q-Former + llama_proj, or MedCLIP) to GGUF",
				Description: `XrayGPT: xraygpt convert vision --eva eva_vit_g.pth --qformer blip2_pretrained_flant5xxl.pth --proj xraygpt_checkpoint.pth -o xraygpt-vision.gguf
MedCLIP: xraygpt convert vision --medclip pytorch_model.bin [--proj proj.pth] -o medclip-vision.gguf`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "eva", Usage: "EVA ViT-g checkpoint (eva_vit_g.pth)"},
					&cli.StringFlag{Name: "qformer", Usage: "BLIP-2 checkpoint with the Q-Former (blip2_pretrained_flant5xxl.pth)"},
					&cli.StringFlag{Name: "medclip", Usage: "MedCLIP checkpoint (pytorch_model.bin)"},
					&cli.StringFlag{Name: "proj", Usage: "checkpoint holding llama_proj.weight/bias (XrayGPT's checkpoint)"},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "output GGUF file"},
					&cli.StringFlag{Name: "dtype", Value: "source", Usage: "storage of the weight matrices: source (each as its checkpoint stores it: the released EVA in f16, BLIP-2's Q-Former in f32), f16 or f32"},
					&cli.IntFlag{Name: "eva-heads", Usage: "EVA attention heads, for non-standard models", DefaultText: "width/88"},
					&cli.IntFlag{Name: "qformer-heads", Usage: "Q-Former attention heads, for non-standard models", DefaultText: "width/64"},
					&cli.IntFlag{Name: "eva-blocks", Usage: "EVA blocks to use", DefaultText: "all but the last, as XrayGPT"},
				},
				Action: runConvertVision,
			},
		},
	}
}

func runConvertLLM(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("convert llm: give one folder (usage: xraygpt convert llm FOLDER -o OUT.gguf)", 2)
	}
	prec, err := convert.ParsePrecision(c.String("dtype"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("convert llm: %v", err), 2)
	}
	if err := checkOutputNotIn(c.String("output"), c.Args().First()); err != nil {
		return cli.Exit("convert llm: "+err.Error(), 2)
	}
	bar := newProgressBar(os.Stderr, "converting")
	err = convert.LLM(c.Context, c.Args().First(), c.String("output"), convert.Options{
		Precision: prec,
		Progress: func(p convert.Progress) {
			if p.TotalBytes > 0 {
				bar.Set(float32(p.Bytes) / float32(p.TotalBytes))
			}
		},
	})
	bar.Done()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", c.String("output"))
	return nil
}

func runConvertVision(c *cli.Context) error {
	opts := visconvert.Options{
		DType:        visconvert.DType(c.String("dtype")),
		EVAHeads:     c.Int("eva-heads"),
		QFormerHeads: c.Int("qformer-heads"),
		EVABlocks:    c.Int("eva-blocks"),
	}
	if opts.DType != visconvert.Source && opts.DType != visconvert.F16 && opts.DType != visconvert.F32 {
		return cli.Exit(fmt.Sprintf("convert vision: --dtype %q: want source, f16 or f32", c.String("dtype")), 2)
	}
	out := c.String("output")
	if err := fileio.CheckOutput(out, c.String("eva"), c.String("qformer"), c.String("medclip"), c.String("proj")); err != nil {
		return cli.Exit("convert vision: "+err.Error(), 2)
	}
	var err error
	switch {
	case c.String("medclip") != "":
		if c.String("eva") != "" || c.String("qformer") != "" {
			return cli.Exit("convert vision: --medclip cannot be combined with --eva/--qformer", 2)
		}
		err = visconvert.MedCLIP(c.Context, c.String("medclip"), c.String("proj"), out, opts)
	case c.String("eva") != "" && c.String("qformer") != "":
		err = visconvert.XrayGPT(c.Context, visconvert.XrayGPTInputs{EVA: c.String("eva"), QFormer: c.String("qformer"), Proj: c.String("proj")}, out, opts)
	default:
		return cli.Exit("convert vision: give --eva and --qformer (XrayGPT), or --medclip", 2)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", out)
	return nil
}

// checkOutputNotIn refuses an output that is one of the files in the folder
// dir (a converter reads them while it writes).
func checkOutputNotIn(out, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil // the converter reports it
	}
	var files []string
	for _, e := range entries {
		files = append(files, filepath.Join(dir, e.Name()))
	}
	return fileio.CheckOutput(out, files...)
}
