//go:build linux

package main

import (
	"reflect"
	"testing"
)

func TestWithTunable(t *testing.T) {
	const tun = "glibc.malloc.hugetlb=1"
	for _, tc := range []struct {
		in, want []string
		changed  bool
	}{
		{[]string{"A=1"}, []string{"A=1", "GLIBC_TUNABLES=" + tun}, true},
		{[]string{"GLIBC_TUNABLES=", "B=2"}, []string{"GLIBC_TUNABLES=" + tun, "B=2"}, true},
		{[]string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2"}, []string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2:" + tun}, true},
		{[]string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}, []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}, false},
		{[]string{"GLIBC_TUNABLES=x=1:glibc.malloc.hugetlb=2", "C=3"}, []string{"GLIBC_TUNABLES=x=1:glibc.malloc.hugetlb=2", "C=3"}, false},
		{[]string{"GLIBC_TUNABLES=x=1", "GLIBC_TUNABLES=y=2"}, []string{"GLIBC_TUNABLES=x=1:" + tun}, true},
	} {
		got, changed := withTunable(tc.in, tun)
		if changed != tc.changed || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("withTunable(%q) = %q, %v; want %q, %v", tc.in, got, changed, tc.want, tc.changed)
		}
	}
}
