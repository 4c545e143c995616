// Command llamatime times prompt processing and greedy generation on a GGUF
// file through the llama package, for bench/peer.sh, which runs the same
// measurement through node-llama-cpp's prebuilt llama.cpp
// (bench/peer_time.mjs) and prints the ratios.
//
//	eval "$(make -s env)" && go run ./bench/llamatime -m MODEL.gguf -p 164 -n 100 -t 2
//
// It loads the model (memory-mapped, CPU only), decodes -p prompt tokens on
// one sequence in batches of -b, samples greedily, then decodes -n more
// tokens one at a time, each sampled greedily from the previous decode
// (end-of-generation tokens do not stop it, so every run decodes the same
// count). The prompt is the model's BOS token, if it has one, followed by
// tokens drawn with a fixed seed from the vocabulary's ordinary (not
// control, not end-of-generation) tokens; -tokens writes it as a JSON array
// so that the peer decodes the same ids. The result is one JSON object on
// standard output.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"time"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/llama"
)

// result is the JSON that llamatime and peer_time.mjs print alike.
type result struct {
	Impl         string  `json:"impl"`
	Model        string  `json:"model"`
	Threads      int     `json:"threads"`
	NCtx         int     `json:"n_ctx"`
	NBatch       int     `json:"n_batch"`
	Flash        string  `json:"flash_attention"`
	LoadS        float64 `json:"load_s"`
	PromptTokens int     `json:"prompt_tokens"`
	PromptS      float64 `json:"prompt_s"`
	PromptTokS   float64 `json:"prompt_tok_s"`
	GenTokens    int     `json:"gen_tokens"`
	GenS         float64 `json:"gen_s"`
	GenTokS      float64 `json:"gen_tok_s"`
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("llamatime: ")
	model := flag.String("m", "", "GGUF model file (required)")
	nPrompt := flag.Int("p", 164, "prompt positions to decode")
	nGen := flag.Int("n", 100, "tokens to generate")
	threads := flag.Int("t", 2, "threads, for the prompt and for generation")
	nCtx := flag.Int("c", 2048, "context size")
	nBatch := flag.Int("b", 512, "batch size")
	flash := flag.String("flash", "auto", "flash attention: auto, on or off")
	seed := flag.Uint64("seed", 1, "seed of the random prompt tokens")
	tokensOut := flag.String("tokens", "", "write the prompt tokens to this file as a JSON array")
	flag.Parse()
	if *model == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	fa, ok := map[string]llama.FlashAttention{"auto": llama.FlashAuto, "on": llama.FlashOn, "off": llama.FlashOff}[*flash]
	if !ok {
		log.Fatalf("-flash %q: want auto, on or off", *flash)
	}
	if *nPrompt < 1 || *nGen < 1 || *threads < 1 || *nBatch < 1 {
		log.Fatal("-p, -n, -t and -b must be at least 1")
	}
	if *nPrompt+*nGen > *nCtx {
		log.Fatalf("-p %d + -n %d positions do not fit a context of -c %d", *nPrompt, *nGen, *nCtx)
	}
	r := result{Impl: "xraygpt llama", Model: *model, Threads: *threads, NCtx: *nCtx, NBatch: *nBatch, Flash: *flash}
	if err := run(&r, fa, *nPrompt, *nGen, *seed, *tokensOut); err != nil {
		log.Fatal(err)
	}
	out, err := json.Marshal(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out))
}

func run(r *result, fa llama.FlashAttention, nPrompt, nGen int, seed uint64, tokensOut string) error {
	ctx := context.Background()
	t0 := time.Now()
	m, err := llama.LoadModel(r.Model, llama.ModelOptions{})
	if err != nil {
		return err
	}
	defer m.Close()
	c, err := llama.NewContext(m, llama.ContextOptions{NCtx: r.NCtx, NBatch: r.NBatch, Threads: r.Threads, ThreadsBatch: r.Threads, FlashAttention: fa})
	if err != nil {
		return fmt.Errorf("%s: %w", r.Model, err)
	}
	defer c.Close()
	s, err := llama.NewSampler(m, llama.SamplerOptions{}) // greedy
	if err != nil {
		return err
	}
	defer s.Close()
	r.LoadS = time.Since(t0).Seconds()

	prompt, err := promptTokens(m, nPrompt, seed)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Model, err)
	}
	if tokensOut != "" {
		err := fileio.WriteAtomic(tokensOut, 0o644, func(w io.Writer) error {
			return json.NewEncoder(w).Encode(prompt)
		})
		if err != nil {
			return fmt.Errorf("prompt tokens: %w", err)
		}
	}

	t0 = time.Now()
	if err := c.Decode(ctx, llama.TokenInput(prompt)); err != nil {
		return fmt.Errorf("prompt: %w", err)
	}
	tok, err := s.Sample(c)
	if err != nil {
		return fmt.Errorf("prompt: %w", err)
	}
	r.PromptS = time.Since(t0).Seconds()
	r.PromptTokens = len(prompt)

	t0 = time.Now()
	for i := 0; i < nGen; i++ {
		if err := c.Decode(ctx, llama.TokenInput([]llama.Token{tok})); err != nil {
			return fmt.Errorf("generation, token %d: %w", i, err)
		}
		if tok, err = s.Sample(c); err != nil {
			return fmt.Errorf("generation, token %d: %w", i, err)
		}
	}
	r.GenS = time.Since(t0).Seconds()
	r.GenTokens = nGen
	r.PromptTokS = float64(r.PromptTokens) / r.PromptS
	r.GenTokS = float64(r.GenTokens) / r.GenS
	return nil
}

// promptTokens returns n token ids: BOS when the model has one, then ids
// drawn with seed from the tokens that are neither control nor
// end-of-generation tokens.
func promptTokens(m *llama.Model, n int, seed uint64) ([]llama.Token, error) {
	var ordinary []llama.Token
	for t := llama.Token(0); int(t) < m.NVocab(); t++ {
		if !m.IsControl(t) && !m.IsEOG(t) {
			ordinary = append(ordinary, t)
		}
	}
	if len(ordinary) == 0 {
		return nil, fmt.Errorf("no ordinary tokens in a vocabulary of %d", m.NVocab())
	}
	toks := make([]llama.Token, 0, n)
	if bos := m.BOS(); bos != llama.NoToken {
		toks = append(toks, bos)
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	for len(toks) < n {
		toks = append(toks, ordinary[rng.IntN(len(ordinary))])
	}
	return toks, nil
}
