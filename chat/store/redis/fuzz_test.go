package redis_test

import (
	"bytes"
	"strconv"
	"testing"

	"ringchat/chat/store/redis"
	"ringchat/internal/resp"
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name, msg string
		ok        bool
		id        uint64
		epoch     string
		body      string
	}{
		{"an event", `7 0123abcd {"type":"message","id":7}`, true, 7, "0123abcd", `{"type":"message","id":7}`},
		{"spaces in the body", `12 e {"text":"a b  c"}`, true, 12, "e", `{"text":"a b  c"}`},
		{"the largest id", "18446744073709551615 e {}", true, 1<<64 - 1, "e", "{}"},
		{"id overflows", "18446744073709551616 e {}", false, 0, "", ""},
		{"id zero", "0 e {}", false, 0, "", ""},
		{"leading zero", "07 e {}", false, 0, "", ""},
		{"signed id", "+7 e {}", false, 0, "", ""},
		{"no epoch", "7  {}", false, 0, "", ""},
		{"no body", "7 e ", false, 0, "", ""},
		{"no fields", "7", false, 0, "", ""},
		{"empty", "", false, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, epoch, body, err := redis.ParseMessage(tt.msg)
			if (err == nil) != tt.ok || id != tt.id || epoch != tt.epoch || body != tt.body {
				t.Fatalf("ParseMessage(%q) = %d, %q, %q, %v", tt.msg, id, epoch, body, err)
			}
		})
	}
}

// FuzzParseMessage: the parser of the rooms' channel messages never
// panics, and what it accepts it gives back as appendMessage wrote it.
func FuzzParseMessage(f *testing.F) {
	f.Add(`7 0123abcd {"type":"message","id":7}`)
	f.Add("1 e x")
	f.Add("99999999999999999999 e x")
	f.Add(" ")
	f.Fuzz(func(t *testing.T, msg string) {
		id, epoch, body, err := redis.ParseMessage(msg)
		if err != nil {
			return
		}
		if again := string(redis.AppendMessage(nil, id, epoch, []byte(body))); again != msg {
			t.Fatalf("ParseMessage(%q) = %d, %q, %q, which make %q", msg, id, epoch, body, again)
		}
		if strconv.FormatUint(id, 10) == "0" {
			t.Fatalf("id 0 accepted from %q", msg)
		}
	})
}

// FuzzParseEntries: whatever a server answers to XRANGE, the parser of
// stream entries neither panics nor accepts an entry without its id, time
// and body.
func FuzzParseEntries(f *testing.F) {
	f.Add([]byte("*1\r\n*2\r\n$3\r\n7-0\r\n*4\r\n$4\r\ntime\r\n$2\r\n42\r\n$4\r\nbody\r\n$2\r\n{}\r\n"))
	f.Add([]byte("*0\r\n"))
	f.Add([]byte("*1\r\n*2\r\n$3\r\n7-1\r\n*0\r\n"))
	f.Add([]byte("*-1\r\n"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		v, err := resp.NewReader(bytes.NewReader(reply), resp.Limits{}).Read()
		if err != nil {
			return
		}
		ids, _, _, err := redis.ParseEntries(v)
		if err != nil {
			return
		}
		if len(ids) != len(v.Elems) {
			t.Fatalf("%d entries from %d elements", len(ids), len(v.Elems))
		}
		for _, id := range ids {
			if id == 0 {
				t.Fatalf("entry id 0 accepted from %q", reply)
			}
		}
	})
}
