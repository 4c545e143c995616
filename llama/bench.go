package llama

/*
#include "binding.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// The reference loops of the benchmarks: llama_decode (and for generation
// llama_sampler_sample) called from one C loop, with no Go in between. They
// are unexported and used only by the benchmarks, through export_test.go.

// benchPromptC decodes toks on sequence 0 from position 0 in chunks of
// nBatch, with logits for the last position only.
func benchPromptC(c *Context, toks []Token, nBatch int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return ErrClosed
	}
	if len(toks) == 0 {
		return nil
	}
	rc := C.xg_bench_prompt(c.ptr, (*C.llama_token)(unsafe.Pointer(&toks[0])), C.int32_t(len(toks)), C.int32_t(nBatch))
	if rc != 0 {
		return fmt.Errorf("bench prompt: llama_decode returned %d", int(rc))
	}
	return nil
}

// benchGenerateC decodes first at pos0 and then n-1 tokens sampled with s,
// one token per llama_decode call.
func benchGenerateC(c *Context, s *Sampler, first Token, pos0, n int) error {
	s.mu.Lock() // the lock order of Sampler.Sample
	defer s.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil || s.ptr == nil {
		return ErrClosed
	}
	rc := C.xg_bench_generate(c.ptr, s.ptr, C.llama_token(first), C.int32_t(pos0), C.int32_t(n))
	if rc != 0 {
		return fmt.Errorf("bench generate: llama_decode returned %d", int(rc))
	}
	return nil
}
