package resp

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// AppendCommand appends a command in RESP2 wire form — an array of bulk
// strings — to dst and returns the result. The first argument is the
// command's name. Arguments may be string, []byte, any integer type,
// float64, float32 and bool (1 or 0); anything else is an error, never a
// guess, and dst is then returned unchanged.
func AppendCommand(dst []byte, args ...any) ([]byte, error) {
	if len(args) == 0 {
		return dst, errors.New("resp: empty command")
	}
	start := len(dst)
	dst = appendHeader(dst, '*', len(args))
	var num [32]byte
	for i, a := range args {
		var b []byte
		switch a := a.(type) {
		case string:
			dst = appendBulk(dst, a)
			continue
		case []byte:
			dst = appendBulk(dst, a)
			continue
		case int:
			b = strconv.AppendInt(num[:0], int64(a), 10)
		case int64:
			b = strconv.AppendInt(num[:0], a, 10)
		case int32:
			b = strconv.AppendInt(num[:0], int64(a), 10)
		case int16:
			b = strconv.AppendInt(num[:0], int64(a), 10)
		case int8:
			b = strconv.AppendInt(num[:0], int64(a), 10)
		case uint:
			b = strconv.AppendUint(num[:0], uint64(a), 10)
		case uint64:
			b = strconv.AppendUint(num[:0], a, 10)
		case uint32:
			b = strconv.AppendUint(num[:0], uint64(a), 10)
		case uint16:
			b = strconv.AppendUint(num[:0], uint64(a), 10)
		case uint8:
			b = strconv.AppendUint(num[:0], uint64(a), 10)
		case float64:
			var err error
			if b, err = appendFloat(num[:0], a); err != nil {
				return dst[:start], err
			}
		case float32:
			var err error
			if b, err = appendFloat(num[:0], float64(a)); err != nil {
				return dst[:start], err
			}
		case bool:
			b = append(num[:0], '0')
			if a {
				b[0] = '1'
			}
		default:
			return dst[:start], fmt.Errorf("resp: argument %d of %s: unsupported type %T", i, commandName(args), a)
		}
		dst = appendBulk(dst, b)
	}
	return dst, nil
}

// appendFloat formats f as Redis parses it: the shortest decimal that
// reads back exactly, or inf and -inf.
func appendFloat(dst []byte, f float64) ([]byte, error) {
	switch {
	case math.IsNaN(f):
		return dst, errors.New("resp: NaN argument")
	case math.IsInf(f, 1):
		return append(dst, "inf"...), nil
	case math.IsInf(f, -1):
		return append(dst, "-inf"...), nil
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
}

func appendBulk[T string | []byte](dst []byte, s T) []byte {
	dst = appendHeader(dst, '$', len(s))
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

// commandName returns the command's name for error messages: its first
// argument if that is a string.
func commandName(args []any) string {
	if len(args) > 0 {
		if s, ok := args[0].(string); ok {
			return s
		}
	}
	return "command"
}
