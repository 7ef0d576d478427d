package chat

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestEventAppendJSON(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{"message", Event{Type: TypeMessage, ID: 7, Room: "lobby", From: "alice", Text: "hi", Time: "2026-11-26T00:00:00.000Z"},
			`{"type":"message","id":7,"room":"lobby","from":"alice","text":"hi","time":"2026-11-26T00:00:00.000Z"}`},
		{"html is not escaped", Event{Type: TypeMessage, Text: `<img src=x onerror=alert(1)> & "q"`},
			`{"type":"message","text":"<img src=x onerror=alert(1)> & \"q\""}`},
		{"control characters", Event{Type: TypeMessage, Text: "a\nb\tc\x00\x1f\\"},
			`{"type":"message","text":"a\nb\tc\u0000\u001f\\"}`},
		{"unicode kept", Event{Type: TypeMessage, Text: "héllo 🌍 \u2028"},
			"{\"type\":\"message\",\"text\":\"héllo 🌍 \u2028\"}"},
		{"who", Event{Type: TypeWho, Room: "r", Names: []string{"a", "b"}, Count: 2},
			`{"type":"who","room":"r","names":["a","b"],"count":2}`},
		{"gap", Event{Type: TypeGap, Room: "r", Missed: 12}, `{"type":"gap","room":"r","missed":12}`},
		{"welcome", Event{Type: TypeWelcome, Name: "n", Room: "r", ID: 3, Epoch: "e1", Session: "s1", Limits: &Limits{Rate: 2.5, Burst: 20, MaxMessage: 4096}},
			`{"type":"welcome","id":3,"room":"r","name":"n","epoch":"e1","session":"s1","limits":{"rate":2.5,"burst":20,"max_message":4096}}`},
		{"ack", Event{Type: TypeAck, ID: 42, Room: "lobby", CID: "c17"}, `{"type":"ack","id":42,"room":"lobby","cid":"c17"}`},
		{"refusal", Event{Type: TypeError, Text: "slow down", CID: "c\"1", Reason: ReasonRateLimited, RetryAfterMs: 400},
			`{"type":"error","text":"slow down","cid":"c\"1","reason":"rate_limited","retry_after_ms":400}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.e.AppendJSON(nil))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			var back Event
			if err := json.Unmarshal([]byte(got), &back); err != nil {
				t.Fatalf("encoding/json cannot decode %s: %v", got, err)
			}
			if !reflect.DeepEqual(back, tt.e) {
				t.Errorf("round trip: got %+v, want %+v", back, tt.e)
			}
		})
	}
}

// FuzzEventJSON checks the hand-written encoder against encoding/json: any
// valid UTF-8 text must come back exactly.
func FuzzEventJSON(f *testing.F) {
	for _, s := range []string{"", "hi", "<b>", `"\`, "\x00\x7f\u2028\u2029", "日本語", "\xff"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, text, from string) {
		e := Event{Type: TypeMessage, ID: 1, From: from, Text: text}
		b := e.AppendJSON(nil)
		var back Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("invalid JSON %q: %v", b, err)
		}
		// encoding/json turns invalid UTF-8 into U+FFFD; so do we.
		want, _ := json.Marshal(text)
		var wantText string
		json.Unmarshal(want, &wantText)
		if back.Text != wantText {
			t.Fatalf("text %q came back as %q, want %q", text, back.Text, wantText)
		}
	})
}
