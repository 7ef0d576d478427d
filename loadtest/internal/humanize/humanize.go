// Package humanize formats the load tools' figures for people: latencies
// with about three significant digits, sizes in binary units, counts with
// thousands separators. The generator's text report and progress lines,
// the make bench tables and the make soak tables all print them alike.
package humanize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration formats a latency with about three significant digits: 850ns,
// 12.3µs, 4.56ms, 1.20s.
func Duration(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return sig3(float64(d)/1e3) + "µs"
	case d < time.Second:
		return sig3(float64(d)/1e6) + "ms"
	}
	return sig3(d.Seconds()) + "s"
}

// Ms formats a latency given in milliseconds, as Duration does.
func Ms(ms float64) string { return Duration(time.Duration(ms * 1e6)) }

func sig3(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// Bytes formats a size in bytes: 512 B, 18.0 KiB, 26.0 MiB, 24.00 GiB.
func Bytes(v float64) string {
	switch {
	case v < 1<<10:
		return fmt.Sprintf("%.0f B", v)
	case v < 1<<20:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	case v < 1<<30:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", v/(1<<30))
}

// Thousands formats v rounded to an integer with commas between thousands.
func Thousands(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
