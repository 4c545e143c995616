package convert_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/xraygpt-go/xraygpt/convert"
	"github.com/xraygpt-go/xraygpt/gguf"
)

// Convert a Hugging Face LLaMA folder to an F16 GGUF file, reporting progress.
func ExampleLLM() {
	dir, err := os.MkdirTemp("", "convert")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "tiny-f16.gguf")

	var last convert.Progress
	err = convert.LLM(context.Background(), "../engine/testdata/tinyllama", out, convert.Options{
		Progress: func(p convert.Progress) { last = p },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %d of %d tensors\n", last.Tensors, last.TotalTensors)

	f, err := gguf.Open(out)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	arch, _ := f.String("general.architecture")
	layers, _ := f.Uint("llama.block_count")
	tokens, _ := f.Strings("tokenizer.ggml.tokens")
	fmt.Println(arch, layers, "layers,", len(tokens), "tokens")
	// Output:
	// wrote 21 of 21 tensors
	// llama 2 layers, 600 tokens
}
