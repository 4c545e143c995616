// Package llama is a Go binding over llama.cpp's C API (llama.h).
//
// It loads GGUF models, tokenizes, decodes mixed runs of text tokens and raw
// embedding rows ("soft tokens", e.g. a projected image), samples and
// generates text. No C type appears in its API; every value that owns C
// memory (Model, Context, Sampler) has an idempotent Close, with a cleanup
// as a safety net only.
//
// The minimum sequence, as in llama.cpp's examples/simple:
//
//	model, _ := llama.LoadModel(path, llama.ModelOptions{})
//	lctx, _ := llama.NewContext(model, llama.ContextOptions{})
//	prompt, _ := model.Tokenize(text, true, false)
//	g, _ := lctx.Generate(ctx, []llama.Input{llama.TokenInput(prompt)}, llama.GenerateOptions{MaxTokens: 300})
//
// Decode and Generate take a list of Inputs, each a run of token ids or of
// soft tokens (rows of width Model.NEmbd), so a prompt can be
// text, image, text. Positions continue in the KV cache from call to call,
// so a chat turn appends to what is already decoded; RemoveRange, CopySeq,
// KeepSeq, SaveSeq and LoadSeq edit, share and snapshot it. DecodeRuns
// decodes runs of several sequences in the same llama_decode calls
// (continuous batching), with logits per sequence (SeqLogits, SampleSeq). Cancelling a context.Context
// aborts a decode even in the middle of a long prompt (through llama.cpp's
// abort callback, which reads a flag in C memory: no Go code runs inside the
// compute graph).
//
// # Concurrency
//
// A Model is safe for concurrent use. A Context or a Sampler is meant for
// one goroutine at a time; their methods lock, so misuse serializes instead
// of crashing. Closing a Model while Contexts use it defers the free until
// the last of them is closed.
//
// # Process-global state
//
// llama.cpp's logger and its backend registry are global: SetLogOutput and
// LoadBackends affect the whole process. By default nothing is logged;
// error lines llama.cpp logs while a call fails are captured per call (in
// thread-local C memory) and put into the returned error.
//
// # Building
//
// llama.cpp and ggml are compiled by cgo from the pinned Go module
// github.com/ollama/ollama. The include paths come from CGO_CPPFLAGS: build
// through the Makefile, or run eval "$(make -s env)" before go build/go test.
// That also sets -O3 -march=native for the ggml CPU kernels; without -march
// ggml has no SIMD and runs several times slower.
package llama
