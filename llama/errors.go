package llama

import "errors"

// Sentinel errors callers can branch on with errors.Is.
var (
	// ErrClosed is returned when a Model, Context or Sampler is used after Close.
	ErrClosed = errors.New("llama: use of closed value")
	// ErrContextFull is returned when a decode would go past the context size.
	ErrContextFull = errors.New("llama: context window is full")
	// ErrBadEmbeddingWidth is returned when soft-token rows do not have the
	// model's embedding width.
	ErrBadEmbeddingWidth = errors.New("llama: soft-token rows do not match the model's embedding width")
	// ErrNotGGUF is returned by LoadModel for a file that is not a GGUF file.
	ErrNotGGUF = errors.New("llama: not a GGUF file")
	// ErrLoadAborted is returned by LoadModel when the Progress callback
	// returned false.
	ErrLoadAborted = errors.New("llama: model load aborted by progress callback")
	// ErrBadModel is returned by LoadModel for a GGUF file whose metadata
	// does not describe a usable model.
	ErrBadModel = errors.New("llama: inconsistent model metadata")
	// ErrBadPosition is returned when inputs are placed after a gap in a
	// sequence (llama.cpp requires consecutive positions).
	ErrBadPosition = errors.New("llama: position is not consecutive with the sequence")
	// ErrNoLogits is returned when logits are asked for a position the last
	// Decode did not compute them for.
	ErrNoLogits = errors.New("llama: no logits for this position")
	// ErrBadInput is returned for malformed inputs (an empty run, a run with both
	// tokens and embeddings, a token id outside the vocabulary).
	ErrBadInput = errors.New("llama: bad input")
)
