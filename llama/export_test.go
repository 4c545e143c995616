package llama

// Exported for the benchmarks in package llama_test.
var (
	BenchPromptC   = benchPromptC
	BenchGenerateC = benchGenerateC
)
