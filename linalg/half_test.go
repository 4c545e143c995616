package linalg

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// TestFloat16To32Exhaustive checks every half-precision bit pattern against
// sign · mantissa · 2^exponent computed with math.Ldexp.
func TestFloat16To32Exhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		sign := 1.0
		if h&0x8000 != 0 {
			sign = -1
		}
		e, m := (h>>10)&0x1f, h&0x3ff
		var want float64
		switch e {
		case 0:
			want = sign * math.Ldexp(float64(m), -24)
		case 31:
			want = math.Inf(int(sign))
			if m != 0 {
				want = math.NaN()
			}
		default:
			want = sign * math.Ldexp(float64(m+1024), e-25)
		}
		got := Float16To32(uint16(h))
		if math.IsNaN(want) {
			if got == got {
				t.Fatalf("%#04x: got %g, want NaN", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != (sign < 0) {
			t.Fatalf("%#04x: got %g, want %g", h, got, want)
		}
	}
	dst := make([]float32, 3)
	F16ToF32(dst, []uint16{0x3c00, 0xc000, 0x7bff})
	if dst[0] != 1 || dst[1] != -2 || dst[2] != 65504 {
		t.Errorf("F16ToF32 = %v", dst)
	}
	// The slice conversion (vector kernel plus scalar tail) on every pattern.
	t.Logf("F16C kernel: %v", hasF16C)
	all := make([]uint16, 1<<16+5) // not a multiple of 8: exercises the tail
	for i := range all {
		all[i] = uint16(i * 40503) // a permutation of all 16-bit patterns, then 5 more
	}
	got := make([]float32, len(all))
	F16ToF32(got, all)
	for i, h := range all {
		want := Float16To32(h)
		if math.Float32bits(got[i]) != math.Float32bits(want) && !(got[i] != got[i] && want != want) {
			t.Fatalf("F16ToF32(%#04x) = %#08x, want %#08x", h, math.Float32bits(got[i]), math.Float32bits(want))
		}
	}
}

// halfValues lists the non-negative finite halves in increasing order, then
// +Inf standing for 65536 (where rounding to nearest goes past the largest half).
func halfValues() (bits []uint16, vals []float64) {
	for h := uint16(0); h <= 0x7c00; h++ {
		bits = append(bits, h)
		v := float64(Float16To32(h))
		if h == 0x7c00 {
			v = 65536
		}
		vals = append(vals, v)
	}
	return bits, vals
}

// nearestHalf rounds |f| to the nearest half by searching the sorted list,
// ties to the even bit pattern.
func nearestHalf(f float32, bits []uint16, vals []float64) uint16 {
	a := math.Abs(float64(f))
	sign := uint16(0)
	if math.Signbit(float64(f)) {
		sign = 0x8000
	}
	i := sort.SearchFloat64s(vals, a) // vals[i-1] < a <= vals[i]
	if i == len(vals) {
		return sign | 0x7c00
	}
	if vals[i] == a || i == 0 {
		return sign | bits[i]
	}
	lo, hi := a-vals[i-1], vals[i]-a
	if lo < hi || (lo == hi && bits[i-1]&1 == 0) {
		return sign | bits[i-1]
	}
	return sign | bits[i]
}

// TestFloat32To16 checks rounding to nearest even against a search over all
// halves, on random float32 bit patterns, on every half and on every midpoint
// between neighbouring halves; NaN stays NaN.
func TestFloat32To16(t *testing.T) {
	bits, vals := halfValues()
	r := rand.New(rand.NewPCG(14, 15))
	check := func(f float32) {
		if f != f {
			if h := Float32To16(f); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
				t.Fatalf("Float32To16(NaN %#08x) = %#04x, not NaN", math.Float32bits(f), h)
			}
			return
		}
		if got, want := Float32To16(f), nearestHalf(f, bits, vals); got != want {
			t.Fatalf("Float32To16(%g = %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
	for range 300000 {
		check(math.Float32frombits(r.Uint32()))
		check(float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(50)-30))))
	}
	for i := range vals[:len(vals)-1] {
		check(float32(vals[i]))
		check(-float32(vals[i]))
		mid := float32((vals[i] + vals[i+1]) / 2) // exact in float32
		check(mid)
		check(math.Nextafter32(mid, 0))
		check(math.Nextafter32(mid, 1e9))
	}
	check(float32(math.Inf(1)))
	check(float32(math.Inf(-1)))
	check(float32(math.NaN()))
	dst := make([]uint16, 2)
	F32ToF16(dst, []float32{1, -65520})
	if dst[0] != 0x3c00 || dst[1] != 0xfc00 {
		t.Errorf("F32ToF16 = %#04x", dst)
	}
}

