package wsproto_test

import (
	"testing"
	"unicode/utf8"

	"ringchat/wsproto"
)

// validPrefix reports whether b can be continued into valid UTF-8: the
// reference for the validator's fail-fast rule (RFC 6455 8.1 lets an
// endpoint fail as soon as the data cannot be valid). It relies only on
// unicode/utf8: b is a valid prefix when it is valid but for an incomplete
// last code point that some continuation bytes would complete.
func validPrefix(b []byte) bool {
	if utf8.Valid(b) {
		return true
	}
	// The incomplete tail is at most 3 bytes, starting at a lead byte.
	for tail := 1; tail <= 3 && tail <= len(b); tail++ {
		head, part := b[:len(b)-tail], b[len(b)-tail:]
		if !utf8.RuneStart(part[0]) || !utf8.Valid(head) {
			continue
		}
		if completable(part) {
			return true
		}
	}
	return false
}

// completable reports whether part, the start of a code point, becomes one
// valid code point with some continuation bytes appended. Only the second
// byte of a sequence has a range narrower than 0x80-0xBF, so trying every
// second byte and padding with 0x80 covers all completions.
func completable(part []byte) bool {
	for _, second := range continuationBytes() {
		full := append([]byte(nil), part...)
		if len(full) == 1 {
			full = append(full, second)
		}
		for len(full) < 4 && !utf8.FullRune(full) {
			full = append(full, 0x80)
		}
		r, size := utf8.DecodeRune(full)
		if r != utf8.RuneError && size == len(full) && size > len(part) {
			return true
		}
	}
	return false
}

func continuationBytes() []byte {
	var bs []byte
	for c := 0x80; c <= 0xBF; c++ {
		bs = append(bs, byte(c))
	}
	return bs
}

