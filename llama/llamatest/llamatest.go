// Package llamatest writes small random-weight LLaMA-architecture GGUF
// models that llama.cpp loads, for tests and benchmarks of package llama.
//
// The models have a real (small) SentencePiece-style vocabulary with byte
// fallback (see Vocab), so tokenization behaves like LLaMA's, and seeded
// random weights scaled so that logits are well spread. They produce
// gibberish, deterministically.
package llamatest

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/linalg"
)

// Options describes a model. The zero value is a tiny model (64 wide, 2
// layers, 4 heads, F32).
type Options struct {
	NEmbd   int // embedding width; 0: 64
	NLayer  int // transformer blocks; 0: 2
	NHead   int // attention heads; 0: 4
	NHeadKV int // key/value heads (grouped-query attention when < NHead); 0: NHead
	NFF     int // feed-forward width; 0: 4*NEmbd
	NCtx    int // llama.context_length; 0: 2048
	// Type stores the 2-D weights: gguf.TypeF32 (the zero value),
	// gguf.TypeF16, or gguf.TypeQ4_K (random 4-bit blocks written directly,
	// for benchmarks of large shapes without a quantization pass; NEmbd and
	// NFF must be multiples of 256). Norm weights are always F32.
	Type gguf.Type
	Seed uint64 // random seed for the weights
	// Omit lists tensors to leave out, to test how loaders fail.
	Omit []string
}

func (o Options) withDefaults() Options {
	if o.NEmbd <= 0 {
		o.NEmbd = 64
	}
	if o.NLayer <= 0 {
		o.NLayer = 2
	}
	if o.NHead <= 0 {
		o.NHead = 4
	}
	if o.NHeadKV <= 0 {
		o.NHeadKV = o.NHead
	}
	if o.NFF <= 0 {
		o.NFF = 4 * o.NEmbd
	}
	if o.NCtx <= 0 {
		o.NCtx = 2048
	}
	return o
}

// Params returns the number of parameters of the model opts describes.
func Params(opts Options) int64 {
	o := opts.withDefaults()
	toks, _, _ := Vocab()
	e, v, f := int64(o.NEmbd), int64(len(toks)), int64(o.NFF)
	kv := e / int64(o.NHead) * int64(o.NHeadKV)
	layer := 2*e + e*e*2 + 2*e*kv + 3*e*f
	return 2*e*v + e + int64(o.NLayer)*layer
}

// Write writes the model to path (through a temporary file).
func Write(path string, opts Options) error {
	w, err := build(opts)
	if err != nil {
		return fmt.Errorf("llamatest: %s: %w", path, err)
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("llamatest: %w", err)
	}
	return nil
}

