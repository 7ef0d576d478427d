package resp_test

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"ringchat/internal/resp"
)

func bulk(s string) resp.Value   { return resp.Value{Kind: resp.KindBulk, Str: s} }
func simple(s string) resp.Value { return resp.Value{Kind: resp.KindSimple, Str: s} }
func integer(n int64) resp.Value { return resp.Value{Kind: resp.KindInt, Int: n} }
func array(e ...resp.Value) resp.Value {
	if e == nil {
		e = []resp.Value{}
	}
	return resp.Value{Kind: resp.KindArray, Elems: e}
}

var (
	nullBulk  = resp.Value{Kind: resp.KindBulk, Null: true}
	nullArray = resp.Value{Kind: resp.KindArray, Null: true}
)

func TestReadValid(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     resp.Value
	}{
		{"simple", "+OK\r\n", simple("OK")},
		{"empty simple", "+\r\n", simple("")},
		{"error", "-WRONGTYPE Operation against a key\r\n", resp.Value{Kind: resp.KindError, Str: "WRONGTYPE Operation against a key"}},
		{"zero", ":0\r\n", integer(0)},
		{"negative", ":-42\r\n", integer(-42)},
		{"plus sign", ":+7\r\n", integer(7)},
		{"leading zeros", ":007\r\n", integer(7)},
		{"max int64", ":9223372036854775807\r\n", integer(1<<63 - 1)},
		{"min int64", ":-9223372036854775808\r\n", integer(-1 << 63)},
		{"bulk", "$5\r\nhello\r\n", bulk("hello")},
		{"empty bulk", "$0\r\n\r\n", bulk("")},
		{"binary bulk", "$6\r\na\r\n\x00\xff\r\r\n", bulk("a\r\n\x00\xff\r")},
		{"null bulk", "$-1\r\n", nullBulk},
		{"empty array", "*0\r\n", array()},
		{"null array", "*-1\r\n", nullArray},
		{"array", "*3\r\n$1\r\na\r\n:1\r\n+b\r\n", array(bulk("a"), integer(1), simple("b"))},
		{"nested", "*2\r\n*1\r\n+x\r\n*0\r\n", array(array(simple("x")), array())},
		{"nulls and errors inside", "*3\r\n$-1\r\n*-1\r\n-ERR no\r\n", array(nullBulk, nullArray, resp.Value{Kind: resp.KindError, Str: "ERR no"})},
		{"xrange entry", "*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\ne\r\n$2\r\n{}\r\n",
			array(array(bulk("1-0"), array(bulk("e"), bulk("{}"))))},
		{"long simple line", "+" + strings.Repeat("x", 10000) + "\r\n", simple(strings.Repeat("x", 10000))},
		{"large bulk", "$100000\r\n" + strings.Repeat("y", 100000) + "\r\n", bulk(strings.Repeat("y", 100000))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := resp.NewReader(strings.NewReader(tc.in), resp.Limits{})
			got, err := r.Read()
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Read = %#v, want %#v", got, tc.want)
			}
			if _, err := r.Read(); err != io.EOF {
				t.Fatalf("second Read: %v, want io.EOF", err)
			}
		})
	}
}

