package llama

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// LibDirEnv names the environment variable that points at a folder of ggml
// backend plugins (what make vulkan / make cuda build into lib/).
const LibDirEnv = "XRAYGPT_LIB_DIR"

// FindBackendDirs returns the folders that hold ggml backend plugins, best
// first: the extra folders in the order given (for example the --lib-dir
// flag, then $XRAYGPT_LIB_DIR), then <exe dir>/lib and <exe dir>/../lib,
// where exe is the path of the running program (os.Executable). Folders
// without a plugin are left out, and a folder reached twice (also through a
// symbolic link) is listed once. Empty strings in extra are ignored.
//
// Load the first folder with LoadBackends: ggml registers a backend once per
// load, so loading two folders that hold the same plugin would list its
// devices twice.
func FindBackendDirs(exe string, extra ...string) []string {
	var cands []string
	for _, d := range extra {
		if d != "" {
			cands = append(cands, d)
		}
	}
	if exe != "" {
		if p, err := filepath.EvalSymlinks(exe); err == nil {
			exe = p
		}
		dir := filepath.Dir(exe)
		cands = append(cands, filepath.Join(dir, "lib"), filepath.Join(dir, "..", "lib"))
	}
	var out, seen []string
	for _, d := range cands {
		abs, err := filepath.Abs(d)
		if err != nil {
			continue
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil || slices.Contains(seen, real) {
			continue
		}
		seen = append(seen, real)
		if len(BackendPlugins(abs)) > 0 {
			out = append(out, abs)
		}
	}
	return out
}

// BackendPlugins lists the ggml backend plugins in dir (full paths, sorted):
// the files ggml's loader picks up, libggml-<name>[-<variant>].so
// (ggml-<name>.dll on Windows), other than libggml-base itself. A folder that
// cannot be read has none.
func BackendPlugins(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	prefix, ext := "libggml-", ".so"
	if runtime.GOOS == "windows" {
		prefix, ext = "ggml-", ".dll"
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || filepath.Ext(name) != ext {
			continue
		}
		if strings.TrimSuffix(strings.TrimPrefix(name, prefix), ext) == "base" {
			continue
		}
		// Like ggml, follow symbolic links and keep regular files only.
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || !st.Mode().IsRegular() {
			continue
		}
		out = append(out, filepath.Join(dir, name))
	}
	return out
}

// HasGPU reports whether devs include a GPU (discrete or integrated), that
// is whether offloading layers can help. A sensible default for
// ModelOptions.GPULayers is -1 (all) when it does and 0 otherwise.
func HasGPU(devs []Device) bool {
	for _, d := range devs {
		if d.Type == DeviceGPU || d.Type == DeviceIGPU {
			return true
		}
	}
	return false
}
