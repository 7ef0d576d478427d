package loadtest

import "time"

// Clock reads a monotonic clock in Unix nanoseconds, so that latencies are
// immune to changes of the wall clock during the run.
type Clock struct {
	base     time.Time
	baseNano int64
}

// NewClock returns a Clock that starts at the wall-clock time of now.
func NewClock() Clock {
	now := time.Now()
	return Clock{base: now, baseNano: now.UnixNano()}
}

// Now returns the time in Unix nanoseconds: the start's wall-clock time
// plus the monotonic time elapsed since.
func (c Clock) Now() int64 { return c.baseNano + int64(time.Since(c.base)) }
