// Package gguf reads and writes GGUF files, the container format of
// llama.cpp models, in pure Go.
//
// A File maps the whole file into memory (read-only) and gives access to its
// metadata key/values and tensor data without copying. A Writer builds a new
// file from metadata and tensors. Only GGUF version 3 (and 2 for reading) is
// supported; everything is little-endian.
package gguf
