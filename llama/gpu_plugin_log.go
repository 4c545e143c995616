//go:build !windows

package llama

/*
#cgo linux LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include "ggml.h"

typedef void (*xg_log_set_fn)(ggml_log_callback, void *);

// Loads the libggml-base at path (and keeps it loaded) and gives it the log
// callback of the ggml compiled into this binary. Returns 0 on success, 1 if
// the library does not load, 2 if it has no ggml_log_set.
static int xg_route_plugin_logs(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		return 1;
	}
	xg_log_set_fn set = (xg_log_set_fn)dlsym(h, "ggml_log_set");
	if (set == NULL) {
		return 2;
	}
	ggml_log_callback cb;
	void *ud;
	ggml_log_get(&cb, &ud);
	set(cb, ud);
	return 0;
}

static const char *xg_dlerror(void) {
	const char *e = dlerror();
	return e ? e : "unknown error";
}
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// routePluginLogs makes the plugins in dir log through this package's
// logger (SetLogOutput) instead of straight to stderr.
//
// The binary has ggml compiled in, but plugins link their own
// libggml-base.so, whose logger prints everything, debug lines included, to
// stderr. Called before the plugins are loaded, routePluginLogs loads that
// library first and hands it our log callback; the dynamic loader then
// reuses it for the plugins (it matches their dependency by SONAME), so even
// their first messages go where ours go. A folder without libggml-base is
// not an error: there is nothing to route.
func routePluginLogs(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("route plugin logs: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if name != "libggml-base.so" && !strings.HasPrefix(name, "libggml-base.so.") {
			continue
		}
		path := filepath.Join(dir, name)
		cpath := cString(path)
		rc := C.xg_route_plugin_logs(cpath)
		cFree(cpath)
		switch rc {
		case 1:
			return fmt.Errorf("route plugin logs: load %s: %s", path, C.GoString(C.xg_dlerror()))
		case 2:
			return fmt.Errorf("route plugin logs: %s has no ggml_log_set", path)
		}
		return nil
	}
	return nil
}
