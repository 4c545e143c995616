package llama_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/xraygpt-go/xraygpt/gguf"
	"github.com/xraygpt-go/xraygpt/llama"
	"github.com/xraygpt-go/xraygpt/llama/llamatest"
)

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindBackendDirs(t *testing.T) {
	root := t.TempDir()
	// A dist layout: bin/xraygpt with its plugins in lib/.
	exe := filepath.Join(root, "dist", "bin", "xraygpt")
	touch(t, exe)
	lib := filepath.Join(root, "dist", "lib")
	touch(t, filepath.Join(lib, "libggml-base.so.0"))
	touch(t, filepath.Join(lib, "libggml-vulkan.so"))
	// A folder given with --lib-dir, one with libggml-base only, an empty one.
	flagDir := filepath.Join(root, "cuda")
	touch(t, filepath.Join(flagDir, "libggml-cuda.so"))
	touch(t, filepath.Join(flagDir, "libggml-base.so"))
	baseOnly := filepath.Join(root, "baseonly")
	touch(t, filepath.Join(baseOnly, "libggml-base.so"))
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	// A link to lib/ must not list it twice; a linked executable is
	// resolved to where it lives.
	libLink := filepath.Join(root, "liblink")
	exeLink := filepath.Join(root, "xraygpt")
	if err := os.Symlink(lib, libLink); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if err := os.Symlink(exe, exeLink); err != nil {
		t.Fatal(err)
	}

	got := llama.FindBackendDirs(exeLink, "", flagDir, filepath.Join(root, "missing"), baseOnly, empty, libLink)
	want := []string{flagDir, libLink}
	if !slices.Equal(got, want) {
		t.Errorf("FindBackendDirs = %q, want %q", got, want)
	}

	// Next to the binary: <exe dir>/lib wins over <exe dir>/../lib.
	touch(t, filepath.Join(root, "dist", "bin", "lib", "libggml-cpu-haswell.so"))
	got = llama.FindBackendDirs(exe)
	want = []string{filepath.Join(root, "dist", "bin", "lib"), lib}
	if !slices.Equal(got, want) {
		t.Errorf("FindBackendDirs(exe) = %q, want %q", got, want)
	}
	if got := llama.FindBackendDirs(""); len(got) != 0 {
		t.Errorf("FindBackendDirs(\"\") = %q, want none", got)
	}

	plugins := llama.BackendPlugins(lib)
	if want := []string{filepath.Join(lib, "libggml-vulkan.so")}; !slices.Equal(plugins, want) {
		t.Errorf("BackendPlugins = %q, want %q", plugins, want)
	}
}

func TestHasGPU(t *testing.T) {
	cpu := llama.Device{Name: "CPU", Type: llama.DeviceCPU}
	blas := llama.Device{Name: "BLAS", Type: llama.DeviceAccel}
	for _, tc := range []struct {
		devs []llama.Device
		want bool
	}{
		{nil, false},
		{[]llama.Device{cpu, blas}, false},
		{[]llama.Device{cpu, {Name: "Vulkan0", Type: llama.DeviceGPU}}, true},
		{[]llama.Device{{Name: "Metal", Type: llama.DeviceIGPU}, cpu}, true},
	} {
		if got := llama.HasGPU(tc.devs); got != tc.want {
			t.Errorf("HasGPU(%v) = %v, want %v", tc.devs, got, tc.want)
		}
	}
}

// gpuPluginDir is where TestGPUMatchesCPU looks for backend plugins:
// $XRAYGPT_LIB_DIR, else the repository's lib/ (what make vulkan and make
// cuda fill).
func gpuPluginDir() string {
	if d := os.Getenv(llama.LibDirEnv); d != "" {
		return d
	}
	return filepath.Join("..", "lib")
}

// gpuRequireEnv, when set (CI sets XRAYGPT_TEST_REQUIRE_GPU=1 after make
// vulkan), makes TestGPUMatchesCPU fail where it would skip.
const gpuRequireEnv = "XRAYGPT_TEST_REQUIRE_GPU"

// gpuChildEnv carries the plugin folder to the child process that runs
// TestGPUChild.
const gpuChildEnv = "XRAYGPT_TEST_GPU_CHILD"

