package llama

/*
#include <stdlib.h>
#include "binding.h"
*/
import "C"

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"unsafe"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// Token is a token id in a model's vocabulary.
type Token int32

// NoToken marks an absent special token (llama.cpp's LLAMA_TOKEN_NULL).
const NoToken Token = -1

// ModelOptions configures LoadModel. The zero value memory-maps the file and
// keeps every layer on the CPU.
type ModelOptions struct {
	// GPULayers is the number of layers to offload to a GPU device, when one
	// is available (see LoadBackends); -1 offloads all of them.
	GPULayers int
	// NoMmap reads the weights into memory instead of memory-mapping the file.
	NoMmap bool
	// Progress, if set, is called during loading with the fraction done
	// (0..1). Returning false aborts the load; LoadModel then returns an error
	// wrapping ErrLoadAborted.
	Progress func(fraction float32) bool
	// noRepack keeps the weights in the file's layout on the CPU instead
	// of ggml's repacked one (for the test that compares the two).
	noRepack bool
}

// SpecialTokens lists a vocabulary's special token ids; NoToken where absent.
type SpecialTokens struct {
	BOS, EOS, EOT, SEP, NL, PAD Token
	// AddBOS and AddEOS say whether Tokenize with addSpecial adds them.
	AddBOS, AddEOS bool
}

// Model is a loaded GGUF model. Its methods are safe for concurrent use.
// Close releases it; contexts created from it keep it alive until they are
// closed too.
type Model struct {
	path string

	mu     sync.RWMutex // guards closed against use; write-locked by release
	closed bool         // Close was called
	refs   int          // open contexts
	freed  bool
	ptr    *C.struct_llama_model
	vocab  *C.struct_llama_vocab
	clean  runtime.Cleanup

	nEmbd, nVocab, nCtxTrain, nLayer, nHead, nHeadKV int
	size, params                                     uint64
	desc, arch                                       string
	special                                          SpecialTokens
}

type modelHandle struct{ ptr *C.struct_llama_model }

// LoadModel loads the GGUF model at path.
func LoadModel(path string, opts ModelOptions) (*Model, error) {
	if err := checkGGUF(path); err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	var h cgo.Handle
	aborted := false
	if opts.Progress != nil {
		h = cgo.NewHandle(func(f float32) bool {
			ok := opts.Progress(f)
			if !ok {
				aborted = true
			}
			return ok
		})
		defer h.Delete()
	}
	gpuLayers := opts.GPULayers
	if gpuLayers < 0 {
		gpuLayers = 999 // llama.cpp's "all layers"
	}
	cpath := cString(path)
	defer cFree(cpath)

	runtime.LockOSThread()
	C.xg_clear_error()
	ptr := C.xg_load_model(cpath, C.int(gpuLayers), C.bool(!opts.NoMmap), C.bool(!opts.noRepack), C.uintptr_t(h))
	msg := lastError()
	runtime.UnlockOSThread()
	if ptr == nil {
		if aborted {
			return nil, fmt.Errorf("load model %s: %w", path, ErrLoadAborted)
		}
		if msg == "" {
			msg = "llama.cpp could not load it"
		}
		return nil, fmt.Errorf("load model %s: %s", path, msg)
	}
	m := &Model{path: path, ptr: ptr, vocab: C.llama_model_get_vocab(ptr)}
	m.nEmbd = int(C.llama_model_n_embd(ptr))
	m.nVocab = int(C.llama_vocab_n_tokens(m.vocab))
	m.nCtxTrain = int(C.llama_model_n_ctx_train(ptr))
	m.nLayer = int(C.llama_model_n_layer(ptr))
	m.nHead = int(C.llama_model_n_head(ptr))
	m.nHeadKV = int(C.llama_model_n_head_kv(ptr))
	m.size = uint64(C.llama_model_size(ptr))
	m.params = uint64(C.llama_model_n_params(ptr))
	var buf [256]C.char
	if n := C.llama_model_desc(ptr, &buf[0], C.size_t(len(buf))); n > 0 {
		m.desc = C.GoString(&buf[0])
	}
	m.arch, _ = m.Meta("general.architecture")
	v := m.vocab
	m.special = SpecialTokens{
		BOS: Token(C.llama_vocab_bos(v)), EOS: Token(C.llama_vocab_eos(v)),
		EOT: Token(C.llama_vocab_eot(v)), SEP: Token(C.llama_vocab_sep(v)),
		NL: Token(C.llama_vocab_nl(v)), PAD: Token(C.llama_vocab_pad(v)),
		AddBOS: bool(C.llama_vocab_get_add_bos(v)), AddEOS: bool(C.llama_vocab_get_add_eos(v)),
	}
	m.clean = runtime.AddCleanup(m, func(h modelHandle) { C.llama_model_free(h.ptr) }, modelHandle{ptr})
	return m, nil
}

