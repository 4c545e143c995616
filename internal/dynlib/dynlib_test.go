//go:build linux

package dynlib

import (
	"strings"
	"testing"
)

func TestOpenAndBind(t *testing.T) {
	if _, err := Open("libxraygpt-does-not-exist.so.9"); err == nil {
		t.Error("a missing library opened")
	}
	h, err := Open("libxraygpt-does-not-exist.so.9", "libc.so.6")
	if err != nil {
		t.Fatalf("the second candidate (libc) did not open: %v", err)
	}
	var strlen func(s string) uint64
	if err := Bind(h, Func{&strlen, "strlen"}); err != nil {
		t.Fatal(err)
	}
	if n := strlen("chest x-ray"); n != 11 {
		t.Errorf("strlen = %d, want 11", n)
	}
	var nope func()
	if err := Bind(h, Func{&strlen, "strlen"}, Func{&nope, "xraygpt_no_such_function"}); err == nil || !strings.Contains(err.Error(), "xraygpt_no_such_function") {
		t.Errorf("a missing function: %v", err)
	}
	if BindOptional(h, Func{&nope, "xraygpt_no_such_function"}) {
		t.Error("BindOptional bound a missing function")
	}
}
