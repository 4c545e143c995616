//go:build !amd64 || purego

package linalg

const hasAVX512 = false

func sgemm14x32(a, b, c, bias *float32, kc, ldc int, load bool) {
	panic("linalg: no AVX-512 kernel on this platform")
}
