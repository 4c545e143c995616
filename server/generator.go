package server

import (
	"context"

	"github.com/xraygpt-go/xraygpt/engine"
)

// generator is what the server needs of the engine's scheduler
// (*engine.Scheduler); tests wrap it to slow a real one down.
type generator interface {
	Do(ctx context.Context, req engine.Request) (*engine.Answer, error)
	Stats() engine.SchedulerStats
}