// TestBFloat16 checks bfloat16 both ways: widening is exact and narrowing
// rounds to the nearer of the two neighbours, ties to even.
func TestBFloat16(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 17))
	for range 500000 {
		b := r.Uint32()
		f := math.Float32frombits(b)
		got := Float32ToBF16(f)
		if f != f {
			if w := BFloat16To32(got); w == w {
				t.Fatalf("NaN %#08x -> %#04x, not NaN", b, got)
			}
			continue
		}
		lo := b & 0xffff0000
		hi := lo + 0x10000
		dl := math.Abs(float64(f) - float64(math.Float32frombits(lo)))
		var want uint16
		if math.Float32frombits(lo)*0 != 0 { // lo is Inf
			want = uint16(lo >> 16)
		} else {
			hv := float64(math.Float32frombits(hi))
			if math.IsInf(hv, 0) {
				hv = math.Copysign(math.Ldexp(1, 128), hv) // overflow threshold
			}
			dh := math.Abs(hv - float64(f))
			want = uint16(hi >> 16)
			if dl < dh || (dl == dh && (lo>>16)&1 == 0) {
				want = uint16(lo >> 16)
			}
		}
		if got != want {
			t.Fatalf("Float32ToBF16(%g = %#08x) = %#04x, want %#04x", f, b, got, want)
		}
		if w := BFloat16To32(got); math.Float32bits(w) != uint32(got)<<16 {
			t.Fatalf("BFloat16To32(%#04x) = %#08x", got, math.Float32bits(w))
		}
	}
	src := make([]uint16, 1<<16+3)
	for i := range src {
		src[i] = uint16(i)
	}
	dst := make([]float32, len(src))
	BF16ToF32(dst, src)
	for i, h := range src {
		if math.Float32bits(dst[i]) != uint32(h)<<16 {
			t.Fatalf("BF16ToF32(%#04x) = %#08x", h, math.Float32bits(dst[i]))
		}
	}
}

// TestDecode checks the byte decoders against the one-value conversions, on
// aligned and unaligned bytes (the vectorized and the scalar paths), and
// that a length mismatch panics.
func TestDecode(t *testing.T) {
	const n = 37
	buf := make([]byte, 4*n+1)
	for i := range buf {
		buf[i] = byte(i*77 + 3)
	}
	for _, off := range []int{0, 1} {
		src := buf[off : off+2*n]
		got := make([]float32, n)
		DecodeF16(got, src)
		for i := range got {
			want := Float16To32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
			if math.Float32bits(got[i]) != math.Float32bits(want) && !(got[i] != got[i] && want != want) {
				t.Fatalf("offset %d: DecodeF16[%d] = %g, want %g", off, i, got[i], want)
			}
		}
		DecodeBF16(got, src)
		for i := range got {
			want := BFloat16To32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
			if math.Float32bits(got[i]) != math.Float32bits(want) {
				t.Fatalf("offset %d: DecodeBF16[%d] = %g, want %g", off, i, got[i], want)
			}
		}
		src = buf[off : off+4*n]
		DecodeF32(got, src)
		for i := range got {
			if want := uint32(src[4*i]) | uint32(src[4*i+1])<<8 | uint32(src[4*i+2])<<16 | uint32(src[4*i+3])<<24; math.Float32bits(got[i]) != want {
				t.Fatalf("offset %d: DecodeF32[%d] has bits %#x, want %#x", off, i, math.Float32bits(got[i]), want)
			}
		}
	}
	if msg := panicMessage(func() { DecodeF16(make([]float32, 2), make([]byte, 3)) }); !strings.HasPrefix(msg, "linalg: DecodeF16:") {
		t.Errorf("length mismatch: panic %q", msg)
	}
}
