package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
	"github.com/xraygpt-go/xraygpt/llama"
)

// The persistent prompt cache keeps the KV state of XrayGPT's fixed head
// (the system prompt up to "<Img>") in a file, so that a new process does
// not decode it again. A cache file is
//
//	magic "XGPC1\n" | key [32]byte | sha256 of state [32]byte | state
//
// where key identifies the language model file (path, size, modification
// time and a hash of its first 64 KiB: cheap, not a hash of gigabytes), the
// head's tokens and the KV cache's layout. A file whose key differs is
// another model's or another template's and is left alone; a file whose
// state does not match its checksum, or that llama.cpp refuses, is rebuilt.
const promptCacheMagic = "XGPC1\n"

// maxPromptCacheFile bounds what is read: a head of a few hundred positions
// of a 70B model's KV cache is well below it.
const maxPromptCacheFile = 1 << 30

// promptCacheKey identifies the head's KV state.
func promptCacheKey(modelPath string, flash llama.FlashAttention, head []llama.Token) ([32]byte, error) {
	h := sha256.New()
	abs, err := filepath.Abs(modelPath)
	if err != nil {
		return [32]byte{}, err
	}
	f, err := fileio.OpenRegular(modelPath)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return [32]byte{}, err
	}
	fmt.Fprintf(h, "model %s %d %d\n", abs, st.Size(), st.ModTime().UnixNano())
	if _, err := io.Copy(h, io.LimitReader(f, 64<<10)); err != nil {
		return [32]byte{}, err
	}
	// The KV layout this binding creates: f16 cells, one unified buffer, V
	// transposed or not as the attention kernels need.
	fmt.Fprintf(h, "\nkv f16 unified flash %d\nhead %d\n", flash, len(head))
	for _, t := range head {
		binary.Write(h, binary.LittleEndian, int32(t))
	}
	var key [32]byte
	h.Sum(key[:0])
	return key, nil
}

// promptCachePath is the cache file for a key in dir.
func promptCachePath(dir string, key [32]byte) string {
	return filepath.Join(dir, "prompt-"+hex.EncodeToString(key[:8])+".kvcache")
}

// errStaleCache means the cache file belongs to another model or template.
var errStaleCache = errors.New("prompt cache file is for another model or template")

// readPromptCache returns the state stored for key in path.
func readPromptCache(path string, key [32]byte) ([]byte, error) {
	data, err := fileio.ReadRegular(path, maxPromptCacheFile)
	if err != nil {
		return nil, err
	}
	n := len(promptCacheMagic)
	if len(data) < n+64 || string(data[:n]) != promptCacheMagic {
		return nil, fmt.Errorf("prompt cache %s: not a prompt cache file (bad header)", path)
	}
	if !bytes.Equal(data[n:n+32], key[:]) {
		return nil, fmt.Errorf("prompt cache %s: %w", path, errStaleCache)
	}
	state := data[n+64:]
	if sum := sha256.Sum256(state); !bytes.Equal(sum[:], data[n+32:n+64]) {
		return nil, fmt.Errorf("prompt cache %s: corrupt (checksum mismatch)", path)
	}
	return state, nil
}

// writePromptCache stores state for key in path, atomically.
func writePromptCache(path string, key [32]byte, state []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("prompt cache: %w", err)
	}
	sum := sha256.Sum256(state)
	return fileio.WriteAtomic(path, 0o644, func(w io.Writer) error {
		for _, b := range [][]byte{[]byte(promptCacheMagic), key[:], sum[:], state} {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// loadHead restores the head into the prefix sequence from the prompt
// cache; it reports whether it did. Problems are warnings: the head is then
// decoded (and the file rewritten).
func (s *Scheduler) loadHead(head []llama.Token) (key [32]byte, loaded bool) {
	dir := s.e.opts.PromptCacheDir
	if dir == "" {
		return key, false
	}
	key, err := promptCacheKey(s.e.llm.Path(), s.flash, head)
	if err != nil {
		s.e.warn(fmt.Sprintf("prompt cache: %v", err))
		return key, false
	}
	path := promptCachePath(dir, key)
	state, err := readPromptCache(path, key)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return key, false
	case err != nil:
		s.e.warn(fmt.Sprintf("%v; rebuilding it", err))
		return key, false
	}
	if err := s.lctx.LoadSeq(s.prefixSeq, state); err != nil || s.lctx.Pos(s.prefixSeq) != len(head) {
		s.e.warn(fmt.Sprintf("prompt cache %s: llama.cpp could not restore it (%v); rebuilding it", path, err))
		s.lctx.RemoveRange(s.prefixSeq, 0, -1)
		return key, false
	}
	return key, true
}

// saveHead writes the decoded head to the prompt cache.
func (s *Scheduler) saveHead(key [32]byte) {
	dir := s.e.opts.PromptCacheDir
	if dir == "" || key == ([32]byte{}) {
		return
	}
	state, err := s.lctx.SaveSeq(s.prefixSeq)
	if err == nil {
		err = writePromptCache(promptCachePath(dir, key), key, state)
	}
	if err != nil {
		s.e.warn(fmt.Sprintf("prompt cache: %v", err))
	}
}
