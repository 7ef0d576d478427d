package wsproto

import "strconv"

// Opcode is the 4-bit frame type of RFC 6455 section 5.2.
type Opcode byte

// The opcodes RFC 6455 defines. All others are reserved.
const (
	OpContinuation Opcode = 0x0 // a further fragment of the open message (5.4)
	OpText         Opcode = 0x1 // a UTF-8 text message (5.6)
	OpBinary       Opcode = 0x2 // a binary message (5.6)
	OpClose        Opcode = 0x8 // the close handshake (5.5.1)
	OpPing         Opcode = 0x9 // a keepalive request (5.5.2)
	OpPong         Opcode = 0xA // a keepalive answer (5.5.3)
)

// IsControl reports whether op is a control opcode (its high bit is set, RFC 6455 5.5).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// IsReserved reports whether op is one of the opcodes RFC 6455 reserves for
// future use: 0x3-0x7 and 0xB-0xF.
func (op Opcode) IsReserved() bool {
	return (op >= 0x3 && op <= 0x7) || op >= 0xB
}

// String returns the opcode's name as RFC 6455 uses it.
func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved(0x" + strconv.FormatUint(uint64(op), 16) + ")"
}
