package dicom

import (
	"errors"
	"io"
)

// streamAt is an io.ReaderAt over a stream of unknown size: it keeps what it has read and
// reads ahead only as far as asked, never past max. Its buffer grows with the bytes that
// actually arrived, so a length field cannot make it allocate more than the stream holds.
type streamAt struct {
	r   io.Reader
	buf []byte
	max int64
	err error // sticky: io.EOF at the end of the stream, or the read error
}

// fill reads ahead until end bytes are buffered (or the stream ends, or max is reached) and
// returns how many are buffered.
func (s *streamAt) fill(end int64) int64 {
	end = min(end, s.max)
	for int64(len(s.buf)) < end && s.err == nil {
		n := int(min(end-int64(len(s.buf)), 1<<20))
		if cap(s.buf)-len(s.buf) < n {
			grown := make([]byte, len(s.buf), max(2*cap(s.buf), len(s.buf)+n, 4096))
			copy(grown, s.buf)
			s.buf = grown
		}
		k, err := io.ReadFull(s.r, s.buf[len(s.buf):len(s.buf)+n])
		s.buf = s.buf[:len(s.buf)+k]
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		s.err = err
	}
	return int64(len(s.buf))
}

// ReadAt implements io.ReaderAt.
func (s *streamAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	have := s.fill(off + int64(len(p)))
	if off >= have {
		return 0, s.eof()
	}
	n := copy(p, s.buf[off:])
	if n < len(p) {
		return n, s.eof()
	}
	return n, nil
}

func (s *streamAt) eof() error {
	if s.err != nil {
		return s.err
	}
	return io.EOF // max reached
}
