package floor

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// textFrame returns payload as one unmasked, final text frame (RFC 6455
// section 5.2).
func textFrame(payload []byte) []byte {
	n := len(payload)
	var hdr []byte
	switch {
	case n <= 125:
		hdr = []byte{0x81, byte(n)}
	case n <= 0xFFFF:
		hdr = []byte{0x81, 126, byte(n >> 8), byte(n)}
	default:
		hdr = binary.BigEndian.AppendUint64([]byte{0x81, 127}, uint64(n))
	}
	return append(hdr, payload...)
}

// maxPayload is the largest frame readFrame accepts: twice the generator's
// largest message (loadtest.MaxSize), which is all the clients send.
const maxPayload = 2 << 20

var errFloorFrame = errors.New("loadtest: floor server: frame not masked or too large")

// readFrame reads one client frame and returns its opcode and unmasked
// payload. Fragmented messages are not reassembled: x/net sends none.
func readFrame(br *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if h[1]&0x80 == 0 || n > maxPayload {
		return 0, nil, errFloorFrame
	}
	var mask [4]byte
	if _, err := io.ReadFull(br, mask[:]); err != nil {
		return 0, nil, err
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return 0, nil, err
	}
	for i := range payload {
		payload[i] ^= mask[i&3]
	}
	return h[0] & 0x0F, payload, nil
}