func build(opts Options) (*gguf.Writer, error) {
	o := opts.withDefaults()
	switch o.Type {
	case gguf.TypeF32, gguf.TypeF16:
	case gguf.TypeQ4_K:
		if o.NEmbd%256 != 0 || o.NFF%256 != 0 {
			return nil, fmt.Errorf("Q4_K weights need n_embd and n_ff divisible by 256, not %d and %d", o.NEmbd, o.NFF)
		}
	default:
		return nil, fmt.Errorf("weight type %s not supported (F32, F16 or Q4_K)", o.Type)
	}
	if o.NEmbd%o.NHead != 0 || o.NHead%o.NHeadKV != 0 {
		return nil, fmt.Errorf("n_embd %d, n_head %d, n_head_kv %d: heads must divide evenly", o.NEmbd, o.NHead, o.NHeadKV)
	}
	headDim := o.NEmbd / o.NHead
	nKV := headDim * o.NHeadKV
	tokens, scores, types := Vocab()
	nVocab := len(tokens)

	w := gguf.NewWriter()
	omit := map[string]bool{}
	for _, n := range o.Omit {
		omit[n] = true
	}
	kvs := []struct {
		k string
		v any
	}{
		{"general.architecture", "llama"},
		{"general.name", fmt.Sprintf("llamatest %dx%d", o.NEmbd, o.NLayer)},
		{"general.file_type", uint32(map[gguf.Type]uint32{gguf.TypeF32: 0, gguf.TypeF16: 1, gguf.TypeQ4_K: 14}[o.Type])},
		{"llama.context_length", uint32(o.NCtx)},
		{"llama.embedding_length", uint32(o.NEmbd)},
		{"llama.block_count", uint32(o.NLayer)},
		{"llama.feed_forward_length", uint32(o.NFF)},
		{"llama.attention.head_count", uint32(o.NHead)},
		{"llama.attention.head_count_kv", uint32(o.NHeadKV)},
		{"llama.rope.dimension_count", uint32(headDim)},
		{"llama.rope.freq_base", float32(10000)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"llama.vocab_size", uint32(nVocab)},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.unknown_token_id", uint32(UNK)},
		{"tokenizer.ggml.bos_token_id", uint32(BOS)},
		{"tokenizer.ggml.eos_token_id", uint32(EOS)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
	}
	for _, kv := range kvs {
		if err := w.AddKV(kv.k, kv.v); err != nil {
			return nil, err
		}
	}

	rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
	e, f, v := uint64(o.NEmbd), uint64(o.NFF), uint64(nVocab)
	// Uniform weights with standard deviation std (1/sqrt(fan-in) keeps the
	// residual stream's scale; the output scale spreads the logits).
	mat := func(name string, in, out uint64, std float64) error {
		if omit[name] {
			return nil
		}
		// Generated while the file is written (in the order added, so the
		// weights are the same), so that a 7B-shaped model needs no 13 GB
		// of memory.
		return w.AddTensorFunc(name, o.Type, []uint64{in, out}, func(dst io.Writer) error {
			_, err := dst.Write(randomData(rng, int(in*out), std, o.Type))
			return err
		})
	}
	norm := func(name string) error {
		if omit[name] {
			return nil
		}
		return w.AddTensorFunc(name, gguf.TypeF32, []uint64{e}, func(out io.Writer) error {
			b := make([]byte, 4*e)
			for i := range e {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(1+0.1*(rng.Float64()*2-1))))
			}
			_, err := out.Write(b)
			return err
		})
	}
	if err := mat("token_embd.weight", e, v, 1); err != nil {
		return nil, err
	}
	for l := 0; l < o.NLayer; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		s := 1 / math.Sqrt(float64(e))
		for _, err := range []error{
			norm(p + "attn_norm.weight"),
			mat(p+"attn_q.weight", e, e, s),
			mat(p+"attn_k.weight", e, uint64(nKV), s),
			mat(p+"attn_v.weight", e, uint64(nKV), s),
			mat(p+"attn_output.weight", e, e, s/math.Sqrt(float64(o.NLayer))),
			norm(p + "ffn_norm.weight"),
			mat(p+"ffn_gate.weight", e, f, s),
			mat(p+"ffn_up.weight", e, f, s),
			mat(p+"ffn_down.weight", f, e, 1/math.Sqrt(float64(f*uint64(o.NLayer)))),
		} {
			if err != nil {
				return nil, err
			}
		}
	}
	if err := norm("output_norm.weight"); err != nil {
		return nil, err
	}
	// Logit standard deviation about 3: a peaked but not degenerate softmax.
	if err := mat("output.weight", e, v, 3/math.Sqrt(float64(e))); err != nil {
		return nil, err
	}
	return w, nil
}

// randomData returns n uniform values of standard deviation std, encoded.
func randomData(rng *rand.Rand, n int, std float64, typ gguf.Type) []byte {
	a := std * math.Sqrt(3)
	if typ == gguf.TypeQ4_K {
		return randomQ4K(rng, n, std)
	}
	if typ == gguf.TypeF16 {
		b := make([]byte, 2*n)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint16(b[2*i:], linalg.Float32To16(float32(a*(2*rng.Float64()-1))))
		}
		return b
	}
	b := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(a*(2*rng.Float64()-1))))
	}
	return b
}

// randomQ4K returns n values as random Q4_K blocks (256 values in 144
// bytes: fp16 scale d and minimum dmin, 12 bytes of packed 6-bit sub-block
// scales and minimums, 128 bytes of 4-bit quants). A value decodes as
// d*scale*q - dmin*min with uniform scale, min < 64 and q < 16: that has
// mean 236*d - 31.5*dmin and a standard deviation near 222*d, so
// d = std/222 and dmin = 7.5*d give about the asked spread around zero.
func randomQ4K(rng *rand.Rand, n int, std float64) []byte {
	const blockValues, blockBytes = 256, 144
	blocks := n / blockValues
	b := make([]byte, blocks*blockBytes)
	d := linalg.Float32To16(float32(std / 222))
	dmin := linalg.Float32To16(float32(7.5 * std / 222))
	for i := 0; i < blocks; i++ {
		blk := b[i*blockBytes : (i+1)*blockBytes]
		binary.LittleEndian.PutUint16(blk[0:], d)
		binary.LittleEndian.PutUint16(blk[2:], dmin)
		for j := 4; j < blockBytes; j += 4 {
			binary.LittleEndian.PutUint32(blk[j:], rng.Uint32())
		}
	}
	return b
}
