package vision

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/gguf"
)

// TestRealSizeLoad writes a real-size random-weight XrayGPT vision GGUF
// (f16 or f32), then loads it in a child process and reports load time,
// encode time and peak RSS against the weight bytes. It needs ~8 GiB of RAM
// and disk, so it runs only when asked:
//
//	XRAYGPT_VISION_LOADTEST=f16 go test -run RealSizeLoad -v -timeout 30m ./vision/
//
// XRAYGPT_VISION_KEEPDIR=dir keeps the file there; XRAYGPT_VISION_LOADFILE=path
// runs only the loading half on an existing file.
func TestRealSizeLoad(t *testing.T) {
	dtype := os.Getenv("XRAYGPT_VISION_LOADTEST")
	if path := os.Getenv("XRAYGPT_VISION_LOADFILE"); path != "" {
		loadChild(t, path)
		return
	}
	if dtype == "" {
		t.Skip("set XRAYGPT_VISION_LOADTEST=f16 or f32")
	}
	typ := gguf.TypeF32
	if dtype == "f16" {
		typ = gguf.TypeF16
	}
	cfg := XrayGPTConfig()
	specs, err := Tensors(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter()
	for _, kv := range cfg.KVs() {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	rs := &randSource{state: 99}
	for _, s := range specs {
		data, _ := rs.tensor(s.Name, s.Shape)
		tt := typ
		if len(s.Shape) == 1 {
			tt = gguf.TypeF32
		}
		if err := w.AddFloat32(s.Name, NeOf(s.Shape), data, tt); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "vision-"+dtype+".gguf")
	if dir := os.Getenv("XRAYGPT_VISION_KEEPDIR"); dir != "" {
		path = filepath.Join(dir, "vision-"+dtype+".gguf")
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	w = nil
	fi, _ := os.Stat(path)
	t.Logf("%s: %.0f MiB on disk, %.0f MiB of float32 weights", path, float64(fi.Size())/(1<<20), float64(weightBytes(cfg))/(1<<20))
	cmd := exec.Command(os.Args[0], "-test.run", "^TestRealSizeLoad$", "-test.v")
	cmd.Env = append(os.Environ(), "XRAYGPT_VISION_LOADFILE="+path)
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
}

func loadChild(t *testing.T, path string) {
	start := time.Now()
	m, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	load := time.Since(start)
	rssLoad := peakRSS()
	img := make([]float32, m.InputSize())
	var enc []time.Duration
	for i := 0; i < 2; i++ {
		s := time.Now()
		if _, err := m.Encode(context.Background(), img); err != nil {
			t.Fatal(err)
		}
		enc = append(enc, time.Since(s))
	}
	wb := weightBytes(m.Config)
	if b, err := os.ReadFile("/proc/self/smaps_rollup"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "AnonHugePages") || strings.HasPrefix(l, "Rss") {
				t.Log(l)
			}
		}
	}
	t.Logf("load %v (peak RSS %.0f MiB), encode %v then %v; peak RSS %.0f MiB = weights %.0f MiB + %.0f MiB; %d MiB copied to the heap",
		load.Round(time.Millisecond), float64(rssLoad)/(1<<20), enc[0].Round(time.Millisecond), enc[1].Round(time.Millisecond),
		float64(peakRSS())/(1<<20), float64(wb)/(1<<20), float64(peakRSS()-wb)/(1<<20), m.WidenedBytes>>20)
}
