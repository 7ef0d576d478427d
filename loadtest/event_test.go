package loadtest

import (
	"encoding/json"
	"testing"
)

func TestScanEvent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		typ    string
		text   string
		id     uint64
		missed int64
		bad    bool
	}{
		{name: "message", in: `{"type":"message","id":7,"room":"r","from":"a","text":"lt 1 2 3 xx","time":"2024-01-01T00:00:00.000Z"}`,
			typ: "message", text: "lt 1 2 3 xx", id: 7},
		{name: "any order, spaces", in: " {\n \"text\" : \"hi\" , \"id\":3, \"type\" : \"me\" } ", typ: "me", text: "hi", id: 3},
		{name: "welcome", in: `{"type":"welcome","name":"lt-1","room":"r","id":42,"epoch":"e1"}`, typ: "welcome", id: 42},
		{name: "gap", in: `{"type":"gap","missed":17}`, typ: "gap", missed: 17},
		{name: "who with arrays", in: `{"type":"who","names":["a","b]}","c\"{"],"count":3}`, typ: "who"},
		{name: "nested object", in: `{"x":{"type":"no","y":[1,{"z":"}"}]},"type":"error","text":"slow down"}`, typ: "error", text: "slow down"},
		{name: "escapes decoded", in: `{"type":"message","text":"a\"b\\c\u00e9\ud83d\ude00\/"}`, typ: "message", text: "a\"b\\cé😀/"},
		{name: "utf-8 kept", in: `{"type":"message","text":"héllo"}`, typ: "message", text: "héllo"},
		{name: "escaped key", in: `{"t\u0079pe":"join"}`, typ: "join"},
		{name: "last key wins", in: `{"type":"a","type":"b"}`, typ: "b"},
		{name: "non-string text", in: `{"type":"message","text":"x","text":5}`, typ: "message"},
		{name: "literals", in: `{"a":true,"b":null,"c":-1.5e3,"type":"leave"}`, typ: "leave"},
		{name: "negative id ignored", in: `{"type":"join","id":-4}`, typ: "join"},
		{name: "empty object", in: `{}`},
		{name: "not an object", in: `["type"]`, bad: true},
		{name: "truncated", in: `{"type":"mess`, bad: true},
		{name: "trailing garbage", in: `{"type":"x"} {}`, bad: true},
		{name: "missing colon", in: `{"type" "x"}`, bad: true},
		{name: "control char", in: "{\"type\":\"a\nb\"}", bad: true},
		{name: "empty", in: ``, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := ScanEvent([]byte(tc.in))
			if (err != nil) != tc.bad {
				t.Fatalf("error %v, want bad=%v", err, tc.bad)
			}
			if tc.bad {
				return
			}
			if string(ev.Type) != tc.typ || string(ev.Text) != tc.text || ev.ID != tc.id || ev.Missed != tc.missed {
				t.Errorf("got type %q text %q id %d missed %d; want %q %q %d %d",
					ev.Type, ev.Text, ev.ID, ev.Missed, tc.typ, tc.text, tc.id, tc.missed)
			}
		})
	}
}

func TestScanEventAllocs(t *testing.T) {
	frame := []byte(`{"type":"message","id":123456,"room":"loadtest-0","from":"lt-3","text":"lt 0a1b2c3d 3 99 1700000000000000000 xxxxxxxx","time":"2024-01-01T00:00:00.000Z"}`)
	if n := testing.AllocsPerRun(100, func() { ScanEvent(frame) }); n != 0 {
		t.Errorf("ScanEvent allocates %v times per plain message", n)
	}
}

// FuzzScanEvent checks ScanEvent against encoding/json on every valid JSON
// object: the same type and text, including escapes and invalid UTF-8.
func FuzzScanEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"message","id":1,"text":"lt a 1 2 3 x"}`,
		`{"type":"who","names":["a","b"],"count":2}`,
		`{"text":"\u00e9\"","type":"x","n":{"a":[1,2,{"b":null}]}}`,
		`{"type":"gap","missed":3}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ScanEvent(b)
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil || m == nil {
			return // ScanEvent may accept some invalid JSON; it need not
		}
		if err != nil {
			t.Fatalf("ScanEvent(%q) failed on a valid object: %v", b, err)
		}
		for _, c := range []struct {
			key string
			got []byte
		}{{"type", ev.Type}, {"text", ev.Text}} {
			var want string
			raw, ok := m[c.key]
			if ok && json.Unmarshal(raw, &want) != nil {
				ok = false // not a string
			}
			if !ok && c.got != nil || ok && string(c.got) != want {
				t.Errorf("%s: got %q (nil %v), want %q (present %v), in %q", c.key, c.got, c.got == nil, want, ok, b)
			}
		}
	})
}