// TestValidPrefix checks the reference itself on known cases.
func TestValidPrefix(t *testing.T) {
	for s, want := range map[string]bool{
		"":               true,
		"abc":            true,
		"\xe2\x82":       true,  // € cut short
		"\xf0\x9f":       true,  // emoji cut short
		"\xf4\x8f\xbf":   true,  // U+10FFFF cut short
		"\xf4\x90":       false, // above U+10FFFF
		"\xed\xa0":       false, // surrogate
		"\xe0\x80":       false, // overlong
		"\xc1":           false, // overlong 2-byte lead
		"\xf5":           false,
		"\x80":           false,
		"a\xe2\x82\xacb": true,
		"\xe2\x82a":      false,
	} {
		if got := validPrefix([]byte(s)); got != want {
			t.Errorf("validPrefix(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestUTF8Validator checks the incremental validator of RFC 6455 8.1 on
// valid and invalid text, fed whole, split at every point, and byte by byte.
// Invalid input must fail at the first byte that cannot begin valid UTF-8.
func TestUTF8Validator(t *testing.T) {
	cases := []struct {
		name string
		text string
	}{
		{"empty", ""},
		{"ASCII", "Hello, world! 0123456789 and a long run of ASCII to pass the 8-byte loop"},
		{"2-byte", "caf\u00e9 \u00ff \u07ff"},
		{"3-byte", "\u0800 \u20ac \ud7ff \ue000 \uffff"},
		{"4-byte", "\U00010000 \U0001F600 \U0010FFFF"},
		{"mixed", "a\u00e9\u20ac\U0001F600z"},
		{"ASCII then multibyte past 8", "abcdefghijklmnop\u20acqrstuvwxyz01234\U0001F600"},
		{"stray continuation", "a\x80b"},
		{"lone continuation after ASCII run", "abcdefgh\xbf"},
		{"overlong 2-byte C0", "\xc0\xaf"},
		{"overlong 2-byte C1", "\xc1\xbf"},
		{"overlong 3-byte", "\xe0\x9f\xbf"},
		{"overlong 4-byte", "\xf0\x8f\xbf\xbf"},
		{"surrogate D800", "\xed\xa0\x80"},
		{"surrogate DFFF", "\xed\xbf\xbf"},
		{"above U+10FFFF", "\xf4\x90\x80\x80"},
		{"F5 lead", "\xf5\x80\x80\x80"},
		{"FF", "ok\xff"},
		{"FE", "\xfe"},
		{"truncated 2-byte", "ab\xc3"},
		{"truncated 3-byte", "ab\xe2\x82"},
		{"truncated 4-byte", "ab\xf0\x9f\x98"},
		{"lead where continuation expected", "\xe2\xe2\x82\xac"},
		{"ASCII where continuation expected", "\xe2\x82a"},
		{"Markus Kuhn's 5-byte form", "\xf8\x88\x80\x80\x80"},
	}
	for _, tc := range cases {
		b := []byte(tc.text)
		valid := utf8.Valid(b)
		// firstBad is the index of the byte at which a fail-fast validator
		// must stop: the shortest prefix that is not a valid prefix.
		firstBad := -1
		for i := 1; i <= len(b); i++ {
			if !validPrefix(b[:i]) {
				firstBad = i - 1
				break
			}
		}
		t.Run(tc.name+"/whole", func(t *testing.T) {
			failedAt, complete := wsproto.ValidUTF8Chunks(b)
			if ok := failedAt == -1 && complete; ok != valid {
				t.Fatalf("ValidUTF8Chunks(%q) = %d, %v; utf8.Valid says %v", b, failedAt, complete, valid)
			}
			if (failedAt == -1) != (firstBad == -1) {
				t.Fatalf("failedAt %d, but the first impossible byte is at %d", failedAt, firstBad)
			}
		})
		t.Run(tc.name+"/byte by byte", func(t *testing.T) {
			var chunks [][]byte
			for i := range b {
				chunks = append(chunks, b[i:i+1])
			}
			failedAt, complete := wsproto.ValidUTF8Chunks(chunks...)
			if failedAt != firstBad {
				t.Fatalf("failed at byte %d, want %d (fail fast, RFC 6455 8.1)", failedAt, firstBad)
			}
			if ok := failedAt == -1 && complete; ok != valid {
				t.Fatalf("result %v, utf8.Valid says %v", ok, valid)
			}
		})
		t.Run(tc.name+"/every split", func(t *testing.T) {
			for i := 0; i <= len(b); i++ {
				for j := i; j <= len(b); j++ {
					failedAt, complete := wsproto.ValidUTF8Chunks(b[:i], b[i:j], b[j:])
					if ok := failedAt == -1 && complete; ok != valid {
						t.Fatalf("split %d,%d: result %v, utf8.Valid says %v", i, j, ok, valid)
					}
					wantChunk := -1
					switch {
					case firstBad == -1:
					case firstBad < i:
						wantChunk = 0
					case firstBad < j:
						wantChunk = 1
					default:
						wantChunk = 2
					}
					if failedAt != wantChunk {
						t.Fatalf("split %d,%d: failed in chunk %d, want %d", i, j, failedAt, wantChunk)
					}
				}
			}
		})
	}
}

// TestUTF8AllCodePoints runs every code point, and every surrogate, through
// the validator, cut in two at every inner byte.
func TestUTF8AllCodePoints(t *testing.T) {
	var buf [4]byte
	for r := rune(0); r <= utf8.MaxRune; r++ {
		var enc []byte
		if r >= 0xD800 && r <= 0xDFFF {
			// Encode the surrogate the way CESU-8 would; it must be refused.
			enc = []byte{0xED, byte(0xA0 | (r>>6)&0x1F), byte(0x80 | r&0x3F)}
		} else {
			enc = buf[:utf8.EncodeRune(buf[:], r)]
		}
		want := utf8.Valid(enc)
		for cut := 0; cut < len(enc); cut++ {
			failedAt, complete := wsproto.ValidUTF8Chunks(enc[:cut], enc[cut:])
			if got := failedAt == -1 && complete; got != want {
				t.Fatalf("U+%04X %x cut at %d: %v, want %v", r, enc, cut, got, want)
			}
		}
	}
	// Beyond U+10FFFF, with the 4-byte pattern.
	for r := 0x110000; r < 0x200000; r += 0x1111 {
		enc := []byte{byte(0xF0 | r>>18), byte(0x80 | (r>>12)&0x3F), byte(0x80 | (r>>6)&0x3F), byte(0x80 | r&0x3F)}
		if failedAt, _ := wsproto.ValidUTF8Chunks(enc); failedAt != 0 {
			t.Fatalf("%x (U+%X) accepted", enc, r)
		}
	}
}
