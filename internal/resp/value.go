package resp

import (
	"fmt"
	"strconv"
)

// Kind is the RESP2 type of a reply, named by the byte that starts it on
// the wire.
type Kind byte

// The five RESP2 types.
const (
	KindSimple Kind = '+' // simple string: +OK
	KindError  Kind = '-' // error: -ERR unknown command
	KindInt    Kind = ':' // integer: :42
	KindBulk   Kind = '$' // bulk string: $5 hello, or null: $-1
	KindArray  Kind = '*' // array: *2 ..., or null: *-1
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindSimple:
		return "simple string"
	case KindError:
		return "error"
	case KindInt:
		return "integer"
	case KindBulk:
		return "bulk string"
	case KindArray:
		return "array"
	}
	return fmt.Sprintf("kind %q", byte(k))
}

// Value is one reply. Which fields mean something depends on Kind: Str for
// simple strings, errors and bulk strings, Int for integers, Elems for
// arrays; Null marks the null bulk string and the null array.
type Value struct {
	Kind  Kind
	Null  bool
	Int   int64
	Str   string
	Elems []Value
}

// IsNull reports whether v is a null bulk string or a null array.
func (v Value) IsNull() bool { return v.Null }

// Err returns v as an *Error if it is an error reply, else nil. Replies
// inside an array or a pipeline carry their own errors this way.
func (v Value) Err() error {
	if v.Kind == KindError {
		return &Error{Msg: v.Str}
	}
	return nil
}

// String converts a reply to a string: a simple or bulk string as it is, an
// integer in decimal. It passes err through, so it wraps a call:
//
//	name, err := resp.String(c.Do(ctx, "GET", "name"))
//
// A null reply gives ErrNil; an error reply its *Error.
func String(v Value, err error) (string, error) {
	if err != nil {
		return "", err
	}
	switch {
	case v.Kind == KindError:
		return "", v.Err()
	case v.Null:
		return "", ErrNil
	case v.Kind == KindSimple || v.Kind == KindBulk:
		return v.Str, nil
	case v.Kind == KindInt:
		return strconv.FormatInt(v.Int, 10), nil
	}
	return "", fmt.Errorf("resp: %v reply where a string was expected", v.Kind)
}

// Int64 converts a reply to an integer: an integer as it is, a simple or
// bulk string holding a decimal integer parsed. It passes err through, like
// String.
func Int64(v Value, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	switch {
	case v.Kind == KindError:
		return 0, v.Err()
	case v.Null:
		return 0, ErrNil
	case v.Kind == KindInt:
		return v.Int, nil
	case v.Kind == KindSimple || v.Kind == KindBulk:
		n, perr := strconv.ParseInt(v.Str, 10, 64)
		if perr != nil {
			return 0, fmt.Errorf("resp: reply %q is not an integer", v.Str)
		}
		return n, nil
	}
	return 0, fmt.Errorf("resp: %v reply where an integer was expected", v.Kind)
}

// Strings converts an array reply to its elements as strings (see String);
// a null element becomes "". A null array gives ErrNil. It passes err
// through, like String.
func Strings(v Value, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	switch {
	case v.Kind == KindError:
		return nil, v.Err()
	case v.Null:
		return nil, ErrNil
	case v.Kind != KindArray:
		return nil, fmt.Errorf("resp: %v reply where an array was expected", v.Kind)
	}
	out := make([]string, len(v.Elems))
	for i, e := range v.Elems {
		if e.Null {
			continue
		}
		s, err := String(e, nil)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// AppendValue appends v in RESP2 wire form to dst and returns the result.
// It is the inverse of Reader.Read for every value Read returns; a simple
// string or error holding CR or LF, which RESP cannot carry, has those
// bytes replaced by spaces.
func AppendValue(dst []byte, v Value) []byte {
	switch v.Kind {
	case KindSimple, KindError:
		dst = append(dst, byte(v.Kind))
		for i := 0; i < len(v.Str); i++ {
			c := v.Str[i]
			if c == '\r' || c == '\n' {
				c = ' '
			}
			dst = append(dst, c)
		}
		return append(dst, '\r', '\n')
	case KindInt:
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, v.Int, 10)
		return append(dst, '\r', '\n')
	case KindBulk:
		if v.Null {
			return append(dst, "$-1\r\n"...)
		}
		dst = appendHeader(dst, '$', len(v.Str))
		dst = append(dst, v.Str...)
		return append(dst, '\r', '\n')
	case KindArray:
		if v.Null {
			return append(dst, "*-1\r\n"...)
		}
		dst = appendHeader(dst, '*', len(v.Elems))
		for _, e := range v.Elems {
			dst = AppendValue(dst, e)
		}
		return dst
	}
	panic(fmt.Sprintf("resp: AppendValue of unknown %v", v.Kind))
}

func appendHeader(dst []byte, kind byte, n int) []byte {
	dst = append(dst, kind)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}
