package vision

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"

	"github.com/xraygpt-go/xraygpt/linalg"
)

// Benchmarks of the real-size models with random weights, one 224x224 image,
// 2 threads. The PyTorch peer is bench/vision_torch.py. Run:
//
//	go test -run '^$' -bench 'XrayGPT|SwinTiny' -benchtime 3x ./vision/
//
// Sub-benchmarks: packed (the default: EVA's large matrices through
// linalg's AVX-512 kernel, the rest through BLAS, where the CPU has
// AVX-512), native, native-blas2 (linalg.Default: OpenBLAS when it loads)
// and gonum (pure Go; slow for EVA: use -bench 'XrayGPT/(packed|native)$').
// OPENBLAS_CORETYPE is read by OpenBLAS at load: run with it set and unset.

func BenchmarkXrayGPT(b *testing.B) { benchModel(b, XrayGPTConfig(), StageEncoder) }

func BenchmarkSwinTiny(b *testing.B) {
	cfg := MedCLIPConfig()
	benchModel(b, cfg, "")
}

func benchModel(b *testing.B, cfg Config, split string) {
	// native: OpenBLAS on one thread, the 2 threads are Go's (products split
	// by linear); native-blas2: OpenBLAS on 2 threads, Go on one; gonum:
	// pure Go on 2 goroutines.
	impls := []struct {
		name                   string
		impl                   blas.Float32
		blasThreads, goThreads int
	}{
		{"packed", linalg.Default(), 1, 2},
		{"native", linalg.Default(), 1, 2},
		{"native-blas2", linalg.Default(), 2, 1},
		{"gonum", linalg.PureGo(), 2, 2},
	}
	for _, im := range impls {
		b.Run(im.name, func(b *testing.B) {
			if im.name == "packed" && !linalg.FastLinear() {
				b.Skip("no AVX-512 kernel (linalg.FastLinear)")
			}
			if im.name != "gonum" {
				if _, err := linalg.Native(); err != nil {
					b.Skipf("no native BLAS: %v", err)
				}
			}
			linalg.SetThreads(im.impl, im.blasThreads)
			m, err := Random(cfg, 1, Options{BLAS: im.impl, Threads: im.goThreads, NoPacked: im.name != "packed"})
			if err != nil {
				b.Fatal(err)
			}
			img := make([]float32, m.InputSize())
			rs := &randSource{state: 7}
			for i := range img {
				img[i] = 2 * rs.next()
			}
			ctx := context.Background()
			if _, err := m.Encode(ctx, img); err != nil { // allocate buffers, touch weights
				b.Fatal(err)
			}
			var first time.Duration
			ru0 := rusage()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				err := m.forward(ctx, img, func(name string, _ Tensor) {
					if name == split {
						first += time.Since(start)
					}
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			ru1 := rusage()
			b.ReportMetric(float64(ru1.cpu-ru0.cpu)/1e6/float64(b.N), "cpu-ms/image")
			b.ReportMetric(float64(ru1.faults-ru0.faults)/float64(b.N), "faults/image")
			el := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(el*1e3, "ms/image")
			b.ReportMetric(flops(cfg)/el/1e9, "GFLOP/s")
			if split != "" {
				b.ReportMetric(first.Seconds()*1e3/float64(b.N), "ms/encoder")
			}
			b.ReportMetric(float64(weightBytes(cfg))/(1<<20), "weight-MiB")
			b.ReportMetric(float64(peakRSS())/(1<<20), "peakRSS-MiB")
			b.Logf("%s: %s", im.name, linalg.Name(im.impl))
		})
	}
}

// flops counts the multiply-adds (x2) of the model's matrix products.
func flops(cfg Config) float64 {
	var f float64
	mm := func(m, n, k int) { f += 2 * float64(m) * float64(n) * float64(k) }
	switch cfg.Kind {
	case KindEVAQFormer:
		e, q := cfg.EVA, cfg.QFormer
		N, D := e.Tokens(), e.Width
		mm(N-1, D, 3*e.PatchSize*e.PatchSize)
		for i := 0; i < e.Blocks; i++ {
			mm(N, 3*D, D)
			mm(2*N, N, D) // QK^T and PV over all heads
			mm(N, D, D)
			mm(N, e.MLP, D)
			mm(N, D, e.MLP)
		}
		Q, W := q.Queries, q.Width
		for i := 0; i < q.Layers; i++ {
			mm(Q, 3*W, W)
			mm(2*Q, Q, W)
			mm(Q, W, W)
			if q.HasCross(i) {
				mm(Q, W, W)
				mm(N, 2*W, q.EncoderWidth)
				mm(2*Q, N, W)
				mm(Q, W, W)
			}
			mm(Q, q.FF, W)
			mm(Q, W, q.FF)
		}
		if cfg.Projector.Out > 0 {
			mm(Q, cfg.Projector.Out, cfg.Projector.In)
		}
	case KindMedCLIPSwin:
		s := cfg.Swin
		res := s.ImageSize / s.PatchSize
		mm(res*res, s.EmbedDim, 3*s.PatchSize*s.PatchSize)
		for st, depth := range s.Depths {
			C, L := s.EmbedDim<<st, res*res
			w := min(s.WindowSize, res)
			for i := 0; i < depth; i++ {
				mm(L, 4*C, C)
				mm(2*L, w*w, C)
				mm(L, 2*s.MLPRatio*C, C)
			}
			if st < len(s.Depths)-1 {
				mm(L/4, 2*C, 4*C)
				res /= 2
			}
		}
		mm(1, s.ProjDim, s.Width())
	}
	return f
}

func weightBytes(cfg Config) int64 {
	specs, err := Tensors(cfg)
	if err != nil {
		return 0
	}
	var n int64
	for _, s := range specs {
		e := int64(4)
		for _, d := range s.Shape {
			e *= int64(d)
		}
		n += e
	}
	return n
}

type usage struct{ cpu, faults int64 }

// rusage returns the process's CPU time (ns, user+system) and page faults.
func rusage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	return usage{cpu: ru.Utime.Nano() + ru.Stime.Nano(), faults: ru.Minflt + ru.Majflt}
}

// peakRSS reads VmHWM from /proc/self/status (0 where unavailable).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
