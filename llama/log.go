package llama

/*
#include "binding.h"
*/
import "C"

import (
	"io"
	"sync"
)

// LogLevel is the severity of a llama.cpp/ggml log line.
type LogLevel int

// Log levels, matching ggml's.
const (
	LogDebug LogLevel = 1
	LogInfo  LogLevel = 2
	LogWarn  LogLevel = 3
	LogError LogLevel = 4
)

var logState struct {
	mu sync.Mutex
	w  io.Writer
}

// SetLogOutput sends llama.cpp and ggml log lines of at least level min to w.
// A nil w (the default) silences them.
//
// The logger is process-global state inside llama.cpp (llama_log_set), shared
// by every Model and Context in the process, so SetLogOutput is meant to be
// called once at program start (e.g. for a --verbose flag). It is safe to call
// concurrently with other package functions; writes to w are serialized.
// Errors llama.cpp logs are still captured into the errors this package
// returns, whatever the log setting.
func SetLogOutput(w io.Writer, min LogLevel) {
	logState.mu.Lock()
	logState.w = w
	logState.mu.Unlock()
	if w == nil || min < LogDebug {
		if w == nil {
			min = 0
		} else {
			min = LogDebug
		}
	}
	C.xg_set_log_level(C.int(min))
}

//export goLog
func goLog(level C.int, text *C.char) {
	s := C.GoString(text)
	logState.mu.Lock()
	defer logState.mu.Unlock()
	if logState.w != nil {
		io.WriteString(logState.w, s)
	}
}
