package linalg

import "math"

// Constant tables of the AVX2 kernels (simd_amd64.s), each value repeated
// over the lanes of a 32-byte register. Row order is the kernels' offsets: do not reorder.
var (
	geluTable = lanes4(
		1/math.Sqrt2, 4, -4, 0.5, 1,
		erfP6, erfP5, erfP4, erfP3, erfP2, erfP1, erfP0,
		erfQ5, erfQ4, erfQ3, erfQ2, erfQ1,
		-1,
	)
	expTable = lanes8(
		-87.33654,                   // ln(2^-126): below it exp flushes to zero
		math.Log2E,                  // log2(e)
		0.693359375, -2.12194440e-4, // ln 2 split: hi has few bits, so n·hi is exact
		1.0/5040, 1.0/720, 1.0/120, 1.0/24, 1.0/6, 0.5, 1, // Taylor series of e^r
		0, // replaced below by the exponent bias 127 as int32 bits
	)
)

func init() {
	for j := range expTable[11] {
		expTable[11][j] = math.Float32frombits(127)
	}
}

// lanes8 broadcasts each value to a row of 8 float32 lanes.
func lanes8(vals ...float64) [][8]float32 {
	t := make([][8]float32, len(vals))
	for i, v := range vals {
		for j := range 8 {
			t[i][j] = float32(v)
		}
	}
	return t
}

// lanes4 broadcasts each value to a row of 4 float64 lanes.
func lanes4(vals ...float64) [][4]float64 {
	t := make([][4]float64, len(vals))
	for i, v := range vals {
		for j := range 4 {
			t[i][j] = v
		}
	}
	return t
}
