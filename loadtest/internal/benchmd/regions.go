package benchmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func regionBegin(name string) string { return "<!-- bench:" + name + ":begin -->" }
func regionEnd(name string) string   { return "<!-- bench:" + name + ":end -->" }

// ErrRegions is wrapped by RewriteRegions's errors: the document's markers
// are not well formed, and it is left alone rather than damaged.
var ErrRegions = errors.New("loadtest: malformed bench regions")

// RewriteRegions returns doc with the content of each region named in
// regions replaced. A region whose markers doc lacks is appended at the
// end: those named in order first, in that order, then the others by
// name. A marker counts only on a line of its own (leading and trailing
// blanks allowed), so prose can mention one. RewriteRegions fails, wrapping
// ErrRegions, when a line holds nothing but a malformed bench marker, when
// a region appears twice, begins inside another, or lacks its begin or its
// end; the document is then returned unchanged.
func RewriteRegions(doc string, regions map[string]string, order []string) (string, error) {
	names := make([]string, 0, len(regions))
	for name := range regions {
		if !validRegionName(name) {
			return doc, fmt.Errorf("%w: bad region name %q", ErrRegions, name)
		}
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := regionOrder(order, a) - regionOrder(order, b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	lines := strings.SplitAfter(doc, "\n")
	spans, err := findRegions(lines)
	if err != nil {
		return doc, err
	}
	var b strings.Builder
	var tail []string
	at := 0 // lines before at are written
	for _, sp := range spans {
		body, ok := regions[sp.name]
		if !ok {
			continue
		}
		for _, l := range lines[at : sp.begin+1] {
			b.WriteString(l)
		}
		if !strings.HasSuffix(lines[sp.begin], "\n") {
			b.WriteByte('\n')
		}
		b.WriteString(regionBody(body))
		at = sp.end
	}
	for _, l := range lines[at:] {
		b.WriteString(l)
	}
	for _, name := range names {
		if !slices.ContainsFunc(spans, func(sp regionSpan) bool { return sp.name == name }) {
			tail = append(tail, name)
		}
	}
	out := b.String()
	for _, name := range tail {
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		if out != "" {
			out += "\n"
		}
		out += regionBegin(name) + "\n" + regionBody(regions[name]) + regionEnd(name) + "\n"
	}
	return out, nil
}

// regionBody is a region's content as written: ending in a newline unless
// empty.
func regionBody(body string) string {
	body = strings.TrimRight(body, "\n")
	if body == "" {
		return ""
	}
	return body + "\n"
}

func validRegionName(name string) bool {
	return name != "" && !strings.ContainsAny(name, ": \t\n") && !strings.Contains(name, "-->")
}

// regionOrder sorts the regions named in order first, in that order.
func regionOrder(order []string, name string) int {
	if i := slices.Index(order, name); i >= 0 {
		return i
	}
	return len(order)
}

// regionSpan is a region of a document split into lines: the indexes of
// its begin and end marker lines.
type regionSpan struct {
	name       string
	begin, end int
}

// findRegions returns the regions of lines, in order, checking that they
// pair up: each region once, begin before end, not nested.
func findRegions(lines []string) ([]regionSpan, error) {
	var spans []regionSpan
	open := -1 // index in spans of the region begun and not yet ended
	for n, line := range lines {
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "<!-- bench:") {
			continue
		}
		name, kind, ok := parseMarker(t)
		if !ok {
			if strings.HasSuffix(t, "-->") && !strings.Contains(t[len("<!-- bench:"):], "<!--") {
				return nil, fmt.Errorf("%w: line %d: %q is not a bench marker (<!-- bench:NAME:begin --> or :end)", ErrRegions, n+1, t)
			}
			continue // prose that mentions a marker
		}
		switch {
		case kind == "begin" && open >= 0:
			return nil, fmt.Errorf("%w: line %d: region %q begins inside %q", ErrRegions, n+1, name, spans[open].name)
		case kind == "begin" && slices.ContainsFunc(spans, func(sp regionSpan) bool { return sp.name == name }):
			return nil, fmt.Errorf("%w: line %d: region %q appears twice", ErrRegions, n+1, name)
		case kind == "begin":
			spans = append(spans, regionSpan{name: name, begin: n, end: -1})
			open = len(spans) - 1
		case open < 0 || spans[open].name != name:
			return nil, fmt.Errorf("%w: line %d: end of region %q without its begin", ErrRegions, n+1, name)
		default:
			spans[open].end = n
			open = -1
		}
	}
	if open >= 0 {
		return nil, fmt.Errorf("%w: region %q has no end", ErrRegions, spans[open].name)
	}
	return spans, nil
}

func parseMarker(t string) (name, kind string, ok bool) {
	rest, ok := strings.CutPrefix(t, "<!-- bench:")
	if !ok {
		return "", "", false
	}
	rest, ok = strings.CutSuffix(rest, " -->")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", "", false
	}
	name, kind = rest[:i], rest[i+1:]
	if !validRegionName(name) || kind != "begin" && kind != "end" {
		return "", "", false
	}
	return name, kind, true
}

// UpdateFile is RewriteFile of the file at path as it is, or of newDoc
// when there is no such file yet.
func UpdateFile(path, newDoc string, regions map[string]string, order []string) error {
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		old = []byte(newDoc)
	case err != nil:
		return fmt.Errorf("loadtest: %w", err)
	}
	return RewriteFile(path, string(old), regions, order)
}

// RewriteFile rewrites regions of doc, the contents of the file at path, as
// RewriteRegions does, and replaces the file with the result atomically: a
// failure, or markers that RewriteRegions refuses, leave the old file as it
// was.
func RewriteFile(path, doc string, regions map[string]string, order []string) error {
	doc, err := RewriteRegions(doc, regions, order)
	if err != nil {
		return fmt.Errorf("%w (in %s)", err, path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bench-*.md")
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	_, err = tmp.WriteString(doc)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("loadtest: %w", err)
	}
	return nil
}
