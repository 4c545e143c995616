//go:build unix

package fileio

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Lock takes an exclusive lock for path through the lock file path+".lock"
// (hidden: ".NAME.lock" in the same folder), which records this process's
// pid and host. A second Lock of the same path, from this process or
// another, fails at once with an error wrapping ErrLocked that names the
// holder. The lock is flock(2)'s: the kernel releases it when the holder
// dies, even by kill -9, so a stale lock file never blocks.
func Lock(path string) (*FileLock, error) {
	name := lockName(path)
	for range 10 {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			holder, _ := os.ReadFile(name)
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%s is in use by %s (lock file %s): %w", path, describeHolder(holder), name, ErrLocked)
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		// The previous holder may have removed the lock file between our open
		// and flock: then the lock is on an unlinked file, and we try again.
		st, err1 := f.Stat()
		cur, err2 := os.Stat(name)
		if err1 != nil || err2 != nil || !os.SameFile(st, cur) {
			f.Close()
			continue
		}
		host, _ := os.Hostname()
		if err := f.Truncate(0); err == nil {
			fmt.Fprintf(f, "pid %d on %s\n", os.Getpid(), host)
		}
		return &FileLock{f: f, name: name}, nil
	}
	return nil, fmt.Errorf("lock %s: the lock file %s keeps changing", path, name)
}

func describeHolder(content []byte) string {
	s := strings.TrimSpace(string(content))
	if s == "" {
		return "another process"
	}
	if f := strings.Fields(s); len(f) >= 2 && f[0] == "pid" {
		if pid, err := strconv.Atoi(f[1]); err == nil && pid == os.Getpid() {
			return "this process (" + s + ")"
		}
	}
	return "another process (" + s + ")"
}

// Unlock removes the lock file and releases the lock. It is safe to call
// more than once.
func (l *FileLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	// Remove while still holding the lock: a process that opened the old
	// file meanwhile sees that it was unlinked and opens a new one.
	os.Remove(l.name)
	err := l.f.Close()
	l.f = nil
	return err
}
