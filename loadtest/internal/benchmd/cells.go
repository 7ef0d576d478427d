package benchmd

import (
	"path/filepath"
	"slices"
	"strings"

	"ringchat/loadtest/internal/humanize"
)

// CommandLine is a command line for a table cell: the program's base name
// and its arguments, quoted where a shell would need it; "-" for none.
func CommandLine(args []string) string {
	if len(args) == 0 {
		return "-"
	}
	a := slices.Clone(args)
	a[0] = filepath.Base(a[0])
	return ShellJoin(a)
}

// OrDash is s, or "-" when s is empty.
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Latency is a latency of ms milliseconds, out of samples samples, as a
// cell: "-" when there were none.
func Latency(samples uint64, ms float64) string {
	if samples == 0 {
		return "-"
	}
	return humanize.Ms(ms)
}

// ZeroOrBold is a count that should be zero: "0", or the count in bold.
func ZeroOrBold(n uint64) string {
	if n == 0 {
		return "0"
	}
	return "**" + humanize.Thousands(float64(n)) + "**"
}

// Escape keeps text from breaking a Markdown table cell.
func Escape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;").Replace(s)
}

// ShellJoin quotes args for a shell where they need it, for display.
func ShellJoin(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`^*?[]()|&;<>#~!") {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}
