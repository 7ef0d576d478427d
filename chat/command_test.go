package chat

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in   string
		want Command
	}{
		{"hello", Command{CmdMessage, "hello"}},
		{"  spaced  ", Command{CmdMessage, "  spaced  "}},
		{"", Command{CmdMessage, ""}},
		{"//x", Command{CmdMessage, "/x"}},
		{"//", Command{CmdMessage, "/"}},
		{"/nick bob", Command{CmdNick, "bob"}},
		{"/NICK  bob ", Command{CmdNick, "bob"}},
		{"/nick", Command{CmdUsage, "usage: /nick NAME"}},
		{"/join #rust", Command{CmdJoin, "#rust"}},
		{"/join", Command{CmdUsage, "usage: /join ROOM"}},
		{"/who", Command{CmdWho, ""}},
		{"/who extra", Command{CmdWho, ""}},
		{"/me waves hello", Command{CmdMe, "waves hello"}},
		{"/me", Command{CmdUsage, "usage: /me ACTION"}},
		{"/help", Command{CmdHelp, ""}},
		{"/dance", Command{CmdUnknown, "dance"}},
		{"/", Command{CmdUnknown, ""}},
		{"/me\twaves", Command{CmdMe, "waves"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ParseCommand(tt.in); got != tt.want {
				t.Errorf("ParseCommand(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzParseCommand checks that any input parses to a known kind, that a
// message keeps the text exactly (but for the // escape), and that a
// command's argument is part of the input.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"hi", "/nick a", "//x", "/me", "/", "/join  #a b", "/\t", "/x\ny"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c := ParseCommand(in)
		switch c.Kind {
		case CmdMessage:
			want := in
			if strings.HasPrefix(in, "//") {
				want = in[1:]
			}
			if c.Arg != want {
				t.Fatalf("message %q parsed as %q", in, c.Arg)
			}
		case CmdNick, CmdJoin, CmdMe:
			if c.Arg == "" || c.Arg != strings.TrimSpace(c.Arg) {
				t.Fatalf("%q: argument %q empty or not trimmed", in, c.Arg)
			}
		case CmdWho, CmdHelp, CmdUsage, CmdUnknown:
		default:
			t.Fatalf("%q: unknown kind %d", in, c.Kind)
		}
		if utf8.ValidString(in) && !utf8.ValidString(c.Arg) {
			t.Fatalf("%q: valid input gave invalid argument %q", in, c.Arg)
		}
	})
}
