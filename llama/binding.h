// C helpers for package llama. Kept in C so that the hot paths (abort checks,
// logging filters) never call back into Go, and so that the thread-local
// error text llama.cpp logs can be returned with the call that failed.
#ifndef XRAYGPT_LLAMA_BINDING_H
#define XRAYGPT_LLAMA_BINDING_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "llama.h"

// Per-context abort flag read by llama.cpp's abort callback.
typedef struct xg_abort {
	int flag;
} xg_abort;

void xg_init(void);
void xg_set_log_level(int min_level);
void xg_clear_error(void);
size_t xg_last_error(char *buf, size_t size);

struct llama_model *xg_load_model(const char *path, int n_gpu_layers, bool use_mmap, bool repack, uintptr_t progress);
struct llama_context *xg_new_context(struct llama_model *model, uint32_t n_ctx, uint32_t n_batch,
		uint32_t n_ubatch, uint32_t n_seq_max, int32_t n_threads, int32_t n_threads_batch,
		int flash_attn, bool kv_unified, xg_abort *abort_flag);
void xg_abort_set(xg_abort *a, int v);

// Allocates a batch with llama_batch_init into C memory.
struct llama_batch *xg_batch_new(int32_t n, int32_t embd, int32_t n_seq_max);
void xg_batch_free(struct llama_batch *b);

// Decodes the first n entries of batch, whose token or embd rows and logits
// flags the caller filled, at positions pos0.. of sequence seq. Clears the
// thread's error text first.
int32_t xg_decode_batch(struct llama_context *ctx, struct llama_batch *batch, int32_t n, int32_t pos0, int32_t seq);

// Like xg_decode_batch for entries of several sequences: entry i goes to
// position pos[i] of sequence seq[i].
int32_t xg_decode_multi(struct llama_context *ctx, struct llama_batch *batch, int32_t n, const int32_t *pos, const int32_t *seq);

llama_token xg_sample(struct llama_sampler *smpl, struct llama_context *ctx);

// Samples from a row of logits held by the caller, exactly as
// llama_sampler_sample does from the context's, and accepts the token.
llama_token xg_sample_logits(struct llama_sampler *smpl, const float *logits, int32_t n_vocab);

// Benchmark reference loops: plain llama_decode with no Go in between.
int32_t xg_bench_prompt(struct llama_context *ctx, const llama_token *tokens, int32_t n, int32_t n_batch);
int32_t xg_bench_generate(struct llama_context *ctx, struct llama_sampler *smpl, llama_token first, int32_t pos0, int32_t n);

#endif
