package main

import (
	"github.com/xraygpt-go/xraygpt/batch"
	"github.com/xraygpt-go/xraygpt/engine"
	"github.com/xraygpt-go/xraygpt/internal/timing"
)

// batchTimings is one answer's timings in the milliseconds of batch results
// and summarize --json. TotalMS is left for the caller, who knows what the
// total spans.
func batchTimings(t engine.Timings) batch.Timings {
	return batch.Timings{
		VisionMS: timing.MS(t.Vision), PromptMS: timing.MS(t.Prompt), GenerateMS: timing.MS(t.Generate),
		PromptTokens: t.PromptTokens, GeneratedTokens: t.GeneratedTokens,
	}
}
