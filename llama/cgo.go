package llama

/*
#cgo CXXFLAGS: -std=c++17
#cgo linux LDFLAGS: -lm
#if !__has_include("llama.h")
#error "llama.h not found. Build through make (make, make test), or run: eval \"$(make -s env)\" before go build/go test."
#endif
#include <stdlib.h>
#include "binding.h"
*/
import "C"

import (
	"strings"
	"unsafe"

	// The pinned ollama module compiles llama.cpp and ggml (CPU backend)
	// through cgo; importing these packages links them into the binary.
	_ "github.com/ollama/ollama/llama/llama.cpp/src"
	_ "github.com/ollama/ollama/ml/backend/ggml/ggml/src"
)

func init() {
	// Runs after the ggml package's init (imports initialize first), so our
	// quiet logger replaces the one it installs.
	C.xg_init()
}

// lastError returns the error text llama.cpp logged on this OS thread since
// the last xg_clear_error. Call it in the same locked section (same cgo call
// sequence on a locked thread) as the failing call.
func lastError() string {
	var buf [2048]byte
	n := C.xg_last_error((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	s := strings.TrimSpace(string(buf[:n]))
	// llama.cpp prefixes lines with the function name; keep the text compact.
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// cString returns a C copy of s; the caller frees it with C.free.
func cString(s string) *C.char { return C.CString(s) }

func cFree(p *C.char) { C.free(unsafe.Pointer(p)) }
