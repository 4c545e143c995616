//go:build linux

package main

import (
	"bytes"
	"os"
	"strings"
	"syscall"
)

// hugePagesTunable asks glibc's malloc to advise transparent huge pages for
// the large blocks it maps (glibc 2.35+; others ignore it).
const hugePagesTunable = "glibc.malloc.hugetlb=1"

// reexecWithHugePages restarts the program once with hugePagesTunable added
// to GLIBC_TUNABLES, which glibc reads only at process start, when the
// kernel gives huge pages on request only (transparent_hugepage "madvise",
// the usual default). llama.cpp holds the language model's CPU weights in
// malloc'd buffers (all of them once ggml repacks Q4_K): in 4 KiB pages a
// 7B model costs about 900,000 page faults to load, 20-25 s on the VMs
// measured (25-40 µs a fault), against about 1,800 in 2 MiB pages. It
// returns when there is nothing to do or exec fails; XRAYGPT_NO_REEXEC=1
// turns it off.
func reexecWithHugePages() {
	if os.Getenv("XRAYGPT_NO_REEXEC") != "" {
		return
	}
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !bytes.Contains(mode, []byte("[madvise]")) {
		return
	}
	env, changed := withTunable(os.Environ(), hugePagesTunable)
	if !changed {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	syscall.Exec(exe, os.Args, env) // returns only on failure: go on as is
}

// withTunable returns environ with tunable added to GLIBC_TUNABLES, and
// whether that changed it (false when the variable already sets the
// tunable's name, to any value).
func withTunable(environ []string, tunable string) ([]string, bool) {
	name, _, _ := strings.Cut(tunable, "=")
	out := make([]string, 0, len(environ)+1)
	found := false
	for _, kv := range environ {
		val, ok := strings.CutPrefix(kv, "GLIBC_TUNABLES=")
		if !ok {
			out = append(out, kv)
			continue
		}
		if found {
			continue // a repeated variable: the first one counts
		}
		found = true
		for _, t := range strings.Split(val, ":") {
			if n, _, _ := strings.Cut(t, "="); n == name {
				return environ, false
			}
		}
		if val != "" {
			val += ":"
		}
		out = append(out, "GLIBC_TUNABLES="+val+tunable)
	}
	if !found {
		out = append(out, "GLIBC_TUNABLES="+tunable)
	}
	return out, true
}
