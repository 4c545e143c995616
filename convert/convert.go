package convert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	oconvert "github.com/ollama/ollama/convert"
	"github.com/ollama/ollama/convert/sentencepiece"
	"github.com/ollama/ollama/fs/ggml"
	"google.golang.org/protobuf/proto"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// Precision is the storage type of the converted weight matrices. Vectors
// (norm weights) are always stored as F32, as llama.cpp requires.
type Precision int

const (
	// F16 stores matrices as IEEE half floats (the default).
	F16 Precision = iota
	// F32 stores matrices as float32: larger, bit-exact with an F32 checkpoint.
	F32
	// BF16 stores matrices as bfloat16.
	BF16
)

// String returns the name llama.cpp uses for the type ("f16", "f32", "bf16").
func (p Precision) String() string {
	switch p {
	case F16:
		return "f16"
	case F32:
		return "f32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision parses "f16", "f32" or "bf16" (case-insensitive).
func ParsePrecision(s string) (Precision, error) {
	for _, p := range []Precision{F16, F32, BF16} {
		if strings.EqualFold(s, p.String()) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown precision %q (want f16, f32 or bf16)", s)
}

func (p Precision) kind() uint32 {
	switch p {
	case F32:
		return kindF32
	case BF16:
		return kindBF16
	}
	return kindF16
}

// fileType is general.file_type (llama_ftype): ALL_F32, MOSTLY_F16, MOSTLY_BF16.
func (p Precision) fileType() uint32 {
	switch p {
	case F32:
		return 0
	case BF16:
		return 32
	}
	return 1
}

// Options control a conversion. The zero value converts to F16 silently.
type Options struct {
	// Precision of the weight matrices; F16 by default.
	Precision Precision
	// Progress, if set, is called after each tensor is written (from the
	// writer goroutines, one call at a time).
	Progress func(Progress)
}

// Progress reports how far a conversion is.
type Progress struct {
	Tensors, TotalTensors int   // tensors written, and in all
	Bytes, TotalBytes     int64 // tensor bytes written, and in all
	Elapsed               time.Duration
}

var (
	// ErrNotLlama means the folder holds a model of another architecture.
	ErrNotLlama = errors.New("not a LLaMA model")
	// ErrIncomplete means a file or tensor the conversion needs is missing
	// or has the wrong shape; the error names it.
	ErrIncomplete = errors.New("incomplete LLaMA model folder")
)

// job is the shared state of one conversion's tensor writers.
type job struct {
	ctx      context.Context
	progress func(Progress)
	start    time.Time

	mu sync.Mutex
	p  Progress
}

func (j *job) done(n int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.p.Tensors++
	j.p.Bytes += n
	if j.progress != nil {
		p := j.p
		p.Elapsed = time.Since(j.start)
		j.progress(p)
	}
}

// llamaConfig is the part of config.json this package checks.
type llamaConfig struct {
	Architectures     []string `json:"architectures"`
	ModelType         string   `json:"model_type"`
	VocabSize         uint64   `json:"vocab_size"`
	HiddenSize        uint64   `json:"hidden_size"`
	IntermediateSize  uint64   `json:"intermediate_size"`
	NumHiddenLayers   uint64   `json:"num_hidden_layers"`
	NumAttentionHeads uint64   `json:"num_attention_heads"`
	NumKeyValueHeads  uint64   `json:"num_key_value_heads"`
	HeadDim           uint64   `json:"head_dim"`
	TieWordEmbeddings bool     `json:"tie_word_embeddings"`
}

// LLM converts the Hugging Face LLaMA folder dir into the GGUF file out.
// The file is written to a temporary name next to out and renamed when
// complete, so out is never left half-written. Cancelling ctx stops the
// conversion between tensors.
func LLM(ctx context.Context, dir, out string, opts Options) error {
	switch opts.Precision {
	case F16, F32, BF16:
	default:
		return fmt.Errorf("convert %s: unknown precision %v", dir, opts.Precision)
	}
	cfg, config, err := readConfig(dir)
	if err != nil {
		return err
	}
	if _, err := findTokenizer(dir); err != nil {
		return err
	}
	files, err := findWeights(dir)
	if err != nil {
		return err
	}

	fsys := overlayFS{FS: os.DirFS(dir), dir: dir, files: map[string][]byte{"config.json": config}}
	if stm, err := specialTokensMap(dir); err != nil {
		return err
	} else if stm != nil {
		fsys.files["special_tokens_map.json"] = stm
	}
	kvs, tok, err := oconvert.LoadModelMetadata(fsys)
	if err != nil {
		return fmt.Errorf("convert %s: %w", dir, err)
	}
	conv, ok := kvs.(oconvert.ModelConverter)
	if !ok {
		return fmt.Errorf("convert %s: ollama returned no model converter for %v", dir, cfg.Architectures)
	}
	kv := conv.KV(tok)
	if arch := kv.Architecture(); arch != "llama" {
		return fmt.Errorf("convert %s: %w (converted architecture %q)", dir, ErrNotLlama, arch)
	}
	if err := addTokenizerKVs(dir, kv); err != nil {
		return err
	}
	kv["general.file_type"] = opts.Precision.fileType()

	j := &job{ctx: ctx, progress: opts.Progress, start: time.Now()}
	replacer := strings.NewReplacer(conv.Replacements()...)
	var ts []oconvert.Tensor
	seen := map[string]string{}
	byName := map[string]*tensor{}
	for _, file := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		var list []*tensor
		if strings.HasSuffix(file, ".safetensors") {
			list, err = readSafetensors(file)
		} else {
			list, err = readTorch(file)
		}
		if err != nil {
			return fmt.Errorf("convert %s: %w", dir, err)
		}
		for _, t := range list {
			// Buffers some checkpoints carry that llama.cpp recomputes.
			if strings.HasSuffix(t.srcName, "rotary_emb.inv_freq") {
				continue
			}
			t.name = replacer.Replace(t.srcName)
			if prev, ok := seen[t.name]; ok {
				return fmt.Errorf("convert %s: tensor %s appears twice (%s and %s)", dir, t.srcName, prev, file)
			}
			seen[t.name] = file
			t.kind = opts.Precision.kind()
			if len(t.shape) == 1 {
				t.kind = kindF32
			}
			t.job = j
			ts = append(ts, t)
			byName[t.name] = t
		}
	}
	if err := checkTensors(dir, cfg, byName); err != nil {
		return err
	}

	gts := conv.Tensors(ts)
	for _, gt := range gts {
		gt.Shape = slices.Clone(gt.Shape)
		slices.Reverse(gt.Shape)
		j.p.TotalTensors++
		if t, ok := gt.WriterTo.(*tensor); ok {
			j.p.TotalBytes += t.outBytes()
		}
	}

	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("convert %s: %w", dir, err)
	}
	err = fileio.WriteAtomic(out, 0o644, func(w io.Writer) error {
		if err := ggml.WriteGGUF(w.(*os.File), kv, gts); err != nil { // ollama's writer wants an *os.File
			return err
		}
		return ctx.Err() // cancelled while writing: keep the old file
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("convert %s to %s: %w", dir, out, err)
	}
	return nil
}

// readConfig reads config.json and checks it describes a LLaMA model. It
// returns the bytes ollama's converter should see: early LLaMA checkpoints
// name the class "LLaMAForCausalLM", which is rewritten to "LlamaForCausalLM",
// the name the converter accepts.
func readConfig(dir string) (llamaConfig, []byte, error) {
	var cfg llamaConfig
	if fi, err := os.Stat(dir); err != nil {
		return cfg, nil, fmt.Errorf("convert: %w", err)
	} else if !fi.IsDir() {
		return cfg, nil, fmt.Errorf("convert %s: %w: not a folder (want a Hugging Face model folder)", dir, ErrIncomplete)
	}
	file := filepath.Join(dir, "config.json")
	data, err := fileio.ReadRegular(file, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil, fmt.Errorf("convert %s: %w: config.json is missing", dir, ErrIncomplete)
	} else if err != nil {
		return cfg, nil, fmt.Errorf("convert: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return cfg, nil, fmt.Errorf("convert: %s: %w", file, err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, nil, fmt.Errorf("convert: %s: %w", file, err)
	}
	isLlama := len(cfg.Architectures) == 0 && cfg.ModelType == "llama"
	for _, a := range cfg.Architectures {
		if strings.EqualFold(a, "LlamaForCausalLM") {
			isLlama = true
		}
	}
	if !isLlama {
		return cfg, nil, fmt.Errorf("convert %s: %w: config.json names architectures %v, model_type %q (want LlamaForCausalLM)",
			dir, ErrNotLlama, cfg.Architectures, cfg.ModelType)
	}
	for _, k := range []string{"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"} {
		if _, ok := raw[k]; !ok {
			return cfg, nil, fmt.Errorf("convert %s: %w: config.json has no %s", dir, ErrIncomplete, k)
		}
	}
	if cfg.NumAttentionHeads == 0 || cfg.HiddenSize%cfg.NumAttentionHeads != 0 {
		return cfg, nil, fmt.Errorf("convert %s: config.json: hidden_size %d is not a multiple of num_attention_heads %d", dir, cfg.HiddenSize, cfg.NumAttentionHeads)
	}
	if cfg.NumKeyValueHeads != 0 && cfg.NumAttentionHeads%cfg.NumKeyValueHeads != 0 {
		return cfg, nil, fmt.Errorf("convert %s: config.json: num_attention_heads %d is not a multiple of num_key_value_heads %d", dir, cfg.NumAttentionHeads, cfg.NumKeyValueHeads)
	}
	raw["architectures"] = []string{"LlamaForCausalLM"}
	data, err = json.Marshal(raw)
	return cfg, data, err
}

func findTokenizer(dir string) (string, error) {
	for _, name := range []string{"tokenizer.model", "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return name, nil
		}
	}
	return "", fmt.Errorf("convert %s: %w: tokenizer.model (SentencePiece) is missing", dir, ErrIncomplete)
}

// findWeights lists the checkpoint files: safetensors if there are any,
// else PyTorch pytorch_model*.bin shards.
func findWeights(dir string) ([]string, error) {
	for _, pattern := range []string{"*.safetensors", "pytorch_model*.bin"} {
		files, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, err
		}
		if len(files) > 0 {
			sort.Strings(files)
			return files, nil
		}
	}
	return nil, fmt.Errorf("convert %s: %w: no weights (want *.safetensors or pytorch_model*.bin)", dir, ErrIncomplete)
}

// checkTensors checks every tensor llama.cpp's LLaMA graph needs is present
// with the shape config.json implies.
func checkTensors(dir string, cfg llamaConfig, ts map[string]*tensor) error {
	n := cfg.HiddenSize
	headDim := cfg.HeadDim
	if headDim == 0 {
		headDim = n / cfg.NumAttentionHeads
	}
	nkv := cfg.NumKeyValueHeads
	if nkv == 0 {
		nkv = cfg.NumAttentionHeads
	}
	ff := cfg.IntermediateSize
	vocab := cfg.VocabSize
	if e, ok := ts["token_embd.weight"]; ok && len(e.shape) == 2 && vocab == 0 {
		vocab = e.shape[0]
	}
	want := map[string][]uint64{
		"token_embd.weight":  {vocab, n},
		"output_norm.weight": {n},
	}
	if _, ok := ts["output.weight"]; ok || !cfg.TieWordEmbeddings {
		want["output.weight"] = []uint64{vocab, n}
	}
	for i := range cfg.NumHiddenLayers {
		p := fmt.Sprintf("blk.%d.", i)
		want[p+"attn_norm.weight"] = []uint64{n}
		want[p+"ffn_norm.weight"] = []uint64{n}
		want[p+"attn_q.weight"] = []uint64{cfg.NumAttentionHeads * headDim, n}
		want[p+"attn_k.weight"] = []uint64{nkv * headDim, n}
		want[p+"attn_v.weight"] = []uint64{nkv * headDim, n}
		want[p+"attn_output.weight"] = []uint64{n, cfg.NumAttentionHeads * headDim}
		want[p+"ffn_gate.weight"] = []uint64{ff, n}
		want[p+"ffn_up.weight"] = []uint64{ff, n}
		want[p+"ffn_down.weight"] = []uint64{n, ff}
	}
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		t, ok := ts[name]
		if !ok {
			return fmt.Errorf("convert %s: %w: tensor %s is missing", dir, ErrIncomplete, srcHint(name))
		}
		if !slices.Equal(t.shape, want[name]) {
			return fmt.Errorf("convert %s: %w: tensor %s has shape %v, config.json implies %v", dir, ErrIncomplete, t.srcName, t.shape, want[name])
		}
	}
	var extra []string
	for name, t := range ts {
		if _, ok := want[name]; !ok {
			extra = append(extra, t.srcName)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("convert %s: unexpected tensors for a %d-layer LLaMA: %s", dir, cfg.NumHiddenLayers, strings.Join(extra, ", "))
	}
	return nil
}

// srcHint names a GGUF tensor by its Hugging Face name too, for errors.
func srcHint(gguf string) string {
	r := strings.NewReplacer(
		"token_embd", "model.embed_tokens", "output_norm", "model.norm", "output.", "lm_head.",
		"blk.", "model.layers.", "attn_norm", "input_layernorm", "ffn_norm", "post_attention_layernorm",
		"attn_q", "self_attn.q_proj", "attn_k", "self_attn.k_proj", "attn_v", "self_attn.v_proj",
		"attn_output", "self_attn.o_proj", "ffn_gate", "mlp.gate_proj", "ffn_up", "mlp.up_proj",
		"ffn_down", "mlp.down_proj")
	return fmt.Sprintf("%s (GGUF %s)", r.Replace(gguf), gguf)
}

// addTokenizerKVs records the special token ids and flags llama.cpp reads.
// Ollama's converter sets them only from a tokenizer.json; a folder with
// just tokenizer.model gets them from the SentencePiece model's own
// trainer and normalizer specs and tokenizer_config.json.
func addTokenizerKVs(dir string, kv oconvert.KV) error {
	setDefault := func(k string, v any) {
		if _, ok := kv[k]; !ok {
			kv[k] = v
		}
	}
	if kv["tokenizer.ggml.model"] == "llama" {
		file := filepath.Join(dir, "tokenizer.model")
		data, err := fileio.ReadRegular(file, 0)
		if err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		var m sentencepiece.ModelProto
		if err := proto.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("convert: %s: %w", file, err)
		}
		ts := m.GetTrainerSpec()
		for _, s := range []struct {
			key string
			id  int32
		}{
			{"unknown", ts.GetUnkId()}, {"bos", ts.GetBosId()}, {"eos", ts.GetEosId()}, {"padding", ts.GetPadId()},
		} {
			if s.id >= 0 {
				setDefault("tokenizer.ggml."+s.key+"_token_id", uint32(s.id))
			}
		}
		if ns := m.GetNormalizerSpec(); ns != nil {
			setDefault("tokenizer.ggml.add_space_prefix", ns.GetAddDummyPrefix())
		}
	}

	addBOS, addEOS := true, false
	if data, err := fileio.ReadRegular(filepath.Join(dir, "tokenizer_config.json"), 0); err == nil {
		var tc struct {
			AddBOS *bool `json:"add_bos_token"`
			AddEOS *bool `json:"add_eos_token"`
		}
		if err := json.Unmarshal(data, &tc); err != nil {
			return fmt.Errorf("convert: %s: %w", filepath.Join(dir, "tokenizer_config.json"), err)
		}
		if tc.AddBOS != nil {
			addBOS = *tc.AddBOS
		}
		if tc.AddEOS != nil {
			addEOS = *tc.AddEOS
		}
	}
	setDefault("tokenizer.ggml.add_bos_token", addBOS)
	setDefault("tokenizer.ggml.add_eos_token", addEOS)
	return nil
}