// checkGGUF gives clear errors before llama.cpp sees the file: it checks
// the magic, then parses the header with package gguf, which validates
// counts, types and that every tensor lies within the file.
func checkGGUF(path string) error {
	if err := checkMagic(path); err != nil {
		return err
	}
	f, err := gguf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return checkMeta(f)
}

// maxTensorName is ggml's GGML_MAX_NAME: tensor names are shorter.
const maxTensorName = 64

// checkMeta rejects metadata that passes GGUF parsing but that llama.cpp
// does not check before relying on it (it would abort the process or read
// out of bounds).
func checkMeta(f *gguf.File) error {
	if _, err := f.String("general.architecture"); err != nil {
		return fmt.Errorf("no general.architecture: %w", ErrBadModel)
	}
	for _, t := range f.Tensors {
		if len(t.Name) >= maxTensorName {
			return fmt.Errorf("tensor name %q is %d bytes, more than llama.cpp's %d (not a llama.cpp model file): %w", t.Name, len(t.Name), maxTensorName-1, ErrBadModel)
		}
	}
	if arch, err := f.String("general.architecture"); err == nil {
		if n, err := f.Uint(arch + ".block_count"); err == nil && n == 0 {
			return fmt.Errorf("%s.block_count is 0: %w", arch, ErrBadModel)
		}
	}
	for _, kv := range f.KVs {
		if strings.HasSuffix(kv.Key, ".layer_norm_rms_epsilon") || strings.HasSuffix(kv.Key, ".layer_norm_epsilon") {
			if eps, err := f.Float(kv.Key); err != nil || !(eps >= 0) || math.IsInf(eps, 0) {
				return fmt.Errorf("%s is %v, not a finite non-negative number: %w", kv.Key, kv.Value, ErrBadModel)
			}
		}
	}
	if toks, err := f.Strings("tokenizer.ggml.tokens"); err == nil {
		for _, kv := range f.KVs {
			if strings.HasPrefix(kv.Key, "tokenizer.ggml.") && strings.HasSuffix(kv.Key, "_token_id") {
				// -1 (also stored as uint32 0xFFFFFFFF) means "none".
				if id, err := f.Int(kv.Key); err == nil && id != math.MaxUint32 && (id < -1 || id >= int64(len(toks))) {
					return fmt.Errorf("%s is %d, outside the vocabulary of %d: %w", kv.Key, id, len(toks), ErrBadModel)
				}
			}
		}
		for _, key := range []string{"tokenizer.ggml.scores", "tokenizer.ggml.token_type"} {
			v, ok := f.Value(key)
			if !ok {
				continue
			}
			n := -1
			switch a := v.(type) {
			case []float32:
				n = len(a)
			case []int32:
				n = len(a)
			}
			if n != len(toks) {
				return fmt.Errorf("%s holds %d values (type %T) for %d tokens: %w", key, n, v, len(toks), ErrBadModel)
			}
		}
	}
	return nil
}

func checkMagic(path string) error {
	f, err := fileio.OpenRegular(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("is a directory: %w", ErrNotGGUF)
	}
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return fmt.Errorf("file is %d bytes, too short for a GGUF header: %w", st.Size(), ErrNotGGUF)
	}
	if !bytes.Equal(magic[:], []byte("GGUF")) {
		return fmt.Errorf("starts with %q, not \"GGUF\": %w", magic[:], ErrNotGGUF)
	}
	return nil
}

//export goProgress
func goProgress(p C.float, h C.uintptr_t) C.bool {
	f := cgo.Handle(h).Value().(func(float32) bool)
	return C.bool(f(float32(p)))
}

// Close releases the model once no open Context uses it. It is idempotent.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.freeLocked()
	return nil
}

