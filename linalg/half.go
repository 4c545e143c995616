package linalg

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// Float16To32 converts an IEEE 754 half-precision value (as its bits) to float32, exactly.
func Float16To32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: mant · 2^-24, exact in float32.
		f := float32(mant) * (1.0 / (1 << 24))
		return math.Float32frombits(sign | math.Float32bits(f))
	case 0x1f: // Inf or NaN; NaN payload kept
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32To16 converts f to IEEE 754 half precision, rounding to nearest even,
// overflowing to ±Inf and keeping NaN a (quiet) NaN.
func Float32To16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff:
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13) // quiet NaN
		}
		return sign | 0x7c00
	case exp > 127+15: // |f| >= 65536: overflow
		return sign | 0x7c00
	case exp >= 127-14: // normal half (may round up into the next binade or to Inf)
		h := uint32(exp-127+15)<<10 | mant>>13
		rest := mant & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	case exp >= 127-25: // subnormal half, or rounds up to the smallest one
		m := mant | 0x800000       // implicit bit
		shift := uint32(126 - exp) // 14..24 bits dropped to reach 2^-24 units
		h := m >> shift
		rest := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || (rest == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	return sign // underflow to ±0
}

// F16ToF32 converts half-precision values to float32: dst[i] = src[i],
// exactly (with F16C on amd64, which also quiets signalling NaNs). It panics
// if dst is shorter than src.
func F16ToF32(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	if hasF16C && len(src) >= 8 {
		n := len(src) &^ 7
		f16ToF32F16C(dst[:n], src[:n])
		dst, src = dst[n:], src[n:]
	}
	for i, h := range src {
		dst[i] = Float16To32(h)
	}
}

// F32ToF16 converts float32 values to half precision, rounding to nearest
// even. It panics if dst is shorter than src.
func F32ToF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = Float32To16(f)
	}
}

// BFloat16To32 converts a bfloat16 value (as its bits) to float32, exactly.
func BFloat16To32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBF16 converts f to bfloat16, rounding to nearest even as PyTorch
// does; NaN becomes a quiet NaN.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// BF16ToF32 converts bfloat16 values to float32. It panics if dst is shorter than src.
func BF16ToF32(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	if hasAVX2FMA && len(src) >= 8 {
		n := len(src) &^ 7
		bf16ToF32AVX2(dst[:n], src[:n])
		dst, src = dst[n:], src[n:]
	}
	for i, h := range src {
		dst[i] = math.Float32frombits(uint32(h) << 16)
	}
}

// DecodeF32 converts little-endian float32 bytes (4 per value) into dst.
// It panics unless len(src) == 4*len(dst).
func DecodeF32(dst []float32, src []byte) {
	checkDecode("DecodeF32", dst, src, 4)
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// DecodeF16 converts little-endian IEEE half-precision bytes (2 per value)
// into dst, exactly, vectorized as [F16ToF32]. It panics unless
// len(src) == 2*len(dst).
func DecodeF16(dst []float32, src []byte) {
	checkDecode("DecodeF16", dst, src, 2)
	decodeHalves(dst, src, F16ToF32, Float16To32)
}

// DecodeBF16 converts little-endian bfloat16 bytes (2 per value) into dst,
// exactly, vectorized as [BF16ToF32]. It panics unless len(src) == 2*len(dst).
func DecodeBF16(dst []float32, src []byte) {
	checkDecode("DecodeBF16", dst, src, 2)
	decodeHalves(dst, src, BF16ToF32, BFloat16To32)
}

func checkDecode(op string, dst []float32, src []byte, width int) {
	if len(src) != width*len(dst) {
		panic(fmt.Sprintf("linalg: %s: %d bytes for %d values", op, len(src), len(dst)))
	}
}

// decodeHalves converts 16-bit values with the vectorized bulk function
// when src can be viewed as []uint16 (aligned, little-endian host), else
// one by one.
func decodeHalves(dst []float32, src []byte, bulk func([]float32, []uint16), one func(uint16) float32) {
	if len(src) > 0 && uintptr(unsafe.Pointer(&src[0]))%2 == 0 && littleEndian {
		bulk(dst, unsafe.Slice((*uint16)(unsafe.Pointer(&src[0])), len(dst)))
		return
	}
	for i := range dst {
		dst[i] = one(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// littleEndian reports whether the host stores integers little-endian.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
