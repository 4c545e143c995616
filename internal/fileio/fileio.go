// Package fileio opens input files without hanging and writes output files
// without ever leaving a partial or emptied file behind.
//
// Inputs given on a command line may be anything: a named pipe (opening it
// for reading blocks until a writer appears, forever), a device, a folder.
// OpenRegular opens without blocking and refuses everything but a regular
// file. Outputs are written to a temporary file in the same folder and
// renamed over the destination only when complete.
package fileio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// ErrNotRegular means a path names something other than a regular file
// (a folder, a named pipe, a device, a socket).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge means a file is larger than the caller's limit.
var ErrTooLarge = errors.New("file too large")

// OpenRegular opens path for reading. It never blocks on a named pipe and
// returns an error wrapping ErrNotRegular (and naming the kind of file) for
// anything that is not a regular file, following symbolic links.
func OpenRegular(path string) (*os.File, error) {
	// O_NONBLOCK keeps open(2) from waiting for a writer on a FIFO; it has no
	// effect on regular files, whose reads never block.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(st.Mode()))}
	}
	return f, nil
}

// CheckRegular reports an error wrapping ErrNotRegular when path exists and
// is not a regular file, and the os error when it cannot be examined. It is
// for paths handed to code that opens them itself (llama.cpp).
func CheckRegular(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(st.Mode()))}
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}

// ReadRegular reads a whole regular file of at most limit bytes (limit <= 0:
// no limit). A larger file is an error wrapping ErrTooLarge, found from its
// size before anything is read.
func ReadRegular(path string, limit int64) ([]byte, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if limit > 0 && st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the limit of %d: %w", path, st.Size(), limit, ErrTooLarge)
	}
	r := io.Reader(f)
	if limit > 0 {
		r = io.LimitReader(f, limit+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if limit > 0 && int64(len(data)) > limit { // grew while read
		return nil, fmt.Errorf("%s: more than the limit of %d bytes: %w", path, limit, ErrTooLarge)
	}
	return data, nil
}

// WriteAtomic writes path through write: the bytes go to a temporary file
// in the same folder, which is synced and renamed over path only when write
// returns nil, so path holds either its old content or the complete new
// one. The file gets mode perm less the umask, as os.OpenFile would give.
// w is the temporary *os.File, for writers that need one.
func WriteAtomic(path string, perm fs.FileMode, write func(w io.Writer) error) (err error) {
	tmp, err := createTemp(path, perm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// createTemp creates a new file next to path with a random name and mode
// perm less the umask (os.CreateTemp would make it 0600).
func createTemp(path string, perm fs.FileMode) (*os.File, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	for range 100 {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("write %s: cannot create a temporary file in %s", path, dir)
}

// TempFor creates the temporary file WriteAtomic would use, for writers
// that need a path (llama.cpp's quantizer writes by name). Commit renames it
// over path; Abort removes it. Exactly one of the two must be called.
func TempFor(path string, perm fs.FileMode) (*Pending, error) {
	tmp, err := createTemp(path, perm)
	if err != nil {
		return nil, err
	}
	name := tmp.Name()
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &Pending{Name: name, path: path}, nil
}

// Pending is a temporary file that becomes path on Commit.
type Pending struct {
	Name string // the temporary file's path
	path string
}

// Commit renames the temporary file over the destination.
func (p *Pending) Commit() error {
	if err := os.Rename(p.Name, p.path); err != nil {
		p.Abort()
		return fmt.Errorf("write %s: %w", p.path, err)
	}
	return nil
}

// Abort removes the temporary file.
func (p *Pending) Abort() { os.Remove(p.Name) }

// SameFile reports whether a and b name the same existing file (through
// links, relative paths or hard links). A path that does not exist is the
// same as no other.
func SameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(sa, sb)
}

// ErrOutputIsInput means an output path names one of the command's inputs.
var ErrOutputIsInput = errors.New("the output would overwrite an input")

// CheckOutput reports an error wrapping ErrOutputIsInput when out names the
// same existing file as one of inputs (through links, relative paths or
// hard links), and one wrapping ErrNotRegular when out is an existing
// folder (a file could not be renamed over it when done).
func CheckOutput(out string, inputs ...string) error {
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return &fs.PathError{Op: "write", Path: out, Err: fmt.Errorf("%w (a folder)", ErrNotRegular)}
	}
	for _, in := range inputs {
		if in != "" && SameFile(out, in) {
			if in == out {
				return fmt.Errorf("output %s is also an input: %w", out, ErrOutputIsInput)
			}
			return fmt.Errorf("output %s is the input %s: %w", out, in, ErrOutputIsInput)
		}
	}
	return nil
}
