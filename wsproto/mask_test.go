package wsproto_test

import (
	"bytes"
	"fmt"
	"testing"

	"ringchat/wsproto"
)

// maskNaive is the masking of RFC 6455 5.3 exactly as the RFC writes it:
// octet i of the transformed data is octet i of the original XOR octet
// (i MOD 4) of the masking key, here starting at key position pos.
func maskNaive(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[(pos+i)%4]
	}
	return (pos + len(b)) % 4
}

// TestMaskBytes compares the word-at-a-time MaskBytes with the RFC's
// definition for every length up to a few words past the unrolled loop, at
// every starting key position and slice alignment.
func TestMaskBytes(t *testing.T) {
	key := [4]byte{0xA1, 0xB2, 0xC3, 0xD4}
	src := make([]byte, 300)
	for i := range src {
		src[i] = byte(i*31 + 7)
	}
	for n := 0; n <= 140; n++ {
		for pos := range 4 {
			for align := range 8 {
				got := append(make([]byte, align), src[:n]...)[align:]
				want := bytes.Clone(src[:n])
				gotPos := wsproto.MaskBytes(key, pos, got)
				wantPos := maskNaive(key, pos, want)
				if !bytes.Equal(got, want) || gotPos != wantPos {
					t.Fatalf("n=%d pos=%d align=%d: MaskBytes differs from RFC 6455 5.3 (pos %d, want %d)", n, pos, align, gotPos, wantPos)
				}
			}
		}
	}
}

// TestMaskChunks checks that masking a payload in chunks, carrying the key
// position from one to the next, equals masking it whole: the reader
// unmasks a frame in pieces as they arrive.
func TestMaskChunks(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	payload := bytes.Repeat([]byte("RFC 6455 masking "), 20)
	whole := bytes.Clone(payload)
	maskNaive(key, 0, whole)
	for _, sizes := range [][]int{{1, 2, 3, 4, 5}, {7, 9, 33, 64}, {8, 8, 8}, {31, 1, 100}, {3, 250}} {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			got := bytes.Clone(payload)
			pos, off := 0, 0
			for _, n := range sizes {
				n = min(n, len(got)-off)
				pos = wsproto.MaskBytes(key, pos, got[off:off+n])
				off += n
			}
			pos = wsproto.MaskBytes(key, pos, got[off:])
			if !bytes.Equal(got, whole) {
				t.Fatal("chunked masking differs from whole masking")
			}
			if pos != len(payload)%4 {
				t.Fatalf("final position %d, want %d", pos, len(payload)%4)
			}
			// Masking is its own inverse.
			wsproto.MaskBytes(key, 0, got)
			if !bytes.Equal(got, payload) {
				t.Fatal("masking twice does not give the payload back")
			}
		})
	}
}
