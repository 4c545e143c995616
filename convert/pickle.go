package convert

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// maxPickle bounds the size of a checkpoint's data.pkl (the tensor index;
// a 7B LLaMA's is about 30 KB).
const maxPickle = 64 << 20

// checkPickle walks the opcodes of a pickle and checks every length it
// declares fits in the bytes that follow, so that the unpickler never
// allocates more than the data holds.
func checkPickle(b []byte) error {
	i := 0
	need := func(n uint64) error {
		if n > uint64(len(b)-i) {
			return fmt.Errorf("pickle: opcode at byte %d needs %d bytes, %d left", i, n, len(b)-i)
		}
		return nil
	}
	length := func(size int) (uint64, error) {
		if err := need(uint64(size)); err != nil {
			return 0, err
		}
		var n uint64
		switch size {
		case 1:
			n = uint64(b[i])
		case 4:
			n = uint64(binary.LittleEndian.Uint32(b[i:]))
		case 8:
			n = binary.LittleEndian.Uint64(b[i:])
		}
		i += size
		return n, need(n)
	}
	line := func() error {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return fmt.Errorf("pickle: unterminated line at byte %d", i)
		}
		i += j + 1
		return nil
	}
	for i < len(b) {
		op := b[i]
		i++
		var err error
		switch op {
		case '.': // STOP
			return nil
		case 0x80, 'K', 'q', 'h', 0x82: // PROTO BININT1 BINPUT BINGET EXT1
			err = need(1)
			i++
		case 'M', 0x83: // BININT2 EXT2
			err = need(2)
			i += 2
		case 'J', 'r', 'j', 0x84: // BININT LONG_BINPUT LONG_BINGET EXT4
			err = need(4)
			i += 4
		case 'G': // BINFLOAT
			err = need(8)
			i += 8
		case 0x8a, 'U', 0x8c, 'C': // LONG1 SHORT_BINSTRING SHORT_BINUNICODE SHORT_BINBYTES
			var n uint64
			n, err = length(1)
			i += int(n)
		case 0x8b, 'T', 'X', 'B': // LONG4 BINSTRING BINUNICODE BINBYTES
			var n uint64
			n, err = length(4)
			i += int(n)
		case 0x8d, 0x8e, 0x96: // BINUNICODE8 BINBYTES8 BYTEARRAY8
			var n uint64
			n, err = length(8)
			i += int(n)
		case 0x95: // FRAME: the frame's bytes follow and are walked as opcodes
			_, err = length(8)
		case 'I', 'L', 'F', 'S', 'V', 'g', 'p', 'P': // newline-terminated argument
			err = line()
		case 'c', 'i': // GLOBAL, INST: module and name lines
			if err = line(); err == nil {
				err = line()
			}
		case '(', '0', '1', '2', 'N', 0x88, 0x89, ']', 'a', 'e', 'l', ')', 't', 0x85, 0x86, 0x87,
			'}', 'd', 's', 'u', 0x8f, 0x90, 0x91, 'b', 'R', 0x81, 0x92, 0x93, 0x94, 'Q', 'o', 0x97, 0x98:
		default:
			return fmt.Errorf("pickle: unknown opcode 0x%02x at byte %d", op, i-1)
		}
		if err != nil {
			return err
		}
	}
	return errors.New("pickle: no STOP opcode")
}
