package llama

/*
#include "binding.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
)

// SamplerOptions configures a llama.cpp sampler chain. The zero value is
// greedy decoding (always the most likely token).
type SamplerOptions struct {
	// Temperature divides the logits; <= 0 means greedy decoding, and the
	// other fields but the repetition penalty are then ignored.
	Temperature float32
	TopK        int     // keep the K most likely tokens; 0: off
	TopP        float32 // keep the smallest set with probability >= TopP; 0 or 1: off
	MinP        float32 // drop tokens less likely than MinP times the top one; 0: off
	// RepeatPenalty > 0 and != 1 penalizes the last RepeatLastN accepted
	// tokens (RepeatLastN 0: 64, -1: the whole context).
	RepeatPenalty float32
	RepeatLastN   int
	// Seed seeds the random choice; 0 picks a random seed.
	Seed uint32
	// LogitBias is added to the logits of the given tokens before anything
	// else; math.Inf(-1) bans a token.
	LogitBias map[Token]float32
}

// Sampler picks tokens from a Context's logits with a llama.cpp sampler
// chain (penalties, top-k, top-p, min-p, temperature, then greedy or a seeded
// random draw). It is not safe for concurrent use. Close releases it.
type Sampler struct {
	mu    sync.Mutex
	ptr   *C.struct_llama_sampler
	clean runtime.Cleanup
	opts  SamplerOptions
}

// NewSampler builds a sampler chain for m's vocabulary.
func NewSampler(m *Model, opts SamplerOptions) (*Sampler, error) {
	for t := range opts.LogitBias {
		if t < 0 || int(t) >= m.nVocab {
			return nil, fmt.Errorf("new sampler: logit bias for token %d outside the vocabulary of %d: %w", t, m.nVocab, ErrBadInput)
		}
	}
	if opts.TopK < 0 || opts.TopP < 0 || opts.TopP > 1 || opts.MinP < 0 || opts.MinP > 1 || opts.RepeatPenalty < 0 {
		return nil, fmt.Errorf("new sampler: options out of range (top-k %d, top-p %g, min-p %g, repeat penalty %g): %w",
			opts.TopK, opts.TopP, opts.MinP, opts.RepeatPenalty, ErrBadInput)
	}
	params := C.llama_sampler_chain_default_params()
	params.no_perf = true
	chain := C.llama_sampler_chain_init(params)
	add := func(s *C.struct_llama_sampler) { C.llama_sampler_chain_add(chain, s) }
	if len(opts.LogitBias) > 0 {
		bias := make([]C.llama_logit_bias, 0, len(opts.LogitBias))
		for t, b := range opts.LogitBias {
			bias = append(bias, C.llama_logit_bias{token: C.llama_token(t), bias: C.float(b)})
		}
		add(C.llama_sampler_init_logit_bias(C.int32_t(m.nVocab), C.int32_t(len(bias)), &bias[0]))
	}
	if opts.RepeatPenalty > 0 && opts.RepeatPenalty != 1 {
		lastN := opts.RepeatLastN
		if lastN == 0 {
			lastN = 64
		}
		add(C.llama_sampler_init_penalties(C.int32_t(lastN), C.float(opts.RepeatPenalty), 0, 0))
	}
	if opts.Temperature <= 0 {
		add(C.llama_sampler_init_greedy())
	} else {
		if opts.TopK > 0 {
			add(C.llama_sampler_init_top_k(C.int32_t(opts.TopK)))
		}
		if opts.TopP > 0 && opts.TopP < 1 {
			add(C.llama_sampler_init_top_p(C.float(opts.TopP), 1))
		}
		if opts.MinP > 0 {
			add(C.llama_sampler_init_min_p(C.float(opts.MinP), 1))
		}
		add(C.llama_sampler_init_temp(C.float(opts.Temperature)))
		seed := C.uint32_t(opts.Seed)
		if opts.Seed == 0 {
			seed = C.LLAMA_DEFAULT_SEED
		}
		add(C.llama_sampler_init_dist(seed))
	}
	s := &Sampler{ptr: chain, opts: opts}
	s.clean = runtime.AddCleanup(s, func(p *C.struct_llama_sampler) { C.llama_sampler_free(p) }, chain)
	return s, nil
}

// Sample picks a token from the logits of the last position the context's
// last Decode computed, and accepts it (see Accept).
func (s *Sampler) Sample(c *Context) (Token, error) {
	return s.withContext(c, func() (Token, error) {
		if !c.hasOutput {
			return NoToken, fmt.Errorf("sample: the context has no logits (decode first): %w", ErrNoLogits)
		}
		t := Token(C.xg_sample(s.ptr, c.ptr))
		if t == NoToken {
			return NoToken, fmt.Errorf("sample: %w", ErrNoLogits)
		}
		return t, nil
	})
}

// withContext runs sample with the sampler and the context locked and open.
func (s *Sampler) withContext(c *Context, sample func() (Token, error)) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return NoToken, fmt.Errorf("sample: sampler: %w", ErrClosed)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return NoToken, fmt.Errorf("sample: context: %w", ErrClosed)
	}
	return sample()
}

// Accept records t as part of the text so far, for the repetition penalty.
// Sample accepts the tokens it returns; call Accept for prompt tokens.
func (s *Sampler) Accept(t ...Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return fmt.Errorf("accept: %w", ErrClosed)
	}
	for _, tok := range t {
		C.llama_sampler_accept(s.ptr, C.llama_token(tok))
	}
	return nil
}

// Reset forgets accepted tokens (and restarts the random stream of a
// seeded sampler).
func (s *Sampler) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return fmt.Errorf("reset: %w", ErrClosed)
	}
	C.llama_sampler_reset(s.ptr)
	return nil
}

// Close frees the sampler. It is idempotent.
func (s *Sampler) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr != nil {
		s.clean.Stop()
		C.llama_sampler_free(s.ptr)
		s.ptr = nil
	}
	return nil
}
