package linalg

import (
	"math"

	"gonum.org/v1/gonum/blas"
)

// Size thresholds below which the level 1 and 2 overrides stay in Go: under
// them the cost of a purego call (about a microsecond) outweighs what the
// native kernel saves. Sgemm always goes native.
const (
	minNativeLevel1 = 1 << 16 // vector length
	minNativeGemv   = 1 << 16 // m*n, for OpenBLAS's AVX2 and newer kernels
)

// The predicates below decide whether a call may go to native code. They
// accept only calls that gonum would accept and that do real work; anything
// else is handed to gonum, which then panics with its own message or handles
// the edge case (zero sizes, alpha == 0, k == 0) itself.

// validTrans reports whether t is a transpose value BLAS accepts.
func validTrans(t blas.Transpose) bool {
	return t == blas.NoTrans || t == blas.Trans || t == blas.ConjTrans
}

// vecOK reports whether a vector of n > 0 elements with increment inc fits in
// a slice of length l.
func vecOK(n, l, inc int) bool {
	if n <= 0 || inc == 0 {
		return false
	}
	if inc < 0 {
		inc = -inc
	}
	return (n-1)*inc < l
}

// sgemmNative reports whether an Sgemm call with these arguments is valid,
// non-trivial and fits 32-bit CBLAS integers.
func sgemmNative(tA, tB blas.Transpose, m, n, k int, alpha float32, la, lda, lb, ldb, lc, ldc int) bool {
	if !validTrans(tA) || !validTrans(tB) || m <= 0 || n <= 0 || k <= 0 || alpha == 0 {
		return false
	}
	aTrans := tA != blas.NoTrans
	bTrans := tB != blas.NoTrans
	// Rows and columns of A and B as stored (row-major).
	aRows, aCols := m, k
	if aTrans {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if bTrans {
		bRows, bCols = n, k
	}
	if lda < aCols || ldb < bCols || ldc < n {
		return false
	}
	if la < (aRows-1)*lda+aCols || lb < (bRows-1)*ldb+bCols || lc < (m-1)*ldc+n {
		return false
	}
	return fits(m, n, k, lda, ldb, ldc)
}

// sgemvNative reports whether an Sgemv call with these arguments is valid,
// has at least minSize elements in A, and fits 32-bit CBLAS integers.
func sgemvNative(tA blas.Transpose, m, n int, alpha float32, la, lda, lx, incX, ly, incY, minSize int) bool {
	if !validTrans(tA) || m <= 0 || n <= 0 || alpha == 0 || m*n < minSize || lda < n {
		return false
	}
	lenX, lenY := n, m
	if tA != blas.NoTrans {
		lenX, lenY = m, n
	}
	if !vecOK(lenX, lx, incX) || !vecOK(lenY, ly, incY) || la < lda*(m-1)+n {
		return false
	}
	return fits(m, n, lda, incX, incY)
}

// fits reports whether every value fits a 32-bit CBLAS integer.
func fits(v ...int) bool {
	for _, x := range v {
		if x > math.MaxInt32 || x < math.MinInt32 {
			return false
		}
	}
	return true
}
