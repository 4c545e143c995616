package convert

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
	"github.com/x448/float16"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/linalg"
)

// tinyDir is the tiny Hugging Face LLaMA folder written by the end-to-end
// reference generator (fp16 pytorch_model.bin, SentencePiece tokenizer):
//
//	/usr/bin/python3 engine/testdata/gen_e2e.py
const tinyDir = "../engine/testdata/tinyllama"

type hfConfig struct {
	Vocab, Hidden, FF, Layers, Heads, KVHeads, Ctx int
}

func readHFConfig(t *testing.T, dir string) hfConfig {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Vocab   int `json:"vocab_size"`
		Hidden  int `json:"hidden_size"`
		FF      int `json:"intermediate_size"`
		Layers  int `json:"num_hidden_layers"`
		Heads   int `json:"num_attention_heads"`
		KVHeads int `json:"num_key_value_heads"`
		Ctx     int `json:"max_position_embeddings"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return hfConfig{c.Vocab, c.Hidden, c.FF, c.Layers, c.Heads, c.KVHeads, c.Ctx}
}

// hfTensor is a checkpoint tensor as gopickle (an independent reader) loads it.
type hfTensor struct {
	shape []int
	data  []float32
}

func loadHF(t *testing.T, file string) map[string]hfTensor {
	t.Helper()
	obj, err := pytorch.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]hfTensor{}
	d := obj.(*types.OrderedDict)
	for e := d.List.Front(); e != nil; e = e.Next() {
		entry := e.Value.(*types.OrderedDictEntry)
		pt := entry.Value.(*pytorch.Tensor)
		var data []float32
		switch s := pt.Source.(type) {
		case *pytorch.HalfStorage:
			data = s.Data
		case *pytorch.FloatStorage:
			data = s.Data
		default:
			t.Fatalf("%s: storage %T", entry.Key, s)
		}
		n := 1
		for _, d := range pt.Size {
			n *= d
		}
		out[entry.Key.(string)] = hfTensor{pt.Size, data[pt.StorageOffset : pt.StorageOffset+n]}
	}
	return out
}

// permuteRows reorders the rows of a q or k projection the way llama.cpp's
// rotary embedding wants them: within each head, Hugging Face pairs row i
// with row i+d/2 (rotate_half); llama.cpp pairs rows 2i and 2i+1.
func permuteRows(w []float32, rows, cols, heads int) []float32 {
	out := make([]float32, len(w))
	d := rows / heads
	for h := range heads {
		for i := range d / 2 {
			copy(out[(h*d+2*i)*cols:][:cols], w[(h*d+i)*cols:][:cols])
			copy(out[(h*d+2*i+1)*cols:][:cols], w[(h*d+d/2+i)*cols:][:cols])
		}
	}
	return out
}

func ggufName(hf string) string {
	r := strings.NewReplacer("lm_head", "output", "model.embed_tokens", "token_embd", "model.norm", "output_norm",
		"model.layers", "blk", "input_layernorm", "attn_norm", "post_attention_layernorm", "ffn_norm",
		"self_attn.q_proj", "attn_q", "self_attn.k_proj", "attn_k", "self_attn.v_proj", "attn_v",
		"self_attn.o_proj", "attn_output", "mlp.gate_proj", "ffn_gate", "mlp.up_proj", "ffn_up",
		"mlp.down_proj", "ffn_down")
	return r.Replace(hf)
}

func convertTiny(t *testing.T, dir string, opts Options) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := LLM(context.Background(), dir, out, opts); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLLMMetadata(t *testing.T) {
	cfg := readHFConfig(t, tinyDir)
	f, err := gguf.Open(convertTiny(t, tinyDir, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wantStr := map[string]string{"general.architecture": "llama", "tokenizer.ggml.model": "llama"}
	for k, v := range wantStr {
		if got, err := f.String(k); err != nil || got != v {
			t.Errorf("%s = %q, %v; want %q", k, got, err, v)
		}
	}
	wantUint := map[string]uint64{
		"llama.block_count": uint64(cfg.Layers), "llama.embedding_length": uint64(cfg.Hidden),
		"llama.feed_forward_length": uint64(cfg.FF), "llama.attention.head_count": uint64(cfg.Heads),
		"llama.attention.head_count_kv": uint64(cfg.KVHeads), "llama.context_length": uint64(cfg.Ctx),
		"llama.rope.dimension_count": uint64(cfg.Hidden / cfg.Heads), "llama.vocab_size": uint64(cfg.Vocab),
		"general.file_type": 1, "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
		"tokenizer.ggml.unknown_token_id": 0,
	}
	for k, v := range wantUint {
		if got, err := f.Uint(k); err != nil || got != v {
			t.Errorf("%s = %d, %v; want %d", k, got, err, v)
		}
	}
	for k, v := range map[string]bool{"tokenizer.ggml.add_bos_token": true, "tokenizer.ggml.add_eos_token": false,
		"tokenizer.ggml.add_space_prefix": true} {
		if got, err := f.Bool(k); err != nil || got != v {
			t.Errorf("%s = %v, %v; want %v", k, got, err, v)
		}
	}
	if eps, err := f.Float("llama.attention.layer_norm_rms_epsilon"); err != nil || math.Abs(eps-1e-6) > 1e-12 {
		t.Errorf("rms epsilon = %g, %v", eps, err)
	}
	tokens, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil || len(tokens) != cfg.Vocab {
		t.Fatalf("%d tokens, %v; want %d", len(tokens), err, cfg.Vocab)
	}
	// SentencePiece's fixed pieces: <unk> <s> </s>, then the 256 byte pieces.
	for id, want := range map[int]string{0: "<unk>", 1: "<s>", 2: "</s>", 3: "<0x00>", 258: "<0xFF>"} {
		if tokens[id] != want {
			t.Errorf("token %d = %q, want %q", id, tokens[id], want)
		}
	}
	if len(f.Tensors) != 2+cfg.Layers*9+1 {
		t.Errorf("%d tensors, want %d", len(f.Tensors), 3+cfg.Layers*9)
	}
}

// TestLLMWeights compares every converted tensor with the checkpoint as
// gopickle reads it, with q and k permuted by an explicit index formula.
func TestLLMWeights(t *testing.T) {
	cfg := readHFConfig(t, tinyDir)
	hf := loadHF(t, filepath.Join(tinyDir, "pytorch_model.bin"))
	for _, p := range []Precision{F32, F16, BF16} {
		t.Run(p.String(), func(t *testing.T) {
			f, err := gguf.Open(convertTiny(t, tinyDir, Options{Precision: p}))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if ft, _ := f.Uint("general.file_type"); ft != uint64(p.fileType()) {
				t.Errorf("general.file_type = %d, want %d", ft, p.fileType())
			}
			for name, src := range hf {
				gn := ggufName(name)
				ti, ok := f.Tensor(gn)
				if !ok {
					t.Errorf("%s: no tensor %s", name, gn)
					continue
				}
				want := src.data
				wantType := map[Precision]gguf.Type{F32: gguf.TypeF32, F16: gguf.TypeF16, BF16: gguf.TypeBF16}[p]
				if len(src.shape) == 1 {
					wantType = gguf.TypeF32
				} else {
					if ti.Ne[0] != uint64(src.shape[1]) || ti.Ne[1] != uint64(src.shape[0]) {
						t.Errorf("%s: ne %v, want [%d %d]", gn, ti.Ne, src.shape[1], src.shape[0])
						continue
					}
					if strings.HasSuffix(gn, "attn_q.weight") {
						want = permuteRows(want, src.shape[0], src.shape[1], cfg.Heads)
					} else if strings.HasSuffix(gn, "attn_k.weight") {
						want = permuteRows(want, src.shape[0], src.shape[1], cfg.KVHeads)
					}
				}
				if ti.Type != wantType {
					t.Errorf("%s: type %v, want %v", gn, ti.Type, wantType)
				}
				got, err := f.TensorFloat32(gn)
				if err != nil {
					t.Fatal(err)
				}
				bad := 0
				for i := range want {
					w := want[i]
					if ti.Type == gguf.TypeBF16 {
						w = math.Float32frombits(uint32(linalg.Float32ToBF16(w)) << 16)
					}
					if got[i] != w {
						if bad == 0 {
							t.Logf("%s[%d]: got %g want %g", gn, i, got[i], w)
						}
						bad++
					}
				}
				if bad > 0 {
					t.Errorf("%s: %d of %d values differ from %s", gn, bad, len(want), name)
				}
			}
		})
	}
}

// writeSafetensors writes tensors (sorted by name) as an F16 or F32 safetensors file.
func writeSafetensors(t testing.TB, file string, ts map[string]hfTensor, dtype string) {
	t.Helper()
	names := make([]string, 0, len(ts))
	for k := range ts {
		names = append(names, k)
	}
	sort.Strings(names)
	hdr := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var data bytes.Buffer
	for _, n := range names {
		start := data.Len()
		for _, v := range ts[n].data {
			if dtype == "F16" {
				binary.Write(&data, binary.LittleEndian, float16.Fromfloat32(v).Bits())
			} else {
				binary.Write(&data, binary.LittleEndian, v)
			}
		}
		hdr[n] = map[string]any{"dtype": dtype, "shape": ts[n].shape, "data_offsets": []int{start, data.Len()}}
	}
	h, _ := json.Marshal(hdr)
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, uint64(len(h)))
	out.Write(h)
	out.Write(data.Bytes())
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyFolder copies the non-weight files of the tiny folder into a new one.
func copyFolder(t *testing.T, skip ...string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(tinyDir)
	if err != nil {
		t.Fatal(err)
	}
next:
	for _, e := range entries {
		for _, s := range append(skip, "pytorch_model.bin") {
			if e.Name() == s {
				continue next
			}
		}
		b, err := os.ReadFile(filepath.Join(tinyDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLLMSafetensors converts the same weights stored as two F32
// safetensors shards and as the fp16 .bin: the F16 outputs must be identical.
func TestLLMSafetensors(t *testing.T) {
	hf := loadHF(t, filepath.Join(tinyDir, "pytorch_model.bin"))
	dir := copyFolder(t)
	a, b := map[string]hfTensor{}, map[string]hfTensor{}
	for k, v := range hf {
		if strings.Contains(k, "layers.1.") || strings.HasPrefix(k, "lm_head") {
			b[k] = v
		} else {
			a[k] = v
		}
	}
	// A buffer old checkpoints carry, which must be dropped.
	b["model.layers.0.self_attn.rotary_emb.inv_freq"] = hfTensor{[]int{2}, []float32{1, 0.5}}
	writeSafetensors(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), a, "F32")
	writeSafetensors(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), b, "F16")

	fromBin, err := os.ReadFile(convertTiny(t, tinyDir, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	fromST, err := os.ReadFile(convertTiny(t, dir, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fromBin, fromST) {
		t.Errorf("GGUF from safetensors (%d bytes) differs from GGUF from .bin (%d bytes)", len(fromST), len(fromBin))
	}
}

func TestLLMProgress(t *testing.T) {
	var calls []Progress
	out := convertTiny(t, tinyDir, Options{Progress: func(p Progress) { calls = append(calls, p) }})
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total uint64
	for _, ti := range f.Tensors {
		n, _ := ti.Size()
		total += n
	}
	if len(calls) != len(f.Tensors) {
		t.Fatalf("%d progress calls, want one per tensor (%d)", len(calls), len(f.Tensors))
	}
	last := calls[len(calls)-1]
	if last.Tensors != len(f.Tensors) || last.TotalTensors != len(f.Tensors) ||
		last.Bytes != int64(total) || last.TotalBytes != int64(total) {
		t.Errorf("last progress %+v, want %d tensors and %d bytes", last, len(f.Tensors), total)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Tensors != calls[i-1].Tensors+1 || calls[i].Bytes <= calls[i-1].Bytes {
			t.Fatalf("progress not increasing: %+v then %+v", calls[i-1], calls[i])
		}
	}
}

func TestLLMCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	out := filepath.Join(dir, "out.gguf")
	n := 0
	err := LLM(ctx, tinyDir, out, Options{Progress: func(Progress) {
		if n++; n == 3 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("cancelled conversion left %d files (%s...)", len(entries), entries[0].Name())
	}
}

func TestLLMBadFolders(t *testing.T) {
	hf := loadHF(t, filepath.Join(tinyDir, "pytorch_model.bin"))
	withWeights := func(dir string, mutate func(map[string]hfTensor)) string {
		ts := map[string]hfTensor{}
		for k, v := range hf {
			ts[k] = v
		}
		mutate(ts)
		writeSafetensors(t, filepath.Join(dir, "model.safetensors"), ts, "F16")
		return dir
	}
	writeFile := func(dir, name, text string) string {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	nothing := func(map[string]hfTensor) {}

	tests := []struct {
		name    string
		dir     string
		wantErr error
		want    string // in the message
	}{
		{"no folder", filepath.Join(t.TempDir(), "missing"), os.ErrNotExist, "missing"},
		{"a file", filepath.Join(tinyDir, "config.json"), ErrIncomplete, "not a folder"},
		{"no config", withWeights(copyFolder(t, "config.json"), nothing), ErrIncomplete, "config.json is missing"},
		{"bert", writeFile(withWeights(copyFolder(t), nothing), "config.json",
			`{"architectures":["BertModel"],"model_type":"bert","hidden_size":64}`), ErrNotLlama, "BertModel"},
		{"no tokenizer", withWeights(copyFolder(t, "tokenizer.model"), nothing), ErrIncomplete, "tokenizer.model"},
		{"no weights", copyFolder(t), ErrIncomplete, "no weights"},
		{"missing tensor", withWeights(copyFolder(t), func(m map[string]hfTensor) {
			delete(m, "model.layers.1.mlp.up_proj.weight")
		}), ErrIncomplete, "model.layers.1.mlp.up_proj.weight"},
		{"wrong shape", withWeights(copyFolder(t), func(m map[string]hfTensor) {
			v := m["model.layers.0.self_attn.k_proj.weight"]
			m["model.layers.0.self_attn.k_proj.weight"] = hfTensor{[]int{v.shape[0] / 2, v.shape[1]}, v.data[:len(v.data)/2]}
		}), ErrIncomplete, "model.layers.0.self_attn.k_proj.weight has shape [32 64]"},
		{"extra tensor", withWeights(copyFolder(t), func(m map[string]hfTensor) {
			m["model.layers.2.mlp.up_proj.weight"] = m["model.layers.1.mlp.up_proj.weight"]
		}), nil, "unexpected tensors for a 2-layer LLaMA: model.layers.2.mlp.up_proj.weight"},
		{"bad config", writeFile(withWeights(copyFolder(t), nothing), "config.json", `{"architectures":`), nil, "config.json"},
		{"legacy torch file", writeFile(copyFolder(t), "pytorch_model.bin", "\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."),
			nil, "not a PyTorch zip checkpoint"},
		{"truncated weights", writeFile(copyFolder(t), "model.safetensors", "\x10\x00\x00\x00\x00\x00\x00\x00{}"), nil, "header length 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			err := LLM(context.Background(), tt.dir, out, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output written despite the error")
			}
		})
	}
}

func TestLLMKeepsOldOutputOnFailure(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "model.gguf")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := LLM(context.Background(), copyFolder(t), out, Options{}); err == nil {
		t.Fatal("no error for a folder without weights")
	}
	if b, _ := os.ReadFile(out); string(b) != "old" {
		t.Errorf("existing output changed to %q", b)
	}
}

func TestParsePrecision(t *testing.T) {
	for _, p := range []Precision{F16, F32, BF16} {
		if got, err := ParsePrecision(strings.ToUpper(p.String())); err != nil || got != p {
			t.Errorf("ParsePrecision(%q) = %v, %v", p, got, err)
		}
	}
	if _, err := ParsePrecision("q4_0"); err == nil {
		t.Error("ParsePrecision(q4_0): no error")
	}
}

// FuzzReadSafetensors feeds arbitrary bytes to the safetensors reader: it
// must return tensors whose byte ranges fit the file, or an error.
func FuzzReadSafetensors(f *testing.F) {
	f.Add([]byte("\x02\x00\x00\x00\x00\x00\x00\x00{}"))
	f.Add([]byte(`\x40\x00\x00\x00\x00\x00\x00\x00{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}        ` + "12345678"))
	hdr := `{"w":{"dtype":"F16","shape":[2,1],"data_offsets":[0,4]}}`
	f.Add(append(append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...), 1, 2, 3, 4))
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "f.safetensors")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ts, err := readSafetensors(file)
		if err != nil {
			return
		}
		for _, tt := range ts {
			rc, err := tt.open()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			n, _ := buf.ReadFrom(rc)
			rc.Close()
			if n != tt.size {
				t.Fatalf("%s: read %d bytes, header promised %d", tt.srcName, n, tt.size)
			}
		}
	})
}

// TestReadTorch reads testdata/small.bin, written by
//
//	/usr/bin/python3 -c "import torch; from collections import OrderedDict; w = torch.arange(12.).reshape(3, 4); torch.save(OrderedDict([('w', w.half()), ('b', torch.tensor([1.5, -2.0, 0.25])), ('t', w.t().contiguous().bfloat16()), ('view', w[1])]), 'convert/testdata/small.bin')"
//
// where "view" is row 1 of w's float32 storage (a storage offset).
func TestReadTorch(t *testing.T) {
	ts, err := readTorch("testdata/small.bin")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, dtype string
		shape       []uint64
		values      []float32
	}{
		{"w", "F16", []uint64{3, 4}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"b", "F32", []uint64{3}, []float32{1.5, -2, 0.25}},
		{"t", "BF16", []uint64{4, 3}, []float32{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}},
		{"view", "F32", []uint64{4}, []float32{4, 5, 6, 7}},
	}
	if len(ts) != len(want) {
		t.Fatalf("%d tensors, want %d", len(ts), len(want))
	}
	for i, w := range want {
		got := ts[i]
		if got.srcName != w.name || got.dtype != w.dtype || fmt.Sprint(got.shape) != fmt.Sprint(w.shape) {
			t.Errorf("tensor %d: %s %s %v, want %s %s %v", i, got.srcName, got.dtype, got.shape, w.name, w.dtype, w.shape)
			continue
		}
		got.kind, got.job = kindF32, &job{ctx: context.Background()}
		var buf bytes.Buffer
		if _, err := got.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		vals := make([]float32, buf.Len()/4)
		binary.Read(&buf, binary.LittleEndian, vals)
		if fmt.Sprint(vals) != fmt.Sprint(w.values) {
			t.Errorf("%s = %v, want %v", w.name, vals, w.values)
		}
	}
}
