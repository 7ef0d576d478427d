package loadtest

// What the external tests (package loadtest_test) need of the internals.

// SetDrainDone sets c's replacement of the drain's test for "all expected
// deliveries have arrived".
func SetDrainDone(c *Config, done func(d DeliveryCounts, sent, expected uint64) bool) {
	c.drainDone = done
}

// The run's fixed time limits.
const (
	InterruptDrain = interruptDrain
	CloseTimeout   = closeTimeout
)