// specialTokensMap returns special_tokens_map.json with an empty
// additional_special_tokens list where it has none (ollama logs a warning
// for a missing one), or nil if the file is absent.
func specialTokensMap(dir string) ([]byte, error) {
	file := filepath.Join(dir, "special_tokens_map.json")
	data, err := fileio.ReadRegular(file, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("convert: %s: %w", file, err)
	}
	if _, ok := m["additional_special_tokens"]; !ok {
		m["additional_special_tokens"] = []string{}
	}
	return json.Marshal(m)
}

// overlayFS serves some files from memory and the rest from FS, which is
// os.DirFS(dir): it refuses what is neither a folder nor a regular file
// (opening a named pipe would wait for a writer forever).
type overlayFS struct {
	fs.FS
	dir   string
	files map[string][]byte
}

func (o overlayFS) Open(name string) (fs.File, error) {
	if data, ok := o.files[name]; ok {
		return &memFile{name: name, data: data}, nil
	}
	if fs.ValidPath(name) {
		// Files are opened without blocking (a named pipe is refused);
		// folders and missing names go to the underlying FS.
		path := filepath.Join(o.dir, filepath.FromSlash(name))
		f, err := fileio.OpenRegular(path)
		if err == nil {
			return f, nil
		}
		if st, serr := os.Stat(path); !errors.Is(err, fs.ErrNotExist) && (serr != nil || !st.IsDir()) {
			return nil, err
		}
	}
	return o.FS.Open(name)
}

type memFile struct {
	name string
	data []byte
	off  int
}

func (f *memFile) Stat() (fs.FileInfo, error) { return memInfo{f}, nil }
func (f *memFile) Close() error               { return nil }
func (f *memFile) Read(p []byte) (int, error) {
	if f.off >= len(f.data) {
		return 0, io.EOF
	}
	n := copy(p, f.data[f.off:])
	f.off += n
	return n, nil
}

type memInfo struct{ f *memFile }

func (i memInfo) Name() string       { return i.f.name }
func (i memInfo) Size() int64        { return int64(len(i.f.data)) }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
