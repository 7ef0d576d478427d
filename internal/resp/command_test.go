package resp_test

import (
	"math"
	"strings"
	"testing"

	"ringchat/internal/resp"
)

func TestAppendCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []any
		want string
	}{
		{"name only", []any{"PING"}, "*1\r\n$4\r\nPING\r\n"},
		{"strings and bytes", []any{"SET", "k", []byte("v\r\n")}, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n"},
		{"empty argument", []any{"SET", "k", ""}, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"},
		{"integers", []any{"X", -1, int64(1 << 62), int8(-8), uint8(255), uint64(math.MaxUint64)},
			"*6\r\n$1\r\nX\r\n$2\r\n-1\r\n$19\r\n4611686018427387904\r\n$2\r\n-8\r\n$3\r\n255\r\n$20\r\n18446744073709551615\r\n"},
		{"floats", []any{"X", 1.5, float32(0.25), math.Inf(1), math.Inf(-1)},
			"*5\r\n$1\r\nX\r\n$3\r\n1.5\r\n$4\r\n0.25\r\n$3\r\ninf\r\n$4\r\n-inf\r\n"},
		{"bools", []any{"X", true, false}, "*3\r\n$1\r\nX\r\n$1\r\n1\r\n$1\r\n0\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resp.AppendCommand([]byte("prefix"), tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix"+tc.want {
				t.Fatalf("got %q, want %q", got, "prefix"+tc.want)
			}
		})
	}
}

func TestAppendCommandRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []any
		want string
	}{
		{"empty", nil, "empty command"},
		{"nil argument", []any{"SET", "k", nil}, "argument 2 of SET: unsupported type <nil>"},
		{"struct", []any{"SET", struct{}{}}, "unsupported type struct {}"},
		{"NaN", []any{"ZADD", "k", math.NaN(), "m"}, "NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resp.AppendCommand([]byte("keep"), tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "resp: ") {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if string(got) != "keep" {
				t.Fatalf("dst became %q, want it unchanged", got)
			}
		})
	}
}

func TestPipelineEncodingError(t *testing.T) {
	var p resp.Pipeline
	p.Add("SET", "a", 1)
	p.Add("SET", "b", nil)
	p.Add("SET", "c", 3)
	if p.Len() != 1 {
		t.Fatalf("Len = %d after a refused command, want 1", p.Len())
	}
	p.Reset()
	p.Add("PING")
	if p.Len() != 1 {
		t.Fatalf("Len = %d after Reset and Add, want 1", p.Len())
	}
}