func TestReadMalformed(t *testing.T) {
	small := resp.Limits{MaxBulk: 8, MaxArray: 4, MaxDepth: 3, MaxLine: 16}
	for _, tc := range []struct {
		name, in string
		lim      resp.Limits
		want     error
	}{
		{"nothing", "", resp.Limits{}, io.EOF},
		{"no CRLF at end", "+OK", resp.Limits{}, io.ErrUnexpectedEOF},
		{"LF alone", "+OK\n", resp.Limits{}, resp.ErrProtocol},
		{"LF inside simple", "+O\nK\r\n", resp.Limits{}, resp.ErrProtocol},
		{"CR inside simple", "+O\rK\r\n", resp.Limits{}, resp.ErrProtocol},
		{"CR inside error", "-E\rR\r\n", resp.Limits{}, resp.ErrProtocol},
		{"empty line", "\r\n", resp.Limits{}, resp.ErrProtocol},
		{"unknown type", "?x\r\n", resp.Limits{}, resp.ErrProtocol},
		{"inline command", "PING\r\n", resp.Limits{}, resp.ErrProtocol},
		{"RESP3 null", "_\r\n", resp.Limits{}, resp.ErrProtocol},
		{"RESP3 map", "%1\r\n+a\r\n+b\r\n", resp.Limits{}, resp.ErrProtocol},
		{"RESP3 push", ">2\r\n+a\r\n+b\r\n", resp.Limits{}, resp.ErrProtocol},
		{"RESP3 double", ",1.5\r\n", resp.Limits{}, resp.ErrProtocol},
		{"empty integer", ":\r\n", resp.Limits{}, resp.ErrProtocol},
		{"sign alone", ":-\r\n", resp.Limits{}, resp.ErrProtocol},
		{"letters", ":12a\r\n", resp.Limits{}, resp.ErrProtocol},
		{"space", ": 1\r\n", resp.Limits{}, resp.ErrProtocol},
		{"fraction", ":1.5\r\n", resp.Limits{}, resp.ErrProtocol},
		{"overflow", ":9223372036854775808\r\n", resp.Limits{}, resp.ErrProtocol},
		{"underflow", ":-9223372036854775809\r\n", resp.Limits{}, resp.ErrProtocol},
		{"bulk -2", "$-2\r\n", resp.Limits{}, resp.ErrProtocol},
		{"bulk -0", "$-0\r\n\r\n", resp.Limits{}, resp.ErrProtocol},
		{"bulk +1", "$+1\r\na\r\n", resp.Limits{}, resp.ErrProtocol},
		{"bulk no length", "$\r\n", resp.Limits{}, resp.ErrProtocol},
		{"bulk length overflow", "$99999999999999999999\r\n", resp.Limits{}, resp.ErrProtocol},
		{"bulk too long for its CRLF", "$2\r\nabc\r\n", resp.Limits{}, resp.ErrProtocol},
		{"bulk cut", "$5\r\nab", resp.Limits{}, io.ErrUnexpectedEOF},
		{"bulk without CRLF", "$2\r\nab", resp.Limits{}, io.ErrUnexpectedEOF},
		{"array -2", "*-2\r\n", resp.Limits{}, resp.ErrProtocol},
		{"array cut", "*2\r\n:1\r\n", resp.Limits{}, io.ErrUnexpectedEOF},
		{"bad element", "*1\r\n?\r\n", resp.Limits{}, resp.ErrProtocol},
		{"bulk over limit", "$9\r\n123456789\r\n", small, resp.ErrLimit},
		{"array over limit", "*5\r\n", small, resp.ErrLimit},
		{"too deep", "*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", small, resp.ErrLimit},
		{"line over limit", "+" + strings.Repeat("x", 17) + "\r\n", small, resp.ErrLimit},
		{"line over limit, cut", "+" + strings.Repeat("x", 20), small, resp.ErrLimit},
		{"line over default limit", "+" + strings.Repeat("x", 70000) + "\r\n", resp.Limits{}, resp.ErrLimit},
		{"endless line", "+" + strings.Repeat("x", 1<<20), resp.Limits{}, resp.ErrLimit},
		{"huge bulk header", "$1000000000\r\n", resp.Limits{}, resp.ErrLimit},
		{"huge array header", "*1000000000\r\n", resp.Limits{}, resp.ErrLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resp.NewReader(strings.NewReader(tc.in), tc.lim).Read()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read(%.40q) = %v, want %v", tc.in, err, tc.want)
			}
			if err != io.EOF && !strings.HasPrefix(err.Error(), "resp: ") && err != io.ErrUnexpectedEOF {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestReadAtLimits(t *testing.T) {
	small := resp.Limits{MaxBulk: 8, MaxArray: 4, MaxDepth: 3, MaxLine: 16}
	for _, in := range []string{
		"$8\r\n12345678\r\n",
		"*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n",
		"*1\r\n*1\r\n*1\r\n:1\r\n",
		"+" + strings.Repeat("x", 16) + "\r\n",
		"*1\r\n*1\r\n*1\r\n*-1\r\n", // a null array is not nesting
	} {
		if _, err := resp.NewReader(strings.NewReader(in), small).Read(); err != nil {
			t.Errorf("Read(%q) at the limits: %v", in, err)
		}
	}
}

// Lines and bulk strings that span many fills of a small buffer read the
// same as from one.
func TestReadSmallBuffer(t *testing.T) {
	in := "+" + strings.Repeat("a", 100) + "\r\n$50\r\n" + strings.Repeat("b", 50) + "\r\n*2\r\n:123456789\r\n$0\r\n\r\n"
	r := resp.NewReader(bufio.NewReaderSize(strings.NewReader(in), 16), resp.Limits{})
	want := []resp.Value{simple(strings.Repeat("a", 100)), bulk(strings.Repeat("b", 50)), array(integer(123456789), bulk(""))}
	for i, w := range want {
		got, err := r.Read()
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Fatalf("reply %d: %#v, %v; want %#v", i, got, err, w)
		}
	}
}

func TestAppendValueRoundTrip(t *testing.T) {
	for _, v := range []resp.Value{
		simple("OK"), simple(""), integer(-1 << 63), bulk(""), bulk("a\r\nb"), nullBulk, nullArray,
		resp.Value{Kind: resp.KindError, Str: "ERR x"},
		array(), array(bulk("x"), array(integer(1), nullBulk), resp.Value{Kind: resp.KindError, Str: "E"}),
	} {
		b := resp.AppendValue(nil, v)
		got, err := resp.NewReader(strings.NewReader(string(b)), resp.Limits{}).Read()
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("%q read back as %#v, %v; want %#v", b, got, err, v)
		}
	}
	if got := string(resp.AppendValue(nil, simple("a\r\nb"))); got != "+a  b\r\n" {
		t.Errorf("simple string with CRLF encoded as %q", got)
	}
}

func TestConversions(t *testing.T) {
	boom := errors.New("boom")
	errReply := resp.Value{Kind: resp.KindError, Str: "WRONGTYPE wrong"}
	if s, err := resp.String(bulk("x"), nil); s != "x" || err != nil {
		t.Errorf("String(bulk) = %q, %v", s, err)
	}
	if s, err := resp.String(integer(5), nil); s != "5" || err != nil {
		t.Errorf("String(int) = %q, %v", s, err)
	}
	if _, err := resp.String(nullBulk, nil); err != resp.ErrNil {
		t.Errorf("String(null) error %v", err)
	}
	if _, err := resp.String(bulk("x"), boom); err != boom {
		t.Errorf("String passes %v, want boom", err)
	}
	if _, err := resp.String(errReply, nil); !resp.HasPrefix(err, "WRONGTYPE") {
		t.Errorf("String(error reply) = %v", err)
	}
	if _, err := resp.String(array(), nil); err == nil {
		t.Error("String(array) gave no error")
	}
	if n, err := resp.Int64(bulk("-12"), nil); n != -12 || err != nil {
		t.Errorf("Int64(bulk) = %d, %v", n, err)
	}
	if _, err := resp.Int64(bulk("x"), nil); err == nil {
		t.Error("Int64(\"x\") gave no error")
	}
	if _, err := resp.Int64(nullBulk, nil); err != resp.ErrNil {
		t.Errorf("Int64(null) error %v", err)
	}
	ss, err := resp.Strings(array(bulk("a"), nullBulk, integer(3)), nil)
	if err != nil || !reflect.DeepEqual(ss, []string{"a", "", "3"}) {
		t.Errorf("Strings = %q, %v", ss, err)
	}
	if _, err := resp.Strings(nullArray, nil); err != resp.ErrNil {
		t.Errorf("Strings(null) error %v", err)
	}
	var e *resp.Error
	if err := errReply.Err(); !errors.As(err, &e) || e.Prefix() != "WRONGTYPE" || err.Error() != "resp: WRONGTYPE wrong" {
		t.Errorf("Err() = %v", err)
	}
}
