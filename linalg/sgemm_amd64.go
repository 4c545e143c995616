//go:build amd64 && !purego

package linalg

import "golang.org/x/sys/cpu"

// hasAVX512 reports whether the AVX-512 micro-kernel can run (the CPU has
// AVX-512F and the OS saves the zmm registers; x/sys/cpu checks both).
var hasAVX512 = cpu.X86.HasAVX512F

// sgemm14x32 computes a 14x32 tile of C (row stride ldc floats): the sum
// bias[j] + Σ_k a[k*14+r]·b[k*32+j] for k < kc (without the bias term when
// bias is nil), accumulated from zero, then added to C (load) or stored.
//
//go:noescape
func sgemm14x32(a, b, c, bias *float32, kc, ldc int, load bool)