// TestGPUMatchesCPU checks a GPU backend plugin against the CPU build: with
// all layers offloaded (GPULayers -1), greedy decoding of F32 and F16 test
// models gives the same tokens as the CPU, the logits agree within the
// tolerances of gpuTolerance, and soft tokens (rows of token_embd fed as
// embeddings) give the same logits as their token ids on the GPU too.
//
// It needs a plugin: make vulkan (or make cuda) first, or point
// XRAYGPT_LIB_DIR at a folder of plugins; without one it skips (fails with
// XRAYGPT_TEST_REQUIRE_GPU=1). On machines
// without a GPU, Mesa's lavapipe (Debian: mesa-vulkan-drivers) is a Vulkan
// device that runs on the CPU; ggml hides such devices unless
// GGML_VK_VISIBLE_DEVICES=0 is set:
//
//	make vulkan
//	GGML_VK_VISIBLE_DEVICES=0 go test -run GPU -v ./llama/
//
// Loading plugins changes the whole process (ggml's backend registry), so
// the work runs in a child process (TestGPUChild) and the other tests of this
// package keep running on the CPU alone.
func TestGPUMatchesCPU(t *testing.T) {
	dir := gpuPluginDir()
	plugins := llama.BackendPlugins(dir)
	skip := t.Skipf
	if os.Getenv(gpuRequireEnv) != "" {
		skip = t.Fatalf // CI: a skipped GPU test is a failure
	}
	if len(plugins) == 0 {
		skip("no ggml backend plugin in %s: run make vulkan (or make cuda), or set %s", dir, llama.LibDirEnv)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-test.run=^TestGPUChild$", "-test.v", "-test.count=1"}
	if deadline, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(deadline).Round(time.Second).String())
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), gpuChildEnv+"="+abs)
	out, err := cmd.CombinedOutput()
	t.Logf("plugins: %q\nchild output:\n%s", plugins, out)
	switch {
	case err != nil:
		t.Fatalf("child test failed: %v", err)
	case bytes.Contains(out, []byte("--- SKIP: TestGPUChild")):
		skip("child test skipped (see its output above)")
	case !bytes.Contains(out, []byte("--- PASS: TestGPUChild")):
		t.Fatal("child test did not report PASS")
	}
}

// gpuTolerance bounds max|gpu-cpu| / max|cpu| over the logits of a run. GPU
// kernels sum in other orders than the CPU's and may round intermediate
// results to F16 (ggml's Vulkan kernels do on devices with F16 support, as
// lavapipe has), so they agree with the CPU only approximately. Measured on
// lavapipe: 6.3e-4 (F32 weights) and 3.8e-3 (F16); a broken kernel is off
// by order 1. Soft tokens against token ids on the same device take the same
// kernels and agree exactly there (0).
func gpuTolerance(typ gguf.Type) (vsCPU, soft float64) {
	if typ == gguf.TypeF16 {
		return 2e-2, 1e-4
	}
	return 5e-3, 1e-4
}

// gpuRun holds what one model computes on one device.
type gpuRun struct {
	promptLogits [][]float32   // token ids of the prompt, every position
	softLogits   [][]float32   // the same rows fed as soft tokens
	greedy       []llama.Token // greedy continuation of the prompt
	stepLogits   [][]float32   // logits that chose each greedy token
}

