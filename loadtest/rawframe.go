package loadtest

import (
	"encoding/binary"
	"errors"
	"io"
	"sync/atomic"
)

// The raw client's frame reader: server frames parsed straight out of one
// buffer per connection, which is reused for every frame and grows only for
// a frame longer than it (RFC 6455 section 5.2).

// Opcodes of RFC 6455 section 5.2.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// The rules of RFC 6455 a server frame can break, as the raw client
// reports them.
var (
	errMaskedFrame       = errors.New("loadtest: raw client: server frame is masked (RFC 6455 5.1)")
	errReservedBits      = errors.New("loadtest: raw client: reserved bits set without an extension (RFC 6455 5.2)")
	errReservedOpcode    = errors.New("loadtest: raw client: reserved opcode (RFC 6455 5.2)")
	errLengthOverflow    = errors.New("loadtest: raw client: 64-bit length with the most significant bit set (RFC 6455 5.2)")
	errNonMinimalLength  = errors.New("loadtest: raw client: length not in its minimal encoding (RFC 6455 5.2)")
	errControlTooLong    = errors.New("loadtest: raw client: control frame longer than 125 bytes (RFC 6455 5.5)")
	errControlFragmented = errors.New("loadtest: raw client: fragmented control frame (RFC 6455 5.5)")
	errFrameTooLarge     = errors.New("loadtest: raw client: message longer than the client's limit")
	errCompressedControl = errors.New("loadtest: raw client: RSV1 on a control or continuation frame (RFC 7692 6.1)")
)

// rawFrame is one parsed server frame. Payload aliases the reader's
// buffer: it is valid until the next call of the reader.
type rawFrame struct {
	fin     bool
	op      byte
	rsv1    bool // the first frame of a compressed message (RFC 7692 6)
	payload []byte
}

// isControl reports whether op is a control opcode (RFC 6455 5.5).
func isControl(op byte) bool { return op&0x8 != 0 }

// parseFrame parses the server frame at the start of b, whose payload may
// be at most limit bytes. It returns the frame and its length in b; or, when
// b holds only part of it, n = 0 and need, the length b must reach for the
// frame to be parsed (exact once the header is complete, a lower bound
// before). Only the header is read to judge a frame: a payload over the
// limit is refused before a byte of it arrives. With deflate
// (permessage-deflate negotiated) RSV1 may mark the first frame of a data
// message.
func parseFrame(b []byte, limit int, deflate bool) (f rawFrame, n, need int, err error) {
	if len(b) < 2 {
		return f, 0, 2, nil
	}
	b0, b1 := b[0], b[1]
	f.fin, f.op, f.rsv1 = b0&0x80 != 0, b0&0x0F, b0&0x40 != 0
	switch {
	case b0&0x30 != 0, f.rsv1 && !deflate:
		return f, 0, 0, errReservedBits
	case f.rsv1 && (isControl(f.op) || f.op == opContinuation):
		return f, 0, 0, errCompressedControl
	case f.op > opBinary && f.op < opClose || f.op > opPong:
		return f, 0, 0, errReservedOpcode
	case b1&0x80 != 0:
		return f, 0, 0, errMaskedFrame
	}
	hdr, length := 2, uint64(b1&0x7F)
	switch length {
	case 126:
		hdr = 4
		if len(b) < hdr {
			return f, 0, hdr, nil
		}
		length = uint64(binary.BigEndian.Uint16(b[2:]))
		if length < 126 {
			return f, 0, 0, errNonMinimalLength
		}
	case 127:
		hdr = 10
		if len(b) < hdr {
			return f, 0, hdr, nil
		}
		length = binary.BigEndian.Uint64(b[2:])
		switch {
		case length>>63 != 0:
			return f, 0, 0, errLengthOverflow
		case length <= 0xFFFF:
			return f, 0, 0, errNonMinimalLength
		}
	}
	if isControl(f.op) {
		switch {
		case length > 125:
			return f, 0, 0, errControlTooLong
		case !f.fin:
			return f, 0, 0, errControlFragmented
		}
	}
	if length > uint64(limit) {
		return f, 0, 0, errFrameTooLarge
	}
	total := hdr + int(length)
	if len(b) < total {
		return f, 0, total, nil
	}
	f.payload = b[hdr:total:total]
	return f, total, total, nil
}

// rawReader reads server frames from a connection through one buffer:
// buf[start:end] has been read and not yet parsed. Each read asks for as
// much as the buffer has room for, so a burst of frames costs one system
// call, and frames are parsed in place: nothing is allocated per frame.
type rawReader struct {
	buf        []byte
	start, end int
	limit      int            // the longest payload accepted
	deflate    bool           // permessage-deflate negotiated: RSV1 allowed on a message's first frame
	counter    *atomic.Uint64 // when set, counts the bytes read from the socket
}

// rawBufferSize is the size of a raw client's read buffer: it holds a
// dozen of the generator's events, or the handshake's response.
const rawBufferSize = 4096

func newRawReader(limit int) rawReader {
	return rawReader{buf: make([]byte, rawBufferSize), limit: limit}
}

// frame parses the next frame in the buffer. When the buffer does not hold
// all of it, ok is false and need is the length it must have from r.start
// (see parseFrame). The payload is valid until the buffer is next filled.
func (r *rawReader) frame() (f rawFrame, ok bool, need int, err error) {
	f, n, need, err := parseFrame(r.buf[r.start:r.end], r.limit, r.deflate)
	if err != nil || n == 0 {
		return f, false, need, err
	}
	r.start += n
	if r.start == r.end {
		r.start, r.end = 0, 0 // the payload stays where it is until the next read
	}
	return f, true, 0, nil
}

// next returns the next frame, reading from src as needed. The frame's
// payload is valid until the next call.
func (r *rawReader) next(src io.Reader) (rawFrame, error) {
	for {
		f, ok, need, err := r.frame()
		if ok || err != nil {
			return f, err
		}
		if err := r.fill(src, need); err != nil {
			return f, err
		}
	}
}

// room makes room after r.end for a frame of need bytes from r.start:
// moves the unparsed bytes to the front, or into a larger buffer.
func (r *rawReader) room(need int) {
	if r.start+need <= len(r.buf) && r.end < len(r.buf) {
		return
	}
	if need > len(r.buf) {
		nb := make([]byte, max(need, 2*len(r.buf)))
		r.end = copy(nb, r.buf[r.start:r.end])
		r.buf = nb
	} else {
		r.end = copy(r.buf, r.buf[r.start:r.end])
	}
	r.start = 0
}

// fill reads once from src, as much as the buffer has room for, after
// making room for a frame of need bytes.
func (r *rawReader) fill(src io.Reader, need int) error {
	r.room(need)
	m, err := src.Read(r.buf[r.end:])
	r.end += m
	r.count(m)
	if m > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// count adds n bytes read to the counter, if there is one.
func (r *rawReader) count(n int) {
	if r.counter != nil && n > 0 {
		r.counter.Add(uint64(n))
	}
}
