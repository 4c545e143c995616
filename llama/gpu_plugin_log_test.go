//go:build !windows

package llama

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// pluginLine matches log lines of ggml's Vulkan and CUDA plugins.
var pluginLine = regexp.MustCompile(`(?m)^ggml_(vulkan|cuda|backend_vk|backend_cuda)`)

const pluginLogChildEnv = "XRAYGPT_TEST_PLUGIN_LOG_CHILD"

// TestRoutePluginLogs checks that after routePluginLogs the plugins' log
// lines reach SetLogOutput's writer instead of stderr. It needs a plugin
// (make vulkan or make cuda, or XRAYGPT_LIB_DIR) and runs the loading in a
// child process, since loading plugins changes the whole process.
func TestRoutePluginLogs(t *testing.T) {
	dir := os.Getenv(LibDirEnv)
	if dir == "" {
		dir = filepath.Join("..", "lib")
	}
	if len(BackendPlugins(dir)) == 0 {
		t.Skipf("no ggml backend plugin in %s: run make vulkan (or make cuda), or set %s", dir, LibDirEnv)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(t.TempDir(), "routed.log")
	cmd := exec.Command(os.Args[0], "-test.run=^TestRoutePluginLogsChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), pluginLogChildEnv+"="+abs+string(os.PathListSeparator)+logFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	routed, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if pluginLine.Match(out) {
		t.Errorf("plugin log lines reached stderr:\n%s", out)
	}
	if !pluginLine.Match(routed) {
		t.Errorf("no plugin log line reached SetLogOutput's writer; it got:\n%s\nchild output:\n%s", routed, out)
	}
}

func TestRoutePluginLogsChild(t *testing.T) {
	env := os.Getenv(pluginLogChildEnv)
	if env == "" {
		t.Skip("runs as a child process of TestRoutePluginLogs")
	}
	dir, logFile := filepath.SplitList(env)[0], filepath.SplitList(env)[1]
	var buf bytes.Buffer
	SetLogOutput(&buf, LogDebug)
	if err := routePluginLogs(dir); err != nil {
		t.Fatal(err)
	}
	if err := LoadBackends(dir); err != nil {
		t.Fatal(err)
	}
	Devices()
	SetLogOutput(nil, 0)
	if err := os.WriteFile(logFile, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