func (m *Model) freeLocked() {
	if m.closed && m.refs == 0 && !m.freed {
		m.freed = true
		m.clean.Stop()
		C.llama_model_free(m.ptr)
		m.ptr, m.vocab = nil, nil
	}
}

// acquire and release count open contexts.
func (m *Model) acquire() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.refs++
	return nil
}

func (m *Model) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refs--
	m.freeLocked()
	runtime.KeepAlive(m)
}

// use read-locks the model for a C call; it fails after Close.
func (m *Model) use() error {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (m *Model) done() { m.mu.RUnlock() }

// Path is the file the model was loaded from.
func (m *Model) Path() string { return m.path }

// NEmbd is the embedding width: the length of a soft-token row.
func (m *Model) NEmbd() int { return m.nEmbd }

// NVocab is the vocabulary size: the length of a logits row.
func (m *Model) NVocab() int { return m.nVocab }

// NCtxTrain is the context length the model was trained with.
func (m *Model) NCtxTrain() int { return m.nCtxTrain }

// NLayer is the number of transformer blocks.
func (m *Model) NLayer() int { return m.nLayer }

// NHead is the number of attention heads.
func (m *Model) NHead() int { return m.nHead }

// NHeadKV is the number of key/value heads (below NHead with grouped-query
// attention).
func (m *Model) NHeadKV() int { return m.nHeadKV }

// Arch is the model's general.architecture, e.g. "llama".
func (m *Model) Arch() string { return m.arch }

// Description is llama.cpp's one-line summary, e.g. "llama 7B Q4_K - Medium".
func (m *Model) Description() string { return m.desc }

// Size is the total size of the weights in bytes.
func (m *Model) Size() uint64 { return m.size }

// ParamCount is the number of parameters.
func (m *Model) ParamCount() uint64 { return m.params }

// Special returns the vocabulary's special tokens.
func (m *Model) Special() SpecialTokens { return m.special }

// BOS returns the beginning-of-sequence token, or NoToken.
func (m *Model) BOS() Token { return m.special.BOS }

// EOS returns the end-of-sequence token, or NoToken.
func (m *Model) EOS() Token { return m.special.EOS }

// IsEOG reports whether t ends generation (EOS, EOT and the like).
func (m *Model) IsEOG(t Token) bool {
	if m.use() != nil {
		return false
	}
	defer m.done()
	return bool(C.llama_vocab_is_eog(m.vocab, C.llama_token(t)))
}

// IsControl reports whether t is a control token (rendered as nothing).
func (m *Model) IsControl(t Token) bool {
	if m.use() != nil {
		return false
	}
	defer m.done()
	return bool(C.llama_vocab_is_control(m.vocab, C.llama_token(t)))
}

// Meta returns the scalar metadata value stored under key, formatted as text
// (arrays are not available through llama.cpp; read the file with package
// gguf for those).
func (m *Model) Meta(key string) (string, bool) {
	if m.use() != nil {
		return "", false
	}
	defer m.done()
	ckey := cString(key)
	defer cFree(ckey)
	n := C.llama_model_meta_val_str(m.ptr, ckey, nil, 0)
	if n < 0 {
		return "", false
	}
	buf := make([]byte, int(n)+1)
	C.llama_model_meta_val_str(m.ptr, ckey, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return string(buf[:n]), true
}

// Metadata returns every scalar metadata key and value (see Meta).
func (m *Model) Metadata() (map[string]string, error) {
	if err := m.use(); err != nil {
		return nil, err
	}
	defer m.done()
	out := map[string]string{}
	n := int(C.llama_model_meta_count(m.ptr))
	for i := 0; i < n; i++ {
		k := metaString(func(b *C.char, sz C.size_t) C.int32_t {
			return C.llama_model_meta_key_by_index(m.ptr, C.int32_t(i), b, sz)
		})
		v := metaString(func(b *C.char, sz C.size_t) C.int32_t {
			return C.llama_model_meta_val_str_by_index(m.ptr, C.int32_t(i), b, sz)
		})
		out[k] = v
	}
	return out, nil
}

func metaString(get func(*C.char, C.size_t) C.int32_t) string {
	n := get(nil, 0)
	if n < 0 {
		return ""
	}
	buf := make([]byte, int(n)+1)
	get((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return string(buf[:n])
}
