package wsproto

import (
	"encoding/binary"
	"math/bits"
)

// maskBytes XORs b in place with the 4-byte masking key of RFC 6455
// section 5.3, starting at byte pos of the key, and returns the key position
// for the byte after b. Masking and unmasking are the same operation.
//
// The bulk of b is handled eight bytes at a time; only the unaligned tail
// goes byte by byte.
func maskBytes(key [4]byte, pos int, b []byte) int {
	if len(b) >= 8 {
		// Rotate the key so that its first byte is key[pos]; after any
		// multiple of 4 bytes the key position is unchanged.
		k := bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*(pos&3))
		k64 := uint64(k) | uint64(k)<<32
		for len(b) >= 32 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
			binary.LittleEndian.PutUint64(b[8:], binary.LittleEndian.Uint64(b[8:])^k64)
			binary.LittleEndian.PutUint64(b[16:], binary.LittleEndian.Uint64(b[16:])^k64)
			binary.LittleEndian.PutUint64(b[24:], binary.LittleEndian.Uint64(b[24:])^k64)
			b = b[32:]
		}
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= key[pos&3]
		pos++
	}
	return pos & 3
}
