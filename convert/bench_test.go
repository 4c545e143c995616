package convert

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchFolder writes a random F16 safetensors LLaMA folder (width 512,
// 4 layers, 13.3 M parameters) with the tiny folder's tokenizer.
func benchFolder(b *testing.B) string {
	b.Helper()
	const vocab, n, ff, layers, heads = 600, 512, 1376, 4, 8
	dir := b.TempDir()
	tok, err := os.ReadFile(filepath.Join(tinyDir, "tokenizer.model"))
	if err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer.model"), tok, 0o644)
	cfg, _ := json.Marshal(map[string]any{"architectures": []string{"LlamaForCausalLM"}, "vocab_size": vocab,
		"hidden_size": n, "intermediate_size": ff, "num_hidden_layers": layers, "num_attention_heads": heads,
		"rms_norm_eps": 1e-6, "max_position_embeddings": 2048})
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	r := rand.New(rand.NewPCG(1, 2))
	rnd := func(shape ...int) hfTensor {
		k := 1
		for _, d := range shape {
			k *= d
		}
		v := make([]float32, k)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.02)
		}
		return hfTensor{shape, v}
	}
	ts := map[string]hfTensor{"model.embed_tokens.weight": rnd(vocab, n), "lm_head.weight": rnd(vocab, n), "model.norm.weight": rnd(n)}
	for i := range layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		for _, s := range []string{"q", "k", "v", "o"} {
			ts[p+"self_attn."+s+"_proj.weight"] = rnd(n, n)
		}
		ts[p+"mlp.gate_proj.weight"], ts[p+"mlp.up_proj.weight"], ts[p+"mlp.down_proj.weight"] = rnd(ff, n), rnd(ff, n), rnd(n, ff)
		ts[p+"input_layernorm.weight"], ts[p+"post_attention_layernorm.weight"] = rnd(n), rnd(n)
	}
	writeSafetensors(b, filepath.Join(dir, "model.safetensors"), ts, "F16")
	return dir
}

// BenchmarkLLM converts a 13.3 M-parameter F16 safetensors folder and
// reports the rate in parameters per second (a 7B model has 6.7e9).
func BenchmarkLLM(b *testing.B) {
	dir := benchFolder(b)
	out := filepath.Join(b.TempDir(), "out.gguf")
	for _, p := range []Precision{F16, F32} {
		b.Run(p.String(), func(b *testing.B) {
			var params int64
			for b.Loop() {
				var last Progress
				if err := LLM(context.Background(), dir, out, Options{Precision: p, Progress: func(pr Progress) { last = pr }}); err != nil {
					b.Fatal(err)
				}
				params = last.TotalBytes / kindSize(p.kind())
			}
			b.ReportMetric(float64(params)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mparams/s")
		})
	}
}
