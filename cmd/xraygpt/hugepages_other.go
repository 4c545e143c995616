//go:build !linux

package main

// reexecWithHugePages is Linux-only (glibc's malloc tunables).
func reexecWithHugePages() {}
