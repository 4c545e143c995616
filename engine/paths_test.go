package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolvePaths(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("HOME", dir)
	t.Setenv(EnvModel, "")
	t.Setenv(EnvVision, "")
	t.Setenv(EnvModelDir, "")
	for name, size := range map[string]int{"radvicuna-f16.gguf": 100, "radvicuna-q4_k_m.gguf": 30, "xraygpt-vision.gguf": 10} {
		os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o644)
	}
	p, err := ModelPaths{Dir: dir}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p.Model) != "radvicuna-q4_k_m.gguf" || filepath.Base(p.Vision) != "xraygpt-vision.gguf" {
		t.Errorf("folder: %+v", p)
	}
	// A flag beats the environment, which beats the folder.
	t.Setenv(EnvModel, filepath.Join(dir, "radvicuna-f16.gguf"))
	p, err = ModelPaths{Dir: dir}.Resolve()
	if err != nil || filepath.Base(p.Model) != "radvicuna-f16.gguf" {
		t.Errorf("env: %+v %v", p, err)
	}
	p, err = ModelPaths{Model: filepath.Join(dir, "radvicuna-q4_k_m.gguf"), Dir: dir}.Resolve()
	if err != nil || filepath.Base(p.Model) != "radvicuna-q4_k_m.gguf" {
		t.Errorf("flag: %+v %v", p, err)
	}
	t.Setenv(EnvModel, "")

	// The config file.
	os.MkdirAll(filepath.Join(dir, "config", "xraygpt"), 0o755)
	os.WriteFile(filepath.Join(dir, "config", "xraygpt", "config.json"), []byte(`{"model_dir": "`+dir+`"}`), 0o644)
	if p, err = (ModelPaths{}).Resolve(); err != nil || p.Vision == "" {
		t.Errorf("config file: %+v %v", p, err)
	}
	os.WriteFile(filepath.Join(dir, "config", "xraygpt", "config.json"), []byte(`{oops`), 0o644)
	if _, err = (ModelPaths{}).Resolve(); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("bad config file: %v", err)
	}
	os.Remove(filepath.Join(dir, "config", "xraygpt", "config.json"))

	// Missing files say how to get the weights.
	_, err = ModelPaths{Model: filepath.Join(dir, "nope.gguf"), Vision: filepath.Join(dir, "xraygpt-vision.gguf")}.Resolve()
	if !errors.Is(err, ErrNoModel) || !strings.Contains(err.Error(), "xraygpt convert llm") {
		t.Errorf("missing file: %v", err)
	}
	if _, err = (ModelPaths{}).Resolve(); !errors.Is(err, ErrNoModel) {
		t.Errorf("nothing given: %v", err)
	}
}
