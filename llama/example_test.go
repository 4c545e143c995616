package llama_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/xraygpt-go/xraygpt/llama"
	"github.com/xraygpt-go/xraygpt/llama/llamatest"
)

// Example follows llama.cpp's examples/simple: load a model, tokenize a
// prompt, decode it, then sample and decode one token at a time.
func Example() {
	// A tiny random-weight model stands in for a real GGUF file.
	dir, err := os.MkdirTemp("", "llama-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.gguf")
	if err := llamatest.Write(path, llamatest.Options{Seed: 1}); err != nil {
		log.Fatal(err)
	}

	model, err := llama.LoadModel(path, llama.ModelOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()

	prompt, err := model.Tokenize("Describe the given chest x-ray image in detail.", true, false)
	if err != nil {
		log.Fatal(err)
	}

	lctx, err := llama.NewContext(model, llama.ContextOptions{NCtx: 256})
	if err != nil {
		log.Fatal(err)
	}
	defer lctx.Close()

	sampler, err := llama.NewSampler(model, llama.SamplerOptions{}) // greedy
	if err != nil {
		log.Fatal(err)
	}
	defer sampler.Close()

	ctx := context.Background()
	if err := lctx.Decode(ctx, llama.TokenInput(prompt)); err != nil {
		log.Fatal(err)
	}
	detok := model.NewDetokenizer()
	var out strings.Builder
	for i := 0; i < 16; i++ {
		tok, err := sampler.Sample(lctx)
		if err != nil {
			log.Fatal(err)
		}
		if model.IsEOG(tok) {
			break
		}
		out.WriteString(detok.Add(tok))
		if err := lctx.Decode(ctx, llama.TokenInput([]llama.Token{tok})); err != nil {
			log.Fatal(err)
		}
	}
	out.WriteString(detok.Flush())

	var pieces []string
	for _, t := range prompt {
		pieces = append(pieces, model.TokenText(t))
	}
	fmt.Println(strings.Join(pieces, " "))
	_ = out.String() // the generated text: gibberish, from random weights

	// Output:
	// <s> ▁ D es c rib e ▁the ▁given ▁chest ▁x - ray ▁image ▁in ▁detail .
}

// ExampleContext_Decode places soft tokens (rows of width NEmbd, e.g. a
// projected image) between two runs of text, as XrayGPT's prompt does.
func ExampleContext_Decode() {
	dir, err := os.MkdirTemp("", "llama-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.gguf")
	if err := llamatest.Write(path, llamatest.Options{Seed: 1}); err != nil {
		log.Fatal(err)
	}
	model, err := llama.LoadModel(path, llama.ModelOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer model.Close()
	lctx, err := llama.NewContext(model, llama.ContextOptions{NCtx: 256})
	if err != nil {
		log.Fatal(err)
	}
	defer lctx.Close()

	before, _ := model.Tokenize("###Patient: <Img>", true, false)
	after, _ := model.Tokenize("</Img> Describe the image.###Doctor:", false, false)
	image := make([]float32, 32*model.NEmbd()) // 32 soft tokens

	err = lctx.Decode(context.Background(),
		llama.TokenInput(before),
		llama.EmbeddingInput(image, model.NEmbd()),
		llama.TokenInput(after))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(before), "+ 32 +", len(after), "=", lctx.Pos(0), "positions")
	// Output:
	// 14 + 32 + 22 = 68 positions
}
