// Package linalg is the one seam for heavy float32 arithmetic in xraygpt-go.
//
// Matrix products go through gonum's [blas.Float32] interface, except those
// with weights packed for the package's own AVX-512 product ([Packed], below).
// A linear layer is a [Dense] (plain or packed weights, bias) applied with
// an [Exec]: the BLAS and the number of goroutines. [Default]
// returns the fastest implementation this process can use: a native BLAS
// (OpenBLAS on Linux, Accelerate on macOS) loaded at run time with purego —
// no cgo and no link-time dependency — or, when none loads, gonum's pure-Go
// implementation ([PureGo]). Callers never need to know which one they got;
// [Name] says, for logs and benchmarks.
//
// The native implementation embeds gonum's and overrides Sgemm, Sgemv, Saxpy,
// Sdot and Sscal. It checks arguments exactly as gonum does: any call that
// gonum would reject (or that is a quick return, a zero size, or a size that
// does not fit the library's 32-bit integers) is handed to gonum itself, so
// panics carry gonum's messages and edge cases behave identically.
//
// # Choosing an implementation
//
// The environment variable XRAYGPT_BLAS, read once per process, forces a choice:
//
//	XRAYGPT_BLAS=gonum         pure Go, never load a native library
//	XRAYGPT_BLAS=openblas      OpenBLAS only (libopenblas.so.0, libopenblas.so, libblas.so.3 if it is OpenBLAS)
//	XRAYGPT_BLAS=accelerate    Apple Accelerate only (macOS)
//	XRAYGPT_BLAS=/path/lib.so  this file; it must export cblas_sgemm
//	unset, empty or "auto"     the platform's native library, else pure Go
//
// When loading fails, [Default] falls back to pure Go and [NativeError] says why.
//
// # Threads
//
// OpenBLAS runs its own thread pool whose size is process-global: it starts
// at OPENBLAS_NUM_THREADS (or the number of cores) and [Library.SetThreads]
// changes it for every caller in the process. Its worker threads keep
// spinning for a while after each call, which can take CPU from Go goroutines
// that start right after it; BenchmarkSgemmThenGo measures that (no
// measurable cost here for a ViT fc1 GEMM followed by GELU on 2 goroutines).
// The thread count of pure-Go gonum follows GOMAXPROCS.
//
// OpenBLAS reads OPENBLAS_CORETYPE when it is loaded; this package never
// changes it. Without it, OpenBLAS 0.3.21 detects the CPU and may not know a
// newer one: on an Intel Xeon (family 6, model 207) it
// falls back to its SSE3 "Prescott" kernels: sgemm on ViT shapes runs at
// about 32 GFLOP/s per core there, against 77 with "Haswell" (AVX2) and
// 125-135 with "SkylakeX" (AVX-512). [Library.Core] and [Name] show the choice.
//
// # The packed product
//
// [Packed] is the package's own product for weights that are used many
// times: [Pack] rearranges a PyTorch Linear weight [out, in] once into
// panels of 32 output features with the input dimension outermost, and
// [Packed.Linear] multiplies activations by it with an AVX-512 micro-kernel
// in Go assembly (a 14x32 tile of the output in 28 registers; blocks of 256
// inputs; split over goroutines). Its speed does not depend on which BLAS
// loaded or on OPENBLAS_CORETYPE. [FastLinear] says whether this CPU runs
// the kernel; elsewhere the same code runs in plain Go (correct, slow), so
// callers pick the BLAS path there. [PackStrided], [PackTransposed] and
// [Packed.LinearStrided] serve attention heads, slices of wider activations.
//
// The package also holds float32 helpers that are not BLAS but sit on the
// same hot paths: [LayerNorm] over rows, [GELU], [ExpSum] (a softmax's
// exponentials and their sum), half-precision conversions ([F16ToF32],
// [BF16ToF32], [DecodeF16], ...) and a parallel loop ([ParallelFor]). On amd64 with AVX2 and FMA
// (and F16C) they run hand-written vector kernels (simd_amd64.s); elsewhere,
// or built with the purego tag, the same functions run in plain Go. Both
// paths are tested against the same references. The helpers run on the
// calling goroutine; split rows with ParallelFor to use more cores.
package linalg
