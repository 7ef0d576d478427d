package humanize

import (
	"testing"
	"time"
)

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 19999.6: "20,000", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := Thousands(v); got != want {
			t.Errorf("Thousands(%g) = %q, want %q", v, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850:                     "850ns",
		12345:                   "12.3µs",
		4560 * time.Microsecond: "4.56ms",
		250 * time.Millisecond:  "250ms",
		1200 * time.Millisecond: "1.20s",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%d) = %q, want %q", d, got, want)
		}
	}
	if got := Ms(12); got != "12.0ms" {
		t.Errorf("Ms(12) = %q", got)
	}
}

func TestBytes(t *testing.T) {
	for v, want := range map[float64]string{512: "512 B", 18 << 10: "18.0 KiB", 26 << 20: "26.0 MiB", 24 << 30: "24.00 GiB"} {
		if got := Bytes(v); got != want {
			t.Errorf("Bytes(%g) = %q, want %q", v, got, want)
		}
	}
}
