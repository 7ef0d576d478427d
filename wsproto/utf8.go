package wsproto

import "encoding/binary"

// utf8Validator checks UTF-8 incrementally, so that a text message can be
// validated fragment by fragment and chunk by chunk as it arrives
// (RFC 6455 8.1). It fails at the first byte after which the input can no
// longer become valid UTF-8, not only at the end of the message, and it
// accepts a code point split across two chunks.
//
// The zero value is ready to use at the start of a message.
type utf8Validator struct {
	need   uint8 // continuation bytes still expected for the current code point
	lo, hi byte  // the range the next continuation byte must fall in
}

// feed checks the next chunk of a message. It returns false as soon as the
// bytes seen so far cannot be the prefix of valid UTF-8.
func (v *utf8Validator) feed(b []byte) bool {
	i := 0
	for i < len(b) {
		if v.need > 0 {
			c := b[i]
			if c < v.lo || c > v.hi {
				return false
			}
			i++
			v.need--
			v.lo, v.hi = 0x80, 0xBF
			continue
		}
		// Between code points: skip ASCII eight bytes at a time.
		for i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 == 0 {
			i += 8
		}
		if i == len(b) {
			break
		}
		c := b[i]
		i++
		// The ranges are those of the Unicode Standard, table 3-7 (and
		// RFC 3629 section 4): no overlong forms, no surrogates, nothing
		// above U+10FFFF.
		switch {
		case c < 0x80:
		case c < 0xC2: // continuation byte without a lead, or overlong 2-byte form
			return false
		case c < 0xE0:
			v.need, v.lo, v.hi = 1, 0x80, 0xBF
		case c == 0xE0: // exclude overlong 3-byte forms
			v.need, v.lo, v.hi = 2, 0xA0, 0xBF
		case c == 0xED: // exclude UTF-16 surrogates U+D800..U+DFFF
			v.need, v.lo, v.hi = 2, 0x80, 0x9F
		case c < 0xF0:
			v.need, v.lo, v.hi = 2, 0x80, 0xBF
		case c == 0xF0: // exclude overlong 4-byte forms
			v.need, v.lo, v.hi = 3, 0x90, 0xBF
		case c < 0xF4:
			v.need, v.lo, v.hi = 3, 0x80, 0xBF
		case c == 0xF4: // nothing above U+10FFFF
			v.need, v.lo, v.hi = 3, 0x80, 0x8F
		default:
			return false
		}
	}
	return true
}

// complete reports whether the input fed so far ends on a code point
// boundary, as a whole text message must.
func (v *utf8Validator) complete() bool { return v.need == 0 }

// reset prepares the validator for a new message.
func (v *utf8Validator) reset() { *v = utf8Validator{} }
