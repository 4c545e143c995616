// Package llama is a Go binding over llama.cpp's C API (llama.h).
//
// It loads GGUF models, tokenizes, decodes mixed runs of text tokens and raw
// embedding rows ("soft tokens"), samples and generates text. No C type
// appears in its API; every value that owns C memory has an idempotent Close.
package llama
