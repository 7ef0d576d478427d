package loadtest

import (
	"strings"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	p := newPayload(MinSize, "0a1b2c3d", MaxClients)
	for _, tc := range []struct {
		seq   uint64
		nanos int64
	}{
		{1<<63 - 1, 1<<63 - 1}, // longest header first: the next must overwrite it
		{0, 1},
		{12345, 1700000000123456789},
	} {
		text := p.text(tc.seq, tc.nanos)
		if len(text) != MinSize {
			t.Fatalf("text %q is %d bytes, want %d", text, len(text), MinSize)
		}
		s, ours, ok := parseText(text, "0a1b2c3d")
		if !ours || !ok || s != (stamp{sender: MaxClients, seq: tc.seq, nanos: tc.nanos}) {
			t.Errorf("parse(%q) = %+v %v %v", text, s, ours, ok)
		}
		pad := string(text[strings.LastIndexByte(string(text), ' ')+1:])
		if strings.Count(string(text), " ") != 5 || pad == "" || strings.Trim(pad, "x") != "" {
			t.Errorf("text %q is not header plus padding", text)
		}
	}
}

func TestParseText(t *testing.T) {
	for _, tc := range []struct {
		in       string
		ours, ok bool
	}{
		{"lt run1 1 2 3 xxx", true, true},
		{"lt run1 1 2 3 ", true, true},
		{"hello", false, false},
		{"lt run2 1 2 3 xxx", false, false},
		{"lt run12 1 2 3 xxx", false, false},
		{"lt run1 1 2 3", true, false},
		{"lt run1 1 2 x xxx", true, false},
		{"lt run1 1  2 3 xxx", true, false},
		{"lt run1 10000000 2 3 xxx", true, false},
		{"lt run1 1 2 12345678901234567890 xxx", true, false},
	} {
		_, ours, ok := parseText([]byte(tc.in), "run1")
		if ours != tc.ours || ok != tc.ok {
			t.Errorf("parseText(%q): ours %v ok %v, want %v %v", tc.in, ours, ok, tc.ours, tc.ok)
		}
	}
}
