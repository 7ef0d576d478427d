package resp

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	min, max := 10*time.Millisecond, 300*time.Millisecond
	for n, ceiling := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 3: 40 * time.Millisecond, 6: 300 * time.Millisecond, 40: 300 * time.Millisecond, 1000: 300 * time.Millisecond} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := backoff(min, max, n)
			if d < ceiling/2 || d > ceiling {
				t.Fatalf("backoff after %d failures = %v, want within [%v, %v]", n, d, ceiling/2, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("backoff after %d failures took only %d values: no jitter", n, len(seen))
		}
	}
}
