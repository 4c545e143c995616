package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Benchmarks of the row helpers on the encoders' sizes, one goroutine:
//
//	go test -run=^$ -bench='LayerNorm|Softmax|GELU|Erf|Exp|F16' ./linalg

var sink32 float32

func reportElems(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/elem")
}

func BenchmarkLayerNorm(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const rows, cols = 257, 1408 // EVA ViT-g tokens x width
	x, w, bias := randSlice(r, rows*cols), randSlice(r, cols), randSlice(r, cols)
	y := make([]float32, len(x))
	for b.Loop() {
		LayerNorm(y, x, cols, w, bias, 1e-6)
	}
	reportElems(b, len(x))
}

func BenchmarkSoftmax(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const rows, cols = 16 * 257, 257 // EVA ViT-g: 16 heads of 257x257 scores
	x := randSlice(r, rows*cols)
	y := make([]float32, len(x))
	for b.Loop() {
		copy(y, x)
		softmaxRows(y, cols)
	}
	reportElems(b, len(x))
}

func BenchmarkGELU(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := randSlice(r, 257*6144) // EVA ViT-g MLP hidden
	y := make([]float32, len(x))
	for b.Loop() {
		copy(y, x)
		GELU(y)
	}
	reportElems(b, len(x))
}

func BenchmarkErf(b *testing.B) {
	xs := make([]float32, 4096)
	for i := range xs {
		xs[i] = float32(i)/512 - 4
	}
	b.Run("Erf32", func(b *testing.B) {
		var s float32
		for b.Loop() {
			for _, x := range xs {
				s += erf32(x)
			}
		}
		sink32 = s
		reportElems(b, len(xs))
	})
	b.Run("math.Erf", func(b *testing.B) {
		var s float32
		for b.Loop() {
			for _, x := range xs {
				s += float32(math.Erf(float64(x)))
			}
		}
		sink32 = s
		reportElems(b, len(xs))
	})
}

func BenchmarkExp(b *testing.B) {
	xs := make([]float32, 4096)
	for i := range xs {
		xs[i] = -float32(i) / 256
	}
	b.Run("Exp32", func(b *testing.B) {
		var s float32
		for b.Loop() {
			for _, x := range xs {
				s += Exp32(x)
			}
		}
		sink32 = s
		reportElems(b, len(xs))
	})
	b.Run("math.Exp", func(b *testing.B) {
		var s float32
		for b.Loop() {
			for _, x := range xs {
				s += float32(math.Exp(float64(x)))
			}
		}
		sink32 = s
		reportElems(b, len(xs))
	})
}

func BenchmarkF16ToF32(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	src := make([]uint16, 1408*4224) // one EVA qkv weight
	for i := range src {
		src[i] = Float32To16(float32(r.NormFloat64() * 0.02))
	}
	dst := make([]float32, len(src))
	b.SetBytes(int64(len(src) * 2))
	for b.Loop() {
		F16ToF32(dst, src)
	}
	reportElems(b, len(src))
}
