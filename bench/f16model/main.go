// Command f16model writes a LLaMA-shaped GGUF with random F16 weights
// (TinyLlama-1.1B's shape by default) for benchmarks of quantization types:
//
//	go run ./bench/f16model -o /tmp/tiny-f16.gguf
//	xraygpt quantize /tmp/tiny-f16.gguf /tmp/tiny-q4_k_m.gguf Q4_K_M
package main

import (
	"flag"
	"log"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/llama/llamatest"
)

func main() {
	out := flag.String("o", "", "GGUF file to write")
	o := llamatest.Options{Type: gguf.TypeF16, Seed: 1}
	flag.IntVar(&o.NEmbd, "embd", 2048, "embedding width")
	flag.IntVar(&o.NLayer, "layers", 22, "transformer blocks")
	flag.IntVar(&o.NHead, "heads", 32, "attention heads")
	flag.IntVar(&o.NHeadKV, "kv-heads", 4, "key/value heads")
	flag.IntVar(&o.NFF, "ff", 5632, "feed-forward width")
	flag.IntVar(&o.NCtx, "ctx", 2048, "context length")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		log.Fatal("usage: f16model -o OUT.gguf [-embd N -layers N -heads N -kv-heads N -ff N -ctx N]")
	}
	log.Printf("writing %s (%d parameters, F16)", *out, llamatest.Params(o))
	if err := llamatest.Write(*out, o); err != nil {
		log.Fatal(err)
	}
}
