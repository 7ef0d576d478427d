package resp_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"testing"
	"testing/iotest"

	"ringchat/internal/resp"
)

// refDecoder is an independent, deliberately plain decoder of the same
// RESP2 rules as resp.Reader, over a byte slice held whole: the fuzz target
// checks that the streaming Reader agrees with it on every input.
type refDecoder struct {
	b   []byte
	lim resp.Limits
}

// errClass names the kinds of failure the two decoders must agree on.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case err == io.EOF:
		return "EOF"
	case err == io.ErrUnexpectedEOF:
		return "unexpected EOF"
	case errors.Is(err, resp.ErrLimit):
		return "limit"
	case errors.Is(err, resp.ErrProtocol):
		return "protocol"
	}
	return "other: " + err.Error()
}

var (
	refEOF      = io.EOF
	refCut      = io.ErrUnexpectedEOF
	refProtocol = resp.ErrProtocol
	refLimit    = resp.ErrLimit
)

func (d *refDecoder) line(first bool) (string, error) {
	i := bytes.IndexByte(d.b, '\n')
	if i < 0 {
		switch {
		case len(d.b) > d.lim.MaxLine+2:
			return "", refLimit
		case len(d.b) == 0 && first:
			return "", refEOF
		}
		return "", refCut
	}
	if i > d.lim.MaxLine+2 {
		return "", refLimit
	}
	if i == 0 || d.b[i-1] != '\r' {
		return "", refProtocol
	}
	l := string(d.b[:i-1])
	d.b = d.b[i+1:]
	return l, nil
}

func (d *refDecoder) value(depth int) (resp.Value, error) {
	l, err := d.line(depth == 0)
	if err != nil {
		return resp.Value{}, err
	}
	if l == "" {
		return resp.Value{}, refProtocol
	}
	body := l[1:]
	switch l[0] {
	case '+', '-':
		if bytes.ContainsRune([]byte(body), '\r') {
			return resp.Value{}, refProtocol
		}
		return resp.Value{Kind: resp.Kind(l[0]), Str: body}, nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return resp.Value{}, refProtocol
		}
		return resp.Value{Kind: resp.KindInt, Int: n}, nil
	case '$', '*':
		kind := resp.Kind(l[0])
		if body == "-1" {
			return resp.Value{Kind: kind, Null: true}, nil
		}
		if body == "" || body[0] == '+' || body[0] == '-' {
			return resp.Value{}, refProtocol
		}
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return resp.Value{}, refProtocol
		}
		if kind == '$' {
			if n > int64(d.lim.MaxBulk) {
				return resp.Value{}, refLimit
			}
			if int64(len(d.b)) < n+2 {
				return resp.Value{}, refCut
			}
			if d.b[n] != '\r' || d.b[n+1] != '\n' {
				return resp.Value{}, refProtocol
			}
			s := string(d.b[:n])
			d.b = d.b[n+2:]
			return resp.Value{Kind: kind, Str: s}, nil
		}
		if n > int64(d.lim.MaxArray) {
			return resp.Value{}, refLimit
		}
		if depth+1 > d.lim.MaxDepth {
			return resp.Value{}, refLimit
		}
		v := resp.Value{Kind: kind, Elems: []resp.Value{}}
		for range n {
			e, err := d.value(depth + 1)
			if err != nil {
				return resp.Value{}, err
			}
			v.Elems = append(v.Elems, e)
		}
		return v, nil
	}
	return resp.Value{}, refProtocol
}

// equal compares values, taking an empty array as equal however its slice
// was made.
func equal(a, b resp.Value) bool {
	if a.Kind != b.Kind || a.Null != b.Null || a.Int != b.Int || a.Str != b.Str || len(a.Elems) != len(b.Elems) {
		return false
	}
	for i := range a.Elems {
		if !equal(a.Elems[i], b.Elems[i]) {
			return false
		}
	}
	return true
}

// FuzzReader feeds arbitrary bytes to a Reader with small limits, through
// buffers of different sizes, and checks that it never panics, agrees with
// refDecoder reply by reply and error by error, and that every reply it
// returns encodes (AppendValue) to bytes that read back as the same reply.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		"+OK\r\n", "-ERR x\r\n", ":-12\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*-1\r\n", "*0\r\n",
		"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", "*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", "$9\r\n123456789\r\n",
		"+" + string(bytes.Repeat([]byte("x"), 40)) + "\r\n", ":9223372036854775808\r\n",
		"+a\rb\r\n", "$2\r\nabc\r\n", "*3\r\n:1\r\n", "%1\r\n", "\r\n", "\n", "$-0\r\n", ":+0\r\n",
		"*3\r\n$7\r\nmessage\r\n$4\r\nroom\r\n$5\r\nhello\r\n",
	} {
		f.Add(byte(0), []byte(seed))
		f.Add(byte(1), []byte(seed))
	}
	lim := resp.Limits{MaxBulk: 64, MaxArray: 8, MaxDepth: 4, MaxLine: 32}
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		var src io.Reader = bytes.NewReader(data)
		if mode&1 != 0 {
			src = iotest.OneByteReader(src)
		}
		size := 16 << (mode >> 1 % 4) // 16, 32, 64 or 128 bytes
		r := resp.NewReader(bufio.NewReaderSize(src, size), lim)
		ref := &refDecoder{b: data, lim: lim}
		for i := 0; ; i++ {
			got, err := r.Read()
			want, wantErr := ref.value(0)
			if errClass(err) != errClass(wantErr) {
				t.Fatalf("reply %d: Reader: %#v, %v; reference: %#v, %v", i, got, err, want, wantErr)
			}
			if err != nil {
				return
			}
			if !equal(got, want) {
				t.Fatalf("reply %d: Reader %#v, reference %#v", i, got, want)
			}
			enc := resp.AppendValue(nil, got)
			back, err := resp.NewReader(bytes.NewReader(enc), lim).Read()
			if err != nil || !reflect.DeepEqual(back, got) && !equal(back, got) {
				t.Fatalf("reply %d: %#v encodes to %q, which reads back as %#v, %v", i, got, enc, back, err)
			}
		}
	})
}
