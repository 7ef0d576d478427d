package chat

import (
	"errors"
	"testing"
)

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"alice", "alice", nil},
		{"  bob  ", "bob", nil},
		{"Zoë", "Zoë", nil},
		{"日本", "日本", nil},
		{"", "", ErrNameEmpty},
		{"   ", "", ErrNameEmpty},
		{"a b", "", ErrNameChars},
		{"bad\x1b[2J", "", ErrNameChars},
		{"evil\u202Eman", "", ErrNameChars}, // right-to-left override
		{"zero\u200Bwidth", "", ErrNameChars},
		{"\xff", "", ErrNameInvalid},
		{"abcdefghijabcdefghijabcdefghijab", "abcdefghijabcdefghijabcdefghijab", nil},
		{"abcdefghijabcdefghijabcdefghijabc", "", ErrNameLong},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CleanName(tt.in)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("CleanName(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestCleanRoom(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"lobby", "lobby", nil},
		{"#Rust", "rust", nil},
		{"go-nuts_2.0", "go-nuts_2.0", nil},
		{"", "", ErrNameEmpty},
		{"#", "", ErrNameEmpty},
		{"a b", "", ErrRoomChars},
		{"a/b", "", ErrRoomChars},
		{"café", "café", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CleanRoom(tt.in)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("CleanRoom(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestNameKeyFoldsLookalikes(t *testing.T) {
	same := [][2]string{
		{"alice", "Alice"},
		{"alice", "ａｌｉｃｅ"},   // fullwidth
		{"alice", "аlice"},   // Cyrillic а
		{"paypal", "раураl"}, // Cyrillic р, а, у
		{"bob", "b0b"},
	}
	for _, p := range same {
		if nameKey(p[0]) != nameKey(p[1]) {
			t.Errorf("nameKey(%q) = %q, nameKey(%q) = %q; want equal", p[0], nameKey(p[0]), p[1], nameKey(p[1]))
		}
	}
	if nameKey("alice") == nameKey("alicia") {
		t.Error("different names share a key")
	}
}
