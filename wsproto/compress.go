package wsproto

import (
	"bytes"
	"compress/flate"
	"io"
	"slices"
	"sync"
)

// permessage-deflate (RFC 7692), as negotiated by Accept and Dial with
// Compression set (see extension.go for the negotiation).
//
// Both directions are without context takeover: every compressed message
// is a DEFLATE stream of its own. Nothing is kept per connection between
// messages — the compressors and decompressors (tens to hundreds of KiB
// each) come from pools for the duration of one message — and a server's
// compressed frame is the same bytes for every connection, so a broadcast
// compresses a message once (AppendCompressedFrame) for all its receivers.

// DefaultCompressionThreshold is the payload length, in bytes, below which
// a message goes uncompressed even when permessage-deflate is in use.
// Measured with BenchmarkCompress on chat events of prose (2 shared cores):
// a 100-byte frame becomes 91 bytes for 5 µs of compressing — a tenth
// saved, for about the cost of writing it — while 256 bytes become 187
// (a quarter saved, 9 µs), 1 KiB 554 (17 µs) and 2 KiB 980 (28 µs).
const DefaultCompressionThreshold = 256

// compressionLevel is what every compressor uses: on chat-sized prose
// BestSpeed takes a third (256 bytes) to a half (2 KiB) of the default
// level's time, for at most 3% more bytes.
const compressionLevel = flate.BestSpeed

// deflateTail is what a receiver appends to a compressed message before
// inflating it: the empty stored block that the sender removed (RFC 7692
// 7.2.2), then a final empty stored block, so that the decompressor ends
// with io.EOF rather than waiting for more.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// syncMarker is the empty stored block a sync flush ends with, removed
// from every compressed message (RFC 7692 7.2.1).
var syncMarker = []byte{0x00, 0x00, 0xff, 0xff}

// Errors of the permessage-deflate extension (RFC 7692).
var (
	ErrCompressedControl      = &ProtocolError{CloseProtocolError, "RSV1 set on a control frame (RFC 7692 6.1)"}
	ErrCompressedContinuation = &ProtocolError{CloseProtocolError, "RSV1 set on a continuation frame (RFC 7692 6.1)"}
	ErrCorruptCompressed      = &ProtocolError{CloseInvalidPayload, "compressed message is not valid DEFLATE data (RFC 7692 7.2.2)"}
)

// Compression reports whether permessage-deflate was negotiated for the
// connection: the peer may send compressed messages, and WriteMessage
// compresses those of at least ConnOptions.CompressionThreshold bytes. A
// server may write frames built with AppendCompressedFrame to it.
func (c *Conn) Compression() bool { return c.deflate }

// appendWriter is an io.Writer that appends to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// compressor is a pooled flate.Writer with the buffer it writes to.
type compressor struct {
	w   *flate.Writer
	out appendWriter
}

var compressorPool = sync.Pool{New: func() any {
	c := &compressor{}
	c.w, _ = flate.NewWriter(&c.out, compressionLevel) // the level is valid: no error
	return c
}}

// appendCompressed appends payload compressed as one message of RFC 7692
// (7.2.1: DEFLATE, sync-flushed, without the trailing empty stored block)
// to dst.
func appendCompressed(dst, payload []byte) []byte {
	c := compressorPool.Get().(*compressor)
	c.out.b = dst
	c.w.Reset(&c.out)
	_, _ = c.w.Write(payload) // writes to memory cannot fail
	_ = c.w.Flush()
	dst = c.out.b
	c.out.b = nil
	compressorPool.Put(c)
	// A sync flush always ends with the marker; with nothing before it
	// (an empty payload) a single 0x00 byte remains, as 7.2.3.6 shows.
	return bytes.TrimSuffix(dst, syncMarker)
}

// CompressFrame appends to dst the compressed form (AppendCompressedFrame)
// of frame, a whole, final, unmasked, uncompressed text or binary frame
// such as AppendFrame makes, and reports true; for any other frame, or one
// whose payload is shorter than minPayload, it returns dst unchanged and
// false. It is for a server that keeps its messages as frames, encoded
// once, and compresses one only when a connection that negotiated
// compression is due to receive it.
func CompressFrame(dst, frame []byte, minPayload int) ([]byte, bool) {
	if len(frame) < 2 || len(frame) < headerSize(frame[1]) {
		return dst, false
	}
	h, err := parseHeader(frame)
	n := h.Size()
	if err != nil || !h.Fin || h.Rsv != 0 || h.Masked || (h.Opcode != OpText && h.Opcode != OpBinary) ||
		int64(len(frame)-n) != h.Length || h.Length < int64(minPayload) {
		return dst, false
	}
	return AppendCompressedFrame(dst, h.Opcode, frame[n:]), true
}

// AppendCompressedFrame appends one complete, final, unmasked frame
// carrying payload compressed with permessage-deflate (RSV1 set): the
// form a server sends to a connection whose Compression is true. Like
// AppendFrame's, the result can be written to any number of such
// connections with WriteFrames: the server negotiates no context
// takeover, so the frame does not depend on what went before.
func AppendCompressedFrame(dst []byte, op Opcode, payload []byte) []byte {
	bp := compressedPool.Get().(*[]byte)
	z := appendCompressed((*bp)[:0], payload)
	dst = AppendHeader(dst, Header{Fin: true, Rsv: rsv1, Opcode: op, Length: int64(len(z))})
	dst = append(dst, z...)
	if cap(z) <= 64<<10 {
		*bp = z[:0]
		compressedPool.Put(bp)
	}
	return dst
}

// rsv1 is the RSV1 bit in Header.Rsv: "per-message compressed" (RFC 7692 6).
const rsv1 = 0x4

// compressedPool holds the buffers a message is compressed into before
// its frame header, which needs the compressed length, can be written.
var compressedPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// decompressor is a pooled flate reader with the source it reads from.
type decompressor struct {
	r   io.ReadCloser
	src bytes.Reader
}

var decompressorPool sync.Pool // of *decompressor

// inflateChunk is the most a decompressor writes in one step: the read
// limit is checked between steps.
const inflateChunk = 16 << 10

// inflate appends the message compressed in src — which it extends with
// deflateTail, so src must be the caller's to extend — to dst, stopping
// as soon as the result would pass limit bytes (0: no limit). However
// much the data would inflate to, it costs at most limit+inflateChunk
// bytes of work and memory.
func inflate(dst, src []byte, limit int64) ([]byte, error) {
	src = append(src, deflateTail...)
	d, _ := decompressorPool.Get().(*decompressor)
	if d == nil {
		d = &decompressor{}
		d.src.Reset(src)
		d.r = flate.NewReader(&d.src) // bytes.Reader is an io.ByteReader: no bufio of flate's own
	} else {
		d.src.Reset(src)
		_ = d.r.(flate.Resetter).Reset(&d.src, nil)
	}
	defer func() {
		d.src.Reset(nil)
		decompressorPool.Put(d)
	}()
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, min(max(cap(dst)-start, 512), inflateChunk))
		}
		p := dst[len(dst):cap(dst)]
		if limit > 0 {
			if room := limit + 1 - int64(len(dst)-start); int64(len(p)) > room {
				p = p[:room]
			}
		}
		n, err := d.r.Read(p)
		dst = dst[:len(dst)+n]
		if limit > 0 && int64(len(dst)-start) > limit {
			return dst, ErrMessageTooBig
		}
		switch {
		case err == io.EOF:
			return dst, nil
		case err != nil:
			return dst, ErrCorruptCompressed
		case n == 0 && len(p) > 0:
			return dst, ErrCorruptCompressed // a reader that makes no progress
		}
	}
}
