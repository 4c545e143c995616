package llama

/*
#include <stdlib.h>
#include "binding.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"

	"github.com/xraygpt-go/xraygpt/internal/fileio"
)

// QuantizeOptions configures Quantize.
type QuantizeOptions struct {
	// Type is the target type name, e.g. "Q4_K_M", "Q5_K_M", "Q8_0", "Q4_0",
	// "F16" (see QuantTypes). K-quants need tensor rows that are a multiple
	// of 256 wide; llama.cpp falls back to another type for other tensors.
	Type string
	// Threads used by llama.cpp; 0: runtime.NumCPU().
	Threads int
}

var quantTypes = map[string]C.enum_llama_ftype{
	"F32":    C.LLAMA_FTYPE_ALL_F32,
	"F16":    C.LLAMA_FTYPE_MOSTLY_F16,
	"BF16":   C.LLAMA_FTYPE_MOSTLY_BF16,
	"Q4_0":   C.LLAMA_FTYPE_MOSTLY_Q4_0,
	"Q4_1":   C.LLAMA_FTYPE_MOSTLY_Q4_1,
	"Q5_0":   C.LLAMA_FTYPE_MOSTLY_Q5_0,
	"Q5_1":   C.LLAMA_FTYPE_MOSTLY_Q5_1,
	"Q8_0":   C.LLAMA_FTYPE_MOSTLY_Q8_0,
	"Q2_K":   C.LLAMA_FTYPE_MOSTLY_Q2_K,
	"Q2_K_S": C.LLAMA_FTYPE_MOSTLY_Q2_K_S,
	"Q3_K_S": C.LLAMA_FTYPE_MOSTLY_Q3_K_S,
	"Q3_K_M": C.LLAMA_FTYPE_MOSTLY_Q3_K_M,
	"Q3_K_L": C.LLAMA_FTYPE_MOSTLY_Q3_K_L,
	"Q4_K_S": C.LLAMA_FTYPE_MOSTLY_Q4_K_S,
	"Q4_K_M": C.LLAMA_FTYPE_MOSTLY_Q4_K_M,
	"Q5_K_S": C.LLAMA_FTYPE_MOSTLY_Q5_K_S,
	"Q5_K_M": C.LLAMA_FTYPE_MOSTLY_Q5_K_M,
	"Q6_K":   C.LLAMA_FTYPE_MOSTLY_Q6_K,
}

// QuantTypes lists the type names Quantize accepts, sorted.
func QuantTypes() []string {
	names := make([]string, 0, len(quantTypes))
	for n := range quantTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Quantize converts the GGUF model in to type opts.Type and writes it to
// out (through a temporary file in out's directory, renamed when complete).
//
// llama.cpp offers no way to interrupt a quantization: if ctx is cancelled
// while it runs, Quantize returns ctx.Err() at once, removes the temporary
// output and leaves llama.cpp to finish in the background (a command exits
// then; a long-lived program pays for the rest of that run's CPU time).
func Quantize(ctx context.Context, in, out string, opts QuantizeOptions) error {
	ftype, ok := quantTypes[strings.ToUpper(opts.Type)]
	if !ok {
		return fmt.Errorf("quantize %s: unknown type %q (valid: %s): %w", in, opts.Type, strings.Join(QuantTypes(), ", "), ErrBadInput)
	}
	if err := checkGGUF(in); err != nil {
		return fmt.Errorf("quantize %s: %w", in, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := fileio.CheckOutput(out, in); err != nil {
		return fmt.Errorf("quantize %s: %w", in, err)
	}
	tmp, err := fileio.TempFor(out, 0o644)
	if err != nil {
		return fmt.Errorf("quantize %s: %w", in, err)
	}
	tmpName := tmp.Name
	defer tmp.Abort() // no-op after Commit

	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	if threads > MaxThreads {
		return fmt.Errorf("quantize %s: %d threads, more than %d: %w", in, threads, MaxThreads, ErrBadInput)
	}
	params := C.llama_model_quantize_default_params()
	params.nthread = C.int32_t(threads)
	params.ftype = ftype
	cin, cout := cString(in), cString(tmpName)
	type result struct {
		rc  C.uint32_t
		msg string
	}
	done := make(chan result, 1)
	go func() {
		defer cFree(cin)
		defer cFree(cout)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		C.xg_clear_error()
		rc := C.llama_model_quantize(cin, cout, &params)
		done <- result{rc, lastError()}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		// llama.cpp cannot be stopped: leave it to finish on its own, its
		// output already unlinked (tmp.Abort).
		return ctx.Err()
	}
	if res.rc != 0 {
		msg := res.msg
		if msg == "" {
			msg = "llama.cpp failed"
		}
		return fmt.Errorf("quantize %s to %s: %s", in, opts.Type, msg)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := tmp.Commit(); err != nil {
		return fmt.Errorf("quantize %s: %w", in, err)
	}
	return nil
}
