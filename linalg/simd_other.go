//go:build !amd64 || purego

package linalg

// hasAVX2FMA is false: there are no vector kernels for this architecture.
const hasAVX2FMA = false

// hasF16C is false: there are no vector kernels for this architecture.
const hasF16C = false

func geluAVX2(x []float32, c *[4]float64) { panic("linalg: no AVX2 kernels") }

func expShiftSumAVX2(x []float32, m float32, c *[8]float32) float32 {
	panic("linalg: no AVX2 kernels")
}

func f16ToF32F16C(dst []float32, src []uint16) { panic("linalg: no F16C kernels") }

func bf16ToF32AVX2(dst []float32, src []uint16) { panic("linalg: no AVX2 kernels") }

func sumAVX2(x []float32) float64 { panic("linalg: no AVX2 kernels") }

func sumSqDevAVX2(x []float32, mean float64) float64 { panic("linalg: no AVX2 kernels") }

func normAffineAVX2(y, x, w, b []float32, mean, rstd float64) { panic("linalg: no AVX2 kernels") }
