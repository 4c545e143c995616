//go:build !unix

package fileio

// Lock is a no-op where flock(2) is missing: concurrent writers are not
// detected there.
func Lock(path string) (*FileLock, error) { return &FileLock{name: lockName(path)}, nil }

// Unlock releases the lock.
func (l *FileLock) Unlock() error { return nil }
