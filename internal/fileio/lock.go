package fileio

import (
	"errors"
	"os"
	"path/filepath"
)

// ErrLocked means another writer holds the lock on a file (see Lock).
var ErrLocked = errors.New("locked by another writer")

// FileLock is an exclusive lock taken by Lock.
type FileLock struct {
	f    *os.File
	name string
}

// lockName is the lock file of path: ".NAME.lock" beside it.
func lockName(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".lock")
}
