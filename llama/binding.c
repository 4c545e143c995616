// C side of package llama; see binding.h.
#include <string.h>
#include <stdlib.h>
#include "binding.h"
#include "_cgo_export.h"

// Error text logged by llama.cpp on the calling thread since xg_clear_error.
static __thread char xg_err[2048];
static __thread size_t xg_err_len;
static __thread int xg_last_level;

// Lowest level forwarded to Go (0 = nothing). Written rarely, read by any thread.
static int xg_log_min = 0;

static void xg_err_append(const char *text) {
	size_t n = strlen(text);
	if (n > sizeof(xg_err) - 1 - xg_err_len) {
		n = sizeof(xg_err) - 1 - xg_err_len;
	}
	memcpy(xg_err + xg_err_len, text, n);
	xg_err_len += n;
	xg_err[xg_err_len] = 0;
}

static void xg_log(enum ggml_log_level level, const char *text, void *user_data) {
	(void)user_data;
	int eff = level;
	if (level == GGML_LOG_LEVEL_CONT) {
		eff = xg_last_level;
	} else {
		xg_last_level = level;
	}
	if (eff == GGML_LOG_LEVEL_ERROR) {
		xg_err_append(text);
	}
	int min = __atomic_load_n(&xg_log_min, __ATOMIC_RELAXED);
	if (min > 0 && eff >= min) {
		goLog((int)eff, (char *)text);
	}
}

void xg_init(void) {
	llama_log_set(xg_log, NULL);
	llama_backend_init();
}

void xg_set_log_level(int min_level) {
	__atomic_store_n(&xg_log_min, min_level, __ATOMIC_RELAXED);
}

void xg_clear_error(void) {
	xg_err_len = 0;
	xg_err[0] = 0;
}

size_t xg_last_error(char *buf, size_t size) {
	size_t n = xg_err_len < size ? xg_err_len : size;
	memcpy(buf, xg_err, n);
	return n;
}

static bool xg_progress(float p, void *user_data) {
	return goProgress(p, (uintptr_t)user_data);
}

struct llama_model *xg_load_model(const char *path, int n_gpu_layers, bool use_mmap, bool repack, uintptr_t progress) {
	struct llama_model_params p = llama_model_default_params();
	p.n_gpu_layers = n_gpu_layers;
	p.use_mmap = use_mmap;
	p.use_extra_bufts = repack;
	if (progress) {
		p.progress_callback = xg_progress;
		p.progress_callback_user_data = (void *)progress;
	}
	return llama_model_load_from_file(path, p);
}

static bool xg_abort_cb(void *data) {
	return __atomic_load_n(&((xg_abort *)data)->flag, __ATOMIC_RELAXED) != 0;
}

void xg_abort_set(xg_abort *a, int v) {
	__atomic_store_n(&a->flag, v, __ATOMIC_RELAXED);
}

struct llama_context *xg_new_context(struct llama_model *model, uint32_t n_ctx, uint32_t n_batch,
		uint32_t n_ubatch, uint32_t n_seq_max, int32_t n_threads, int32_t n_threads_batch,
		int flash_attn, bool kv_unified, xg_abort *abort_flag) {
	struct llama_context_params p = llama_context_default_params();
	p.n_ctx = n_ctx;
	p.n_batch = n_batch;
	p.n_ubatch = n_ubatch;
	p.n_seq_max = n_seq_max;
	p.n_threads = n_threads;
	p.n_threads_batch = n_threads_batch;
	p.flash_attn_type = (enum llama_flash_attn_type)flash_attn;
	p.kv_unified = kv_unified;
	p.abort_callback = xg_abort_cb;
	p.abort_callback_data = abort_flag;
	p.no_perf = true;
	return llama_init_from_model(model, p);
}

struct llama_batch *xg_batch_new(int32_t n, int32_t embd, int32_t n_seq_max) {
	struct llama_batch *b = malloc(sizeof(struct llama_batch));
	if (b) {
		*b = llama_batch_init(n, embd, n_seq_max);
	}
	return b;
}

