// Package promtext reads the Prometheus text exposition format that
// ringchat's /metrics serves, for the load tools that read a server's
// figures from it: the generator (its CPU and memory) and the soak (its
// goroutines, heap, connections, closes and refusals).
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Scan reads Prometheus text exposition format from r and calls sample for
// every sample line: its metric name, the value of its first label ("" if
// none) and its value. Comments and lines it cannot read are skipped. The
// error is r's, or that of a line longer than 1 MiB.
func Scan(r io.Reader, sample func(name, label string, value float64)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		// name [{labels}] value [timestamp]
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			continue
		}
		name, rest := line[:end], line[end:]
		var label string
		if rest[0] == '{' {
			var labels string
			labels, rest, _ = strings.Cut(rest[1:], "}")
			if _, v, ok := strings.Cut(labels, "="); ok {
				label, _, _ = strings.Cut(strings.TrimPrefix(v, `"`), `"`)
			}
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		sample(name, label, v)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("loadtest: server metrics: %w", err)
	}
	return nil
}
