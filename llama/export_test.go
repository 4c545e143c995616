package llama

// Exported for the benchmarks in package llama_test.
var (
	BenchPromptC   = benchPromptC
	BenchGenerateC = benchGenerateC
)

// WithoutRepack returns opts with ggml's CPU weight repacking off.
func WithoutRepack(opts ModelOptions) ModelOptions {
	opts.noRepack = true
	return opts
}
