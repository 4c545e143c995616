//go:build amd64 && !purego

package linalg

import "golang.org/x/sys/cpu"

// hasAVX2FMA reports whether the AVX2+FMA kernels in simd_amd64.s can run.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// hasF16C reports whether the CPU converts halves (F16C, with AVX);
// x/sys/cpu does not report F16C, so CPUID is asked directly.
var hasF16C = cpu.X86.HasAVX && cpuHasF16C()

// cpuHasF16C reports CPUID's F16C bit.
func cpuHasF16C() bool

// geluAVX2 applies GELU in place to len(x)/4*4 elements of x, 4 at a time,
// evaluating erf's rational approximation in float64 with FMA.
//
//go:noescape
func geluAVX2(x []float32, c *[4]float64)

// expShiftSumAVX2 replaces len(x)/8*8 elements of x by exp(x - m), flushing
// results below 2^-126 to zero, and returns their sum. m must be finite.
//
//go:noescape
func expShiftSumAVX2(x []float32, m float32, c *[8]float32) float32

// f16ToF32F16C converts the first len(src)/8*8 halves of src into dst with
// the F16C instruction set. len(dst) must be at least len(src).
//
//go:noescape
func f16ToF32F16C(dst []float32, src []uint16)

// bf16ToF32AVX2 widens the first len(src)/8*8 bfloat16 values of src into
// dst. len(dst) must be at least len(src).
//
//go:noescape
func bf16ToF32AVX2(dst []float32, src []uint16)

// sumAVX2 returns the float64 sum of the first len(x)/8*8 elements of x.
//
//go:noescape
func sumAVX2(x []float32) float64

// sumSqDevAVX2 returns Σ(x-mean)² in float64 over the first len(x)/8*8
// elements of x.
//
//go:noescape
func sumSqDevAVX2(x []float32, mean float64) float64

// normAffineAVX2 sets y = float32((x-mean)·rstd)·w + b over the first
// len(x)/4*4 elements; y, w and b must be at least as long as x.
//
//go:noescape
func normAffineAVX2(y, x, w, b []float32, mean, rstd float64)
