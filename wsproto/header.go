package wsproto

import (
	"encoding/binary"
	"math"
)

// Header is the header of one WebSocket frame (RFC 6455 5.2).
type Header struct {
	Fin     bool    // the final fragment of a message
	Rsv     byte    // the RSV1, RSV2 and RSV3 bits, as the low three bits
	Opcode  Opcode  // the frame type
	Masked  bool    // the payload is masked with MaskKey (client to server)
	MaskKey [4]byte // the masking key, when Masked
	Length  int64   // the payload length in bytes
}

// MaxHeaderSize is the longest a frame header can be: 2 bytes, an 8-byte
// extended length and a 4-byte masking key.
const MaxHeaderSize = 14

// maxControlPayload is the largest payload of a control frame (RFC 6455 5.5).
const maxControlPayload = 125

// Size returns the length of h's encoding on the wire.
func (h Header) Size() int {
	n := 2
	switch {
	case h.Length > math.MaxUint16:
		n += 8
	case h.Length > 125:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// AppendHeader appends the wire encoding of h to dst, with the payload length
// in its minimal form. A negative Length is encoded as 0.
func AppendHeader(dst []byte, h Header) []byte {
	b0 := byte(h.Opcode&0xF) | (h.Rsv&0x7)<<4
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	n := max(h.Length, 0)
	switch {
	case n > math.MaxUint16:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	case n > 125:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, b0, b1|byte(n))
	}
	if h.Masked {
		dst = append(dst, h.MaskKey[:]...)
	}
	return dst
}

// AppendFrame appends one complete, final, unmasked frame carrying payload: the
// form a server sends. The result can be written to any number of server
// connections with (*Conn).WriteFrames, which is how a broadcast encodes a
// message once for all its receivers.
func AppendFrame(dst []byte, op Opcode, payload []byte) []byte {
	dst = AppendHeader(dst, Header{Fin: true, Opcode: op, Length: int64(len(payload))})
	return append(dst, payload...)
}

// headerSize returns how long the header that starts with b0 and b1 is.
func headerSize(b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// parseHeader decodes a frame header from b, which must hold at least
// headerSize(b[1]) bytes. It checks only the encoding of the length
// (RFC 6455 5.2); the rules that depend on the connection's role and state
// are checked by the reader.
func parseHeader(b []byte) (Header, error) {
	h := Header{
		Fin:    b[0]&0x80 != 0,
		Rsv:    (b[0] >> 4) & 0x7,
		Opcode: Opcode(b[0] & 0xF),
		Masked: b[1]&0x80 != 0,
		Length: int64(b[1] & 0x7F),
	}
	rest := b[2:]
	switch h.Length {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if h.Length <= 125 {
			return h, ErrNonMinimalLength
		}
	case 127:
		n := binary.BigEndian.Uint64(rest)
		rest = rest[8:]
		if n > math.MaxInt64 {
			return h, ErrLengthOverflow
		}
		h.Length = int64(n)
		if h.Length <= math.MaxUint16 {
			return h, ErrNonMinimalLength
		}
	}
	if h.Masked {
		copy(h.MaskKey[:], rest)
	}
	return h, nil
}
