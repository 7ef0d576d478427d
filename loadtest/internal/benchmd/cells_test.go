package benchmd

import "testing"

func TestCells(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{CommandLine([]string{"/x/bin/server", "-addr", "{addr}", "-name", "a b"}), "server -addr {addr} -name 'a b'"},
		{CommandLine(nil), "-"},
		{ShellJoin([]string{"test", "-run", "^$", "it's"}), `test -run '^$' 'it'\''s'`},
		{OrDash(""), "-"},
		{Latency(0, 5), "-"},
		{Latency(3, 5), "5.00ms"},
		{ZeroOrBold(0), "0"},
		{ZeroOrBold(1234), "**1,234**"},
		{Escape("a|b\n<c>"), `a\|b &lt;c>`},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
