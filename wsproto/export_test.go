package wsproto

import "net"

// NewConnForTest wraps an already-upgraded connection, as Accept (server) or
// Dial (client) would, so tests can speak raw frames to a Conn.
func NewConnForTest(nc net.Conn, server bool, buffered []byte, opts *ConnOptions) *Conn {
	return newConn(nc, server, buffered, "", opts)
}

// MaskBytes exposes maskBytes to the external tests and benchmarks.
var MaskBytes = maskBytes

// ValidUTF8Chunks feeds chunks to one incremental validator and reports the
// index of the chunk where it failed (-1 if none) and whether the whole input
// ended on a code point boundary.
func ValidUTF8Chunks(chunks ...[]byte) (failedAt int, complete bool) {
	var v utf8Validator
	for i, c := range chunks {
		if !v.feed(c) {
			return i, false
		}
	}
	return -1, v.complete()
}

// ParseHeader exposes parseHeader (with headerSize) to the fuzz targets: it
// reports how many bytes the header takes, or 0 when b is too short.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < 2 {
		return Header{}, 0, nil
	}
	n := headerSize(b[1])
	if len(b) < n {
		return Header{}, 0, nil
	}
	h, err := parseHeader(b)
	return h, n, err
}

// ReaderActive reports whether a goroutine is inside a read method, holding
// the read lock, so tests can wait until a reader is parked before acting.
func ReaderActive(c *Conn) bool {
	if c.readMu.TryLock() {
		c.readMu.Unlock()
		return false
	}
	return true
}

// ReadBufferHeld reports whether c holds a read buffer. Call it only while
// no read is under way.
func ReadBufferHeld(c *Conn) bool {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	return c.rbuf != nil
}

// EnableCompressionForTest marks c as having negotiated permessage-deflate,
// as Accept or Dial with Compression would, for tests over raw frames.
// Call it before c is used.
func EnableCompressionForTest(c *Conn) { c.deflate = true }

// Inflate exposes inflate to the fuzz targets.
var Inflate = inflate
