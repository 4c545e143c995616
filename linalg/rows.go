package linalg

import (
	"fmt"
	"math"
)

// checkRows panics unless x holds whole rows of cols elements.
func checkRows(op string, x []float32, cols int) int {
	if cols <= 0 || len(x)%cols != 0 {
		panic(fmt.Sprintf("linalg: %s: length %d is not a whole number of rows of %d", op, len(x), cols))
	}
	return len(x) / cols
}

// LayerNorm normalizes each row of src (rows of cols elements, row-major) to
// zero mean and unit variance and applies weight and bias, as PyTorch's
// nn.LayerNorm over the last dimension:
//
//	dst[i,j] = (src[i,j] - mean_i) / sqrt(var_i + eps) * weight[j] + bias[j]
//
// with the biased variance. weight and bias may be nil (no affine part). dst
// may be src. Sums are taken in float64. It panics when the lengths disagree.
func LayerNorm(dst, src []float32, cols int, weight, bias []float32, eps float32) {
	rows := checkRows("LayerNorm", src, cols)
	if len(dst) != len(src) || (weight != nil && len(weight) != cols) || (bias != nil && len(bias) != cols) {
		panic(fmt.Sprintf("linalg: LayerNorm: dst %d, src %d, weight %d, bias %d for rows of %d", len(dst), len(src), len(weight), len(bias), cols))
	}
	for i := range rows {
		layerNormRow(dst[i*cols:(i+1)*cols], src[i*cols:(i+1)*cols], weight, bias, eps, hasAVX2FMA)
	}
}

// layerNormRow is LayerNorm of one row, with the AVX2 kernels when simd is
// set and the row has both weight and bias.
func layerNormRow(y, x, weight, bias []float32, eps float32, simd bool) {
	simd = simd && len(x) >= 8 && weight != nil && bias != nil
	var sum float64
	tail := x
	if simd {
		sum = sumAVX2(x)
		tail = x[len(x)&^7:]
	}
	for _, v := range tail {
		sum += float64(v)
	}
	mean := sum / float64(len(x))
	var ss float64
	if simd {
		ss = sumSqDevAVX2(x, mean)
	}
	for _, v := range tail {
		d := float64(v) - mean
		ss += d * d
	}
	rstd := 1 / math.Sqrt(ss/float64(len(x))+float64(eps))
	if simd {
		n := len(x) &^ 3
		normAffineAVX2(y, x, weight, bias, mean, rstd)
		x, y, weight, bias = x[n:], y[n:], weight[n:], bias[n:]
	}
	// Centre and scale in float64: a row far from zero mean keeps its
	// precision (PyTorch loses up to ulp(mean)/std here).
	for j, v := range x {
		y[j] = float32((float64(v) - mean) * rstd)
	}
	switch {
	case weight != nil && bias != nil:
		w, b := weight[:len(y)], bias[:len(y)]
		for j, v := range y {
			y[j] = v*w[j] + b[j]
		}
	case weight != nil:
		w := weight[:len(y)]
		for j, v := range y {
			y[j] = v * w[j]
		}
	case bias != nil:
		b := bias[:len(y)]
		for j, v := range y {
			y[j] = v + b[j]
		}
	}
}

// ExpSum replaces each element v of x by exp(v - m) and returns their sum:
// the unnormalized softmax of a row whose maximum is m (the caller divides
// by the sum later, where it is cheaper). Results below 2^-126 are zero.
func ExpSum(x []float32, m float32) float64 { return expSum(x, m, hasAVX2FMA) }

func expSum(r []float32, mx float32, simd bool) float64 {
	var sum float64
	rest := r
	if simd && len(r) >= 8 && !math.IsInf(float64(mx), 0) && mx == mx {
		n := len(r) &^ 7
		sum = float64(expShiftSumAVX2(r[:n], mx, &expTable[0]))
		rest = r[n:]
	}
	for j, v := range rest {
		e := Exp32(v - mx)
		rest[j] = e
		sum += float64(e)
	}
	return sum
}

// GELU applies the exact Gaussian error linear unit in place,
// x * (1 + erf(x/√2)) / 2, as PyTorch's nn.GELU() (approximate="none").
// erf is a rational approximation evaluated in float64 (4 lanes at a time
// with AVX2 and FMA on amd64), within 2e-8 of the exact value.
func GELU(x []float32) {
	if hasAVX2FMA && len(x) >= 4 {
		n := len(x) &^ 3
		geluAVX2(x[:n], &geluTable[0])
		x = x[n:]
	}
	geluGeneric(x)
}

// geluGeneric is GELU in pure Go.
func geluGeneric(x []float32) {
	for i, v := range x {
		x[i] = gelu(v)
	}
}

func gelu(v float32) float32 {
	return float32(0.5 * float64(v) * (1 + erf64(float64(v)*(1/math.Sqrt2))))
}

// Coefficients of a rational approximation erf(x) ≈ x·P(x²)/Q(x²) on
// [-4, 4] (|error| < 1.4e-8; outside, erf is 1 to float32 precision), fitted
// by linalg/testdata/fit_erf.py.
const (
	erfP0 = 1.128379182113846
	erfP1 = 0.18471034090828664
	erfP2 = 0.054332599862948874
	erfP3 = 0.0038395292126233442
	erfP4 = 0.00038269242879945256
	erfP5 = 4.7805452549169736e-06
	erfP6 = -1.3666813236667963e-08
	erfQ1 = 0.49702882304128854
	erfQ2 = 0.11382630902149317
	erfQ3 = 0.015453516970108843
	erfQ4 = 0.0013095792995572557
	erfQ5 = 6.400932315066016e-05
)

// erf64 is erf to float32 accuracy; NaN stays NaN. Beyond ±4 it is exactly
// ±1 (erf(4) = 1 - 1.5e-8), so GELU's tail is exactly 0 as in PyTorch.
func erf64(x float64) float64 {
	if x >= 4 {
		return 1
	}
	if x <= -4 {
		return -1
	}
	x2 := x * x
	p := (((((erfP6*x2+erfP5)*x2+erfP4)*x2+erfP3)*x2+erfP2)*x2+erfP1)*x2 + erfP0
	q := ((((erfQ5*x2+erfQ4)*x2+erfQ3)*x2+erfQ2)*x2+erfQ1)*x2 + 1
	return x * p / q
}

// Exp32 returns e**x to float32 accuracy (within 1 ulp), faster than
// math.Exp: float64 range reduction and a degree-7 polynomial.
func Exp32(x float32) float32 {
	switch {
	case x > 88.8: // beyond MaxFloat32 (and +Inf)
		return float32(math.Inf(1))
	case x < -104: // below the smallest subnormal (and -Inf)
		return 0
	case x != x: // NaN
		return x
	}
	const (
		log2e = 1.4426950408889634
		ln2   = 0.6931471805599453
		round = 6755399441055744.0 // 1.5·2^52: adding it rounds to an integer
	)
	t := float64(x)*log2e + round
	n := t - round
	r := float64(x) - n*ln2 // |r| <= ln2/2
	// Taylor series to r^7: relative error below 6e-9 on |r| <= ln2/2.
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return float32(p * math.Float64frombits(uint64(int64(n)+1023)<<52))
}
