package floor

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"ringchat/loadtest"
)

// maskedFrame is a client frame as x/net writes it.
func maskedFrame(op byte, payload []byte) []byte {
	f := textFrame(payload)
	f[0] = 0x80 | op
	f[1] |= 0x80
	hdr := len(f) - len(payload)
	mask := []byte{1, 2, 3, 4}
	out := append(append(append([]byte{}, f[:hdr]...), mask...), payload...)
	for i := range payload {
		out[hdr+4+i] ^= mask[i&3]
	}
	return out
}

func TestFloorFrames(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 300, 0xFFFF, 0x10000} {
		payload := bytes.Repeat([]byte{'a'}, n)
		f := textFrame(payload)
		if f[0] != 0x81 || !bytes.HasSuffix(f, payload) {
			t.Errorf("textFrame(%d bytes): header % x", n, f[:2])
		}
		switch {
		case n <= 125:
			if int(f[1]) != n {
				t.Errorf("%d bytes: length byte %d", n, f[1])
			}
		case n <= 0xFFFF:
			if f[1] != 126 || int(binary.BigEndian.Uint16(f[2:])) != n {
				t.Errorf("%d bytes: 16-bit length wrong", n)
			}
		default:
			if f[1] != 127 || int(binary.BigEndian.Uint64(f[2:])) != n {
				t.Errorf("%d bytes: 64-bit length wrong", n)
			}
		}
		op, got, err := readFrame(bufio.NewReader(bytes.NewReader(maskedFrame(0x1, payload))))
		if err != nil || op != 0x1 || !bytes.Equal(got, payload) {
			t.Errorf("readFrame(%d bytes) = %x, %d bytes, %v", n, op, len(got), err)
		}
	}
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(textFrame([]byte("x"))))); err == nil {
		t.Errorf("readFrame accepted an unmasked frame")
	}
}

// TestFloorFrameLimit checks that the floor reads the generator's largest
// message, and refuses a frame over its limit before reading it.
func TestFloorFrameLimit(t *testing.T) {
	big := bytes.Repeat([]byte{'x'}, loadtest.MaxSize)
	if _, p, err := readFrame(bufio.NewReader(bytes.NewReader(maskedFrame(0x1, big)))); err != nil || len(p) != len(big) {
		t.Errorf("readFrame of the largest message: %d bytes, %v", len(p), err)
	}
	over := binary.BigEndian.AppendUint64([]byte{0x81, 0x80 | 127}, maxPayload+1)
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(over))); !errors.Is(err, errFloorFrame) {
		t.Errorf("readFrame of a frame over the limit: %v", err)
	}
}

// FuzzReadFrame checks that the floor server's frame reader neither panics
// nor allocates beyond its limit on any input.
func FuzzReadFrame(f *testing.F) {
	f.Add(maskedFrame(0x1, []byte("hello")))
	f.Add(maskedFrame(0x8, nil))
	f.Add([]byte{0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, p, err := readFrame(bufio.NewReader(bytes.NewReader(b)))
		if err == nil && len(p) > len(b) {
			t.Errorf("payload of %d bytes from %d bytes of input", len(p), len(b))
		}
	})
}
