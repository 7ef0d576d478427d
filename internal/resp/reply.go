package resp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Limits bound what a Reader accepts, so that a broken or hostile server
// cannot make the client allocate without end. A zero field takes the
// default of DefaultLimits.
type Limits struct {
	// MaxBulk is the longest bulk string, in bytes.
	MaxBulk int
	// MaxArray is the most elements of one array.
	MaxArray int
	// MaxDepth is how deeply arrays may nest; a flat array is depth 1.
	MaxDepth int
	// MaxLine is the longest simple string, error or integer line, in
	// bytes without the type byte and CRLF.
	MaxLine int
}

// DefaultLimits are generous for a chat store (events of a few KiB, ranges
// of a few thousand entries) and still bound a reply's memory: the reader
// never reserves more than the bytes that really arrived justify, and at
// most MaxBulk for one string.
var DefaultLimits = Limits{
	MaxBulk:  32 << 20,
	MaxArray: 1 << 20,
	MaxDepth: 16,
	MaxLine:  64 << 10,
}

func (l Limits) withDefaults() Limits {
	if l.MaxBulk <= 0 {
		l.MaxBulk = DefaultLimits.MaxBulk
	}
	if l.MaxArray <= 0 {
		l.MaxArray = DefaultLimits.MaxArray
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultLimits.MaxLine
	}
	return l
}

// Reader reads RESP2 replies from a stream. It is strict: every line ends
// in CRLF, lengths and integers are plain decimals, a bulk string is
// followed by CRLF, simple strings and errors hold no CR or LF, and
// anything else, including the RESP3 types (this client never asks for
// RESP3 with HELLO 3), is an error wrapping ErrProtocol. It never panics.
//
// After an error other than io.EOF at a reply boundary the stream's framing
// is lost, and the Reader must not be used again. A Reader is not safe for
// concurrent use.
type Reader struct {
	br   *bufio.Reader
	lim  Limits
	line []byte // scratch for lines longer than br's buffer
}

// NewReader returns a Reader of r. If r is a *bufio.Reader it is used as it
// is, else wrapped in one.
func NewReader(r io.Reader, lim Limits) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &Reader{br: br, lim: lim.withDefaults()}
}

// Buffered returns how many bytes have been read from the stream but not
// yet consumed as replies.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Read reads one reply. It returns io.EOF if the stream ends cleanly before
// the reply starts, io.ErrUnexpectedEOF if it ends inside one.
func (r *Reader) Read() (Value, error) {
	return r.read(0)
}

func (r *Reader) read(depth int) (Value, error) {
	line, err := r.readLine(depth == 0)
	if err != nil {
		return Value{}, err
	}
	if len(line) == 0 {
		return Value{}, fmt.Errorf("%w: empty line", ErrProtocol)
	}
	kind, rest := Kind(line[0]), line[1:]
	switch kind {
	case KindSimple, KindError:
		if bytes.IndexByte(rest, '\r') >= 0 {
			return Value{}, fmt.Errorf("%w: CR inside a %v", ErrProtocol, kind)
		}
		return Value{Kind: kind, Str: string(rest)}, nil
	case KindInt:
		n, ok := parseInt(rest)
		if !ok {
			return Value{}, fmt.Errorf("%w: bad integer %q", ErrProtocol, clip(rest))
		}
		return Value{Kind: KindInt, Int: n}, nil
	case KindBulk:
		n, err := r.length(kind, rest, r.lim.MaxBulk)
		if err != nil || n < 0 {
			return Value{Kind: KindBulk, Null: true}, err
		}
		s, err := r.readBulk(n)
		return Value{Kind: KindBulk, Str: s}, err
	case KindArray:
		n, err := r.length(kind, rest, r.lim.MaxArray)
		if err != nil || n < 0 {
			return Value{Kind: KindArray, Null: true}, err
		}
		if depth+1 > r.lim.MaxDepth {
			return Value{}, fmt.Errorf("%w: arrays nested deeper than %d", ErrLimit, r.lim.MaxDepth)
		}
		// Reserve no more than a few elements ahead of those that have
		// arrived: the header alone proves nothing.
		elems := make([]Value, 0, min(n, 16))
		for range n {
			e, err := r.read(depth + 1)
			if err != nil {
				return Value{}, err
			}
			elems = append(elems, e)
		}
		return Value{Kind: KindArray, Elems: elems}, nil
	}
	return Value{}, fmt.Errorf("%w: unknown type byte %q", ErrProtocol, line[0])
}

// length parses the length of a bulk string or array: a decimal from 0 to
// max, or -1 for null (returned as -1).
func (r *Reader) length(kind Kind, b []byte, max int) (int, error) {
	if string(b) == "-1" {
		return -1, nil
	}
	n, ok := parseInt(b)
	if !ok || b[0] == '-' || b[0] == '+' {
		return 0, fmt.Errorf("%w: bad %v length %q", ErrProtocol, kind, clip(b))
	}
	if n > int64(max) {
		return 0, fmt.Errorf("%w: %v of length %d, limit %d", ErrLimit, kind, n, max)
	}
	return int(n), nil
}

// readLine returns the next line without its CRLF, valid until the next
// read. At a reply boundary (first) a stream that ends gives io.EOF. A line
// is over the limit as soon as more than MaxLine+2 bytes (type byte,
// content, CR) have come without its LF, whether or not the rest arrives.
func (r *Reader) readLine(first bool) ([]byte, error) {
	maxLen := r.lim.MaxLine + 2
	b, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.line = append(r.line[:0], b...)
		for err == bufio.ErrBufferFull && len(r.line) <= maxLen {
			b, err = r.br.ReadSlice('\n')
			r.line = append(r.line, b...)
		}
		b = r.line
	}
	n := len(b) // bytes before the LF
	if err == nil {
		n--
	}
	if n > maxLen {
		return nil, fmt.Errorf("%w: line longer than %d bytes", ErrLimit, r.lim.MaxLine)
	}
	if err != nil {
		if err == io.EOF {
			if first && len(b) == 0 {
				return nil, io.EOF
			}
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if n == 0 || b[n-1] != '\r' {
		return nil, fmt.Errorf("%w: line not ended by CRLF", ErrProtocol)
	}
	return b[:n-1], nil
}

// readBulk reads n bytes and the CRLF after them. It grows the string as
// the bytes arrive, so a length that the stream does not back costs at most
// one buffer.
func (r *Reader) readBulk(n int) (string, error) {
	var sb strings.Builder
	sb.Grow(min(n, 64<<10))
	for sb.Len() < n {
		chunk, err := r.br.Peek(min(n-sb.Len(), r.br.Size()))
		sb.Write(chunk)
		r.br.Discard(len(chunk))
		if err != nil {
			return "", unexpected(err)
		}
	}
	crlf, err := r.br.Peek(2)
	if err != nil {
		return "", unexpected(err)
	}
	if crlf[0] != '\r' || crlf[1] != '\n' {
		return "", fmt.Errorf("%w: bulk string of %d bytes not followed by CRLF", ErrProtocol, n)
	}
	r.br.Discard(2)
	return sb.String(), nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseInt parses an optional sign and one or more decimal digits into an
// int64, reporting false for anything else or an overflow.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	// Accumulate negatively so that math.MinInt64 fits.
	var n int64
	const minInt64 = -1 << 63
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n < (minInt64+d)/10 {
			return 0, false
		}
		n = n*10 - d
	}
	if !neg {
		if n == minInt64 {
			return 0, false
		}
		n = -n
	}
	return n, true
}

// clip shortens what an error message quotes from the wire.
func clip(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
