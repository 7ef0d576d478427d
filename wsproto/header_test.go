package wsproto_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"ringchat/wsproto"
)

// TestHeaderEncoding checks AppendHeader against hand-written encodings of
// RFC 6455 5.2: the 7-, 16- and 64-bit length forms at their boundaries,
// always minimal, network byte order, and the mask key after the length.
func TestHeaderEncoding(t *testing.T) {
	key := [4]byte{9, 8, 7, 6}
	cases := []struct {
		name string
		h    wsproto.Header
		want []byte
	}{
		{"7-bit 0", wsproto.Header{Fin: true, Opcode: wsproto.OpText}, []byte{0x81, 0}},
		{"7-bit 125", wsproto.Header{Fin: true, Opcode: wsproto.OpBinary, Length: 125}, []byte{0x82, 125}},
		{"16-bit 126", wsproto.Header{Fin: true, Opcode: wsproto.OpBinary, Length: 126}, []byte{0x82, 126, 0, 126}},
		{"16-bit 65535", wsproto.Header{Opcode: wsproto.OpText, Length: 65535}, []byte{0x01, 126, 0xFF, 0xFF}},
		{"64-bit 65536", wsproto.Header{Fin: true, Opcode: wsproto.OpBinary, Length: 65536}, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{"64-bit max", wsproto.Header{Fin: true, Opcode: wsproto.OpBinary, Length: math.MaxInt64}, []byte{0x82, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}},
		{"masked 7-bit", wsproto.Header{Fin: true, Opcode: wsproto.OpPing, Masked: true, MaskKey: key, Length: 5}, []byte{0x89, 0x85, 9, 8, 7, 6}},
		{"masked 16-bit", wsproto.Header{Opcode: wsproto.OpContinuation, Masked: true, MaskKey: key, Length: 300}, []byte{0x00, 0xFE, 1, 44, 9, 8, 7, 6}},
		{"masked 64-bit", wsproto.Header{Fin: true, Opcode: wsproto.OpBinary, Masked: true, MaskKey: key, Length: 1 << 32}, []byte{0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 9, 8, 7, 6}},
		{"RSV bits", wsproto.Header{Fin: true, Rsv: 5, Opcode: wsproto.OpClose}, []byte{0xD8, 0}},
		{"negative length as 0", wsproto.Header{Fin: true, Opcode: wsproto.OpText, Length: -1}, []byte{0x81, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := wsproto.AppendHeader([]byte("prefix"), tc.h)
			if !bytes.Equal(got[6:], tc.want) || string(got[:6]) != "prefix" {
				t.Fatalf("AppendHeader = % x, want % x", got[6:], tc.want)
			}
			if tc.h.Length >= 0 && tc.h.Size() != len(tc.want) {
				t.Errorf("Size() = %d, want %d", tc.h.Size(), len(tc.want))
			}
			h, n, err := wsproto.ParseHeader(tc.want)
			if err != nil || n != len(tc.want) {
				t.Fatalf("ParseHeader = %d bytes, %v", n, err)
			}
			want := tc.h
			want.Length = max(want.Length, 0)
			if h != want {
				t.Errorf("ParseHeader = %+v, want %+v", h, want)
			}
		})
	}
}

// TestParseHeaderRules checks the length rules of RFC 6455 5.2 that depend
// on the header alone, and that a short buffer is reported as such.
func TestParseHeaderRules(t *testing.T) {
	cases := []struct {
		name    string
		b       []byte
		wantN   int
		wantErr error
	}{
		{"1 byte is short", []byte{0x81}, 0, nil},
		{"16-bit length cut short", []byte{0x81, 126, 1}, 0, nil},
		{"64-bit length cut short", []byte{0x81, 127, 0, 0, 0, 0, 0, 1}, 0, nil},
		{"mask key cut short", []byte{0x81, 0x85, 1, 2, 3}, 0, nil},
		{"16-bit 0", []byte{0x81, 126, 0, 0}, 4, wsproto.ErrNonMinimalLength},
		{"16-bit 125", []byte{0x81, 126, 0, 125}, 4, wsproto.ErrNonMinimalLength},
		{"16-bit 126", []byte{0x81, 126, 0, 126}, 4, nil},
		{"64-bit 0", []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 0}, 10, wsproto.ErrNonMinimalLength},
		{"64-bit 125", []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 125}, 10, wsproto.ErrNonMinimalLength},
		{"64-bit 65535", []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}, 10, wsproto.ErrNonMinimalLength},
		{"64-bit 65536", []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}, 10, nil},
		{"64-bit MSB set", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10, wsproto.ErrLengthOverflow},
		{"64-bit all ones", []byte{0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4}, 14, wsproto.ErrLengthOverflow},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, n, err := wsproto.ParseHeader(tc.b)
			if n != tc.wantN || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("ParseHeader = %d, %v; want %d, %v", n, err, tc.wantN, tc.wantErr)
			}
		})
	}
}

// TestAppendFrame checks a prepared frame: final, unmasked, the minimal
// header and the payload after it.
func TestAppendFrame(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		payload := bytes.Repeat([]byte{'p'}, n)
		f := wsproto.AppendFrame(nil, wsproto.OpBinary, payload)
		h, size, err := wsproto.ParseHeader(f)
		if err != nil || !h.Fin || h.Masked || h.Opcode != wsproto.OpBinary || h.Length != int64(n) {
			t.Fatalf("%d bytes: header %+v, %v", n, h, err)
		}
		if !bytes.Equal(f[size:], payload) {
			t.Fatalf("%d bytes: payload differs", n)
		}
	}
}

// TestOpcodeAndCloseCode checks the classification of opcodes (RFC 6455 5.2,
// 5.5) and close codes (7.4).
func TestOpcodeAndCloseCode(t *testing.T) {
	for op := wsproto.Opcode(0); op < 16; op++ {
		control := op >= 8
		reserved := op >= 3 && op <= 7 || op >= 0xB
		if op.IsControl() != control || op.IsReserved() != reserved {
			t.Errorf("opcode 0x%X: IsControl %v, IsReserved %v", byte(op), op.IsControl(), op.IsReserved())
		}
	}
	for code := range 6000 {
		c := wsproto.CloseCode(code)
		want := code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999
		if c.IsValid() != want {
			t.Errorf("close code %d: IsValid %v, want %v", code, c.IsValid(), want)
		}
	}
	if s := wsproto.CloseMessageTooBig.String(); s != "1009 (message too big)" {
		t.Errorf("String = %q", s)
	}
	if s := wsproto.CloseCode(4321).String(); s != "4321" {
		t.Errorf("String = %q", s)
	}
}