// TestGPUChild is the part of TestGPUMatchesCPU that runs in a child
// process; run on its own it skips.
func TestGPUChild(t *testing.T) {
	dir := os.Getenv(gpuChildEnv)
	if dir == "" {
		t.Skip("runs as a child process of TestGPUMatchesCPU")
	}
	types := []gguf.Type{gguf.TypeF32, gguf.TypeF16}
	paths := map[gguf.Type]string{}
	cpu := map[gguf.Type]gpuRun{}
	for _, typ := range types {
		// Wider than the default test model so the GPU's tiled matrix
		// kernels run with more than one tile.
		opts := llamatest.Options{NEmbd: 128, NLayer: 2, NHead: 4, NHeadKV: 2, Type: typ, Seed: 7}
		path := filepath.Join(t.TempDir(), fmt.Sprintf("gpu-%v.gguf", typ))
		if err := llamatest.Write(path, opts); err != nil {
			t.Fatal(err)
		}
		paths[typ] = path
		// The CPU reference comes first, before any plugin is loaded, so no
		// GPU can take part in it.
		cpu[typ] = gpuDecode(t, path, 0, nil)
	}

	if err := llama.LoadBackends(dir); err != nil {
		t.Fatal(err)
	}
	devs := llama.Devices()
	t.Logf("devices: %+v", devs)
	if !llama.HasGPU(devs) {
		msg := fmt.Sprintf("plugins in %s found no GPU device", dir)
		if os.Getenv("GGML_VK_VISIBLE_DEVICES") == "" {
			msg += " (for Mesa's lavapipe, a CPU Vulkan device, set GGML_VK_VISIBLE_DEVICES=0)"
		}
		t.Skip(msg)
	}

	for _, typ := range types {
		t.Run(typ.String(), func(t *testing.T) {
			var log bytes.Buffer
			gpu := gpuDecode(t, paths[typ], -1, &log)
			want := cpu[typ]
			// Guard against a run that silently stayed on the CPU.
			if m := regexp.MustCompile(`offloaded (\d+)/(\d+) layers to GPU`).FindStringSubmatch(log.String()); m == nil || m[1] != m[2] || m[1] == "0" {
				t.Fatalf("model not fully offloaded; llama.cpp log:\n%s", log.String())
			}
			vsCPU, soft := gpuTolerance(typ)
			if d := relDiff(want.promptLogits, gpu.promptLogits); d > vsCPU || math.IsNaN(d) {
				t.Errorf("prompt logits, GPU vs CPU: relative difference %.3g > %g", d, vsCPU)
			} else {
				t.Logf("prompt logits, GPU vs CPU: relative difference %.3g (tolerance %g)", d, vsCPU)
			}
			if d := relDiff(gpu.promptLogits, gpu.softLogits); d > soft || math.IsNaN(d) {
				t.Errorf("GPU soft tokens vs token ids: relative difference %.3g > %g", d, soft)
			} else {
				t.Logf("GPU soft tokens vs token ids: relative difference %.3g (tolerance %g)", d, soft)
			}
			if d := relDiff(want.stepLogits, gpu.stepLogits); d > vsCPU || math.IsNaN(d) {
				t.Errorf("greedy step logits, GPU vs CPU: relative difference %.3g > %g", d, vsCPU)
			}
			if !slices.Equal(want.greedy, gpu.greedy) {
				t.Errorf("greedy tokens differ:\n cpu %v\n gpu %v", want.greedy, gpu.greedy)
			} else {
				t.Logf("greedy tokens equal: %v", gpu.greedy)
			}
		})
	}
}

const gpuPrompt = "Describe the given chest x-ray image in detail. ### Doctor:"

// gpuDecode loads the model at path with gpuLayers offloaded and computes a
// gpuRun; log, if set, receives llama.cpp's log lines of the load.
func gpuDecode(t *testing.T, path string, gpuLayers int, log *bytes.Buffer) gpuRun {
	t.Helper()
	if log != nil {
		llama.SetLogOutput(log, llama.LogInfo)
		defer llama.SetLogOutput(nil, 0)
	}
	m, err := llama.LoadModel(path, llama.ModelOptions{GPULayers: gpuLayers})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if log != nil {
		llama.SetLogOutput(nil, 0)
	}
	ctx := context.Background()
	toks, err := m.Tokenize(gpuPrompt, true, false)
	if err != nil {
		t.Fatal(err)
	}
	var run gpuRun

	c, err := llama.NewContext(m, llama.ContextOptions{NCtx: 256, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Decode(ctx, llama.Input{Tokens: toks, Logits: true}); err != nil {
		t.Fatal(err)
	}
	run.promptLogits = logitsAt(t, c, 0, len(toks))
	next := argmax(run.promptLogits[len(toks)-1])
	for i := 0; i < 16; i++ {
		run.greedy = append(run.greedy, next)
		if err := c.Decode(ctx, llama.TokenInput([]llama.Token{next})); err != nil {
			t.Fatal(err)
		}
		l := logitsAt(t, c, c.Pos(0)-1, c.Pos(0))
		run.stepLogits = append(run.stepLogits, l[0])
		next = argmax(l[0])
	}

	rows, _ := embeddingRows(t, path, toks)
	s, err := llama.NewContext(m, llama.ContextOptions{NCtx: 256, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Decode(ctx, llama.Input{Embeddings: rows, Width: m.NEmbd(), Logits: true}); err != nil {
		t.Fatal(err)
	}
	run.softLogits = logitsAt(t, s, 0, len(toks))
	return run
}
