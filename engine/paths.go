package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// Environment variables and the config file that locate the model files
// when no flag names them.
const (
	EnvModel    = "XRAYGPT_MODEL"     // language model GGUF
	EnvVision   = "XRAYGPT_VISION"    // vision model GGUF
	EnvModelDir = "XRAYGPT_MODEL_DIR" // a folder holding both
	// ConfigFile is read from the user's config folder
	// (os.UserConfigDir()/xraygpt/config.json): {"model": "...", "vision": "...", "model_dir": "..."}.
	ConfigFile = "xraygpt/config.json"
)

// ErrNoModel means no model file could be found.
var ErrNoModel = errors.New("no model files")

// HowToGetWeights is printed with ErrNoModel.
const HowToGetWeights = `XrayGPT needs two files: the language model (--model, GGUF) and the vision model (--vision, GGUF).
Get the released weights (see README, "Real weights"): Vicuna_Radiology_fp16/ from the XrayGPT
repository's model zoo, eva_vit_g.pth and blip2_pretrained_flant5xxl.pth from LAVIS, and XrayGPT's
checkpoint; then convert them:
  xraygpt convert llm Vicuna_Radiology_fp16/ -o radvicuna-f16.gguf
  xraygpt quantize radvicuna-f16.gguf radvicuna-q4_k_m.gguf Q4_K_M
  xraygpt convert vision --eva eva_vit_g.pth --qformer blip2_pretrained_flant5xxl.pth --proj xraygpt_checkpoint.pth -o xraygpt-vision.gguf
and pass them with --model/--vision, a folder holding both with --model-dir, the environment
variables XRAYGPT_MODEL/XRAYGPT_VISION/XRAYGPT_MODEL_DIR, or ~/.config/xraygpt/config.json.
To try the tool without them: make demo.`

// ModelPaths locates the two model files.
type ModelPaths struct {
	Model, Vision, Dir string
}

// Resolve fills what the flags left empty from the environment, then the
// config file, then the folder (Dir): in a folder, the vision model is the
// GGUF whose name contains "vision" and the language model is the other
// one (the smallest quantized one when several). Both files must exist.
func (p ModelPaths) Resolve() (ModelPaths, error) {
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&p.Model, os.Getenv(EnvModel))
	fill(&p.Vision, os.Getenv(EnvVision))
	fill(&p.Dir, os.Getenv(EnvModelDir))
	if p.Model == "" || p.Vision == "" {
		if cfg, err := readConfig(); err != nil {
			return p, err
		} else {
			fill(&p.Model, cfg.Model)
			fill(&p.Vision, cfg.Vision)
			fill(&p.Dir, cfg.Dir)
		}
	}
	if p.Dir != "" && (p.Model == "" || p.Vision == "") {
		m, v, err := findInDir(p.Dir)
		if err != nil {
			return p, err
		}
		fill(&p.Model, m)
		fill(&p.Vision, v)
	}
	if p.Model == "" || p.Vision == "" {
		return p, fmt.Errorf("%w: no %s given\n%s", ErrNoModel, missing(p), HowToGetWeights)
	}
	for _, f := range []string{p.Model, p.Vision} {
		st, err := os.Stat(f)
		if err != nil {
			return p, fmt.Errorf("%w: %v\n%s", ErrNoModel, err, HowToGetWeights)
		}
		if st.IsDir() {
			return p, fmt.Errorf("%s is a folder: expected a GGUF file (use --model-dir for a folder)", f)
		}
	}
	return p, nil
}

func missing(p ModelPaths) string {
	switch {
	case p.Model == "" && p.Vision == "":
		return "language or vision model"
	case p.Model == "":
		return "language model"
	}
	return "vision model"
}

type config struct {
	Model  string `json:"model"`
	Vision string `json:"vision"`
	Dir    string `json:"model_dir"`
}

func readConfig() (config, error) {
	var cfg config
	dir, err := os.UserConfigDir()
	if err != nil {
		return cfg, nil
	}
	path := filepath.Join(dir, ConfigFile)
	data, err := fileio.ReadRegular(path, 1<<20) // a named pipe here must not block
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

func findInDir(dir string) (model, vis string, err error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.gguf"))
	if err != nil {
		return "", "", err
	}
	var best int64 = -1
	for _, m := range matches {
		if strings.Contains(strings.ToLower(filepath.Base(m)), "vision") {
			if vis == "" {
				vis = m
			}
			continue
		}
		st, err := os.Stat(m)
		if err != nil {
			continue
		}
		if best < 0 || st.Size() < best {
			best, model = st.Size(), m
		}
	}
	if model == "" || vis == "" {
		return model, vis, fmt.Errorf("%w: folder %s should hold a language model GGUF and a GGUF with \"vision\" in its name\n%s", ErrNoModel, dir, HowToGetWeights)
	}
	return model, vis, nil
}