void xg_batch_free(struct llama_batch *b) {
	if (b) {
		llama_batch_free(*b);
		free(b);
	}
}

int32_t xg_decode_batch(struct llama_context *ctx, struct llama_batch *batch, int32_t n, int32_t pos0, int32_t seq) {
	xg_clear_error();
	batch->n_tokens = n;
	for (int32_t i = 0; i < n; i++) {
		batch->pos[i] = pos0 + i;
		batch->n_seq_id[i] = 1;
		batch->seq_id[i][0] = seq;
	}
	return llama_decode(ctx, *batch);
}

int32_t xg_decode_multi(struct llama_context *ctx, struct llama_batch *batch, int32_t n, const int32_t *pos, const int32_t *seq) {
	xg_clear_error();
	batch->n_tokens = n;
	for (int32_t i = 0; i < n; i++) {
		batch->pos[i] = pos[i];
		batch->n_seq_id[i] = 1;
		batch->seq_id[i][0] = seq[i];
	}
	return llama_decode(ctx, *batch);
}

llama_token xg_sample_logits(struct llama_sampler *smpl, const float *logits, int32_t n_vocab) {
	llama_token_data *data = malloc(sizeof(llama_token_data) * (size_t)n_vocab);
	if (data == NULL) {
		return LLAMA_TOKEN_NULL;
	}
	for (int32_t t = 0; t < n_vocab; t++) {
		data[t].id = t;
		data[t].logit = logits[t];
		data[t].p = 0.0f;
	}
	llama_token_data_array cur = {data, (size_t)n_vocab, -1, false};
	llama_sampler_apply(smpl, &cur);
	llama_token tok = LLAMA_TOKEN_NULL;
	if (cur.selected >= 0 && (size_t)cur.selected < cur.size) {
		tok = cur.data[cur.selected].id;
		llama_sampler_accept(smpl, tok);
	}
	free(data);
	return tok;
}

llama_token xg_sample(struct llama_sampler *smpl, struct llama_context *ctx) {
	if (llama_get_logits_ith(ctx, -1) == NULL) {
		return LLAMA_TOKEN_NULL;
	}
	return llama_sampler_sample(smpl, ctx, -1);
}

int32_t xg_bench_prompt(struct llama_context *ctx, const llama_token *tokens, int32_t n, int32_t n_batch) {
	struct llama_batch batch = llama_batch_init(n_batch, 0, 1);
	int32_t rc = 0;
	for (int32_t i = 0; i < n && rc == 0; i += n_batch) {
		int32_t m = n - i < n_batch ? n - i : n_batch;
		batch.n_tokens = m;
		for (int32_t j = 0; j < m; j++) {
			batch.token[j] = tokens[i + j];
			batch.pos[j] = i + j;
			batch.n_seq_id[j] = 1;
			batch.seq_id[j][0] = 0;
			batch.logits[j] = (i + j == n - 1);
		}
		rc = llama_decode(ctx, batch);
	}
	llama_batch_free(batch);
	return rc;
}

int32_t xg_bench_generate(struct llama_context *ctx, struct llama_sampler *smpl, llama_token first, int32_t pos0, int32_t n) {
	struct llama_batch batch = llama_batch_init(1, 0, 1);
	llama_token tok = first;
	int32_t rc = 0;
	for (int32_t i = 0; i < n && rc == 0; i++) {
		batch.n_tokens = 1;
		batch.token[0] = tok;
		batch.pos[0] = pos0 + i;
		batch.n_seq_id[0] = 1;
		batch.seq_id[0][0] = 0;
		batch.logits[0] = 1;
		rc = llama_decode(ctx, batch);
		if (rc == 0) {
			tok = llama_sampler_sample(smpl, ctx, -1);
		}
	}
	llama_batch_free(batch);
	return rc;
}
