package redis_test

import (
	"strconv"
	"testing"

	"ringchat/chat/store/redis"
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
