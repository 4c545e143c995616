package llamatest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xraygpt-go/xraygpt/gguf"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	opts := Options{NEmbd: 32, NLayer: 3, NHead: 4, NHeadKV: 2, NFF: 48, Type: gguf.TypeF16, Seed: 5}
	path := filepath.Join(dir, "m.gguf")
	if err := Write(path, opts); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for key, want := range map[string]uint64{
		"llama.embedding_length": 32, "llama.block_count": 3, "llama.attention.head_count": 4,
		"llama.attention.head_count_kv": 2, "llama.feed_forward_length": 48, "llama.rope.dimension_count": 8,
	} {
		if got, err := f.Uint(key); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", key, got, err, want)
		}
	}
	toks, _, _ := Vocab()
	var params uint64
	for _, ti := range f.Tensors {
		params += ti.Elements()
		wantType := gguf.TypeF16
		if len(ti.Ne) == 1 {
			wantType = gguf.TypeF32
		}
		if ti.Type != wantType {
			t.Errorf("%s is %s, want %s", ti.Name, ti.Type, wantType)
		}
	}
	if params != uint64(Params(opts)) {
		t.Errorf("tensors hold %d parameters, Params says %d", params, Params(opts))
	}
	// Shapes in GGUF order: [in, out].
	for name, want := range map[string][]uint64{
		"token_embd.weight":      {32, uint64(len(toks))},
		"blk.2.attn_k.weight":    {32, 16},
		"blk.0.ffn_down.weight":  {48, 32},
		"output.weight":          {32, uint64(len(toks))},
		"blk.1.attn_norm.weight": {32},
	} {
		ti, ok := f.Tensor(name)
		if !ok || len(ti.Ne) != len(want) || ti.Ne[0] != want[0] || ti.Ne[len(ti.Ne)-1] != want[len(want)-1] {
			t.Errorf("%s: %v, %v; want shape %v", name, ti.Ne, ok, want)
		}
	}
	// Same seed, same bytes; another seed, other weights.
	again := filepath.Join(dir, "again.gguf")
	other := filepath.Join(dir, "other.gguf")
	if err := Write(again, opts); err != nil {
		t.Fatal(err)
	}
	opts.Seed = 6
	if err := Write(other, opts); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(again)
	c, _ := os.ReadFile(other)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Error("weights are not a function of the seed")
	}
	if err := Write(filepath.Join(dir, "bad.gguf"), Options{NEmbd: 30, NHead: 4}); err == nil || !strings.Contains(err.Error(), "heads") {
		t.Errorf("30 wide with 4 heads: err = %v", err)
	}
}

func TestVocab(t *testing.T) {
	toks, scores, types := Vocab()
	if len(toks) != len(scores) || len(toks) != len(types) {
		t.Fatalf("lengths %d, %d, %d", len(toks), len(scores), len(types))
	}
	if toks[UNK] != "<unk>" || toks[BOS] != "<s>" || toks[EOS] != "</s>" || toks[3] != "<0x00>" || toks[3+255] != "<0xFF>" {
		t.Errorf("special and byte tokens out of place: %q", toks[:4])
	}
	seen := map[string]bool{}
	for i, tok := range toks {
		if seen[tok] {
			t.Errorf("duplicate piece %q", tok)
		}
		seen[tok] = true
		// Every multi-character word piece can be reached by merging a
		// shorter piece with one character.
		if types[i] == tokenNormal && len([]rune(tok)) > 1 {
			r := []rune(tok)
			if !seen[string(r[:len(r)-1])] {
				t.Errorf("piece %q has no prefix piece %q before it", tok, string(r[:len(r)-1]))
			}
		}
	}
	for _, w := range []string{"▁pleural", "▁effusion", "▁cardiomegaly", "###", "ing"} {
		if !seen[w] {
			t.Errorf("vocabulary lacks %q", w)
		}
	}
	if len(toks) < 1000 {
		t.Errorf("only %d tokens", len(toks))
	}
}

func TestWriteQ4K(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q4k.gguf")
	if err := Write(path, Options{NEmbd: 256, NFF: 512, Type: gguf.TypeQ4_K, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ti, _ := f.Tensor("blk.0.ffn_down.weight")
	if ti.Type != gguf.TypeQ4_K {
		t.Errorf("ffn_down is %s, want Q4_K", ti.Type)
	}
	if err := Write(filepath.Join(t.TempDir(), "bad.gguf"), Options{NEmbd: 64, Type: gguf.TypeQ4_K}); err == nil {
		t.Error("Q4_K with n_embd 64 succeeded")
	}
}
