// Package convert turns a Hugging Face LLaMA folder (config.json, PyTorch
// .bin shards or safetensors, a SentencePiece tokenizer.model) into a GGUF
// file that llama.cpp loads.
//
// The model-specific work (config.json to GGUF metadata, the SentencePiece
// vocabulary, tensor names, and the q/k row permutation llama.cpp's rotary
// embedding expects) is done by the pinned github.com/ollama/ollama/convert
// package. This package supplies what that one lacks: a streaming reader for
// PyTorch zip checkpoints (ollama's own .bin reader writes no tensor data),
// a choice of output precision, progress reports, cancellation, checks that
// name what a folder is missing, and an atomic write.
package convert
