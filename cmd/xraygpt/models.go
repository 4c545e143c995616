package main

import (
	"errors"
	"fmt"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/vision"
)

// modelRole is what a command expects a model file to be.
type modelRole int

const (
	roleLanguage modelRole = iota // -m/--model
	roleVision                    // --vision
	roleQuantize                  // quantize's input
)

// checkModelFile reads a model file's GGUF header before any model loader
// sees it (llama.cpp would block on a named pipe, and meets a vision file
// with "tensor name 46 is too long") and says what the file is and which
// flag it belongs to when it is not what role wants.
func checkModelFile(path string, role modelRole) error {
	what, flag := "language model", "-m/--model"
	switch role {
	case roleVision:
		what, flag = "vision model", "--vision"
	case roleQuantize:
		what, flag = "language model to quantize", "quantize's input"
	}
	if err := fileio.CheckRegular(path); err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	f, err := gguf.Open(path)
	if errors.Is(err, gguf.ErrNotGGUF) {
		return fmt.Errorf("%s %s is not a GGUF file: %s wants a GGUF file (see xraygpt convert)", what, path, flag)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	arch, _ := f.String(vision.KeyArchitecture)
	switch {
	case arch == vision.Architecture && role != roleVision:
		kind, _ := f.String(vision.KeyKind)
		msg := fmt.Sprintf("%s is a vision model (GGUF architecture %q, encoder %q), not a language model: give it with --vision", path, arch, kind)
		if role == roleQuantize {
			msg += "; quantize is for the language model (a vision file's precision is chosen by xraygpt convert vision --dtype)"
		}
		return errors.New(msg)
	case arch == "llama" && role == roleVision:
		return fmt.Errorf("%s is a language model (GGUF architecture \"llama\"), not a vision model: give it with -m/--model; --vision wants the file written by xraygpt convert vision", path)
	case role == roleLanguage && arch != "llama":
		return fmt.Errorf("%s has GGUF architecture %q, not a LLaMA language model: -m/--model wants a LLaMA/Vicuna GGUF (xraygpt convert llm)", path, arch)
	case role == roleQuantize && arch == "":
		return fmt.Errorf("%s has no general.architecture: not a language model GGUF", path)
	}
	return nil
}
