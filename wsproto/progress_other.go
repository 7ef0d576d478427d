//go:build !linux

package wsproto

// unacked cannot read a socket's unacknowledged bytes on this platform: a
// timed write counts as progress only the bytes it hands to the kernel.
func (c *Conn) unacked() (int, bool) { return 0, false }

func (r *rawCall) outqCallback(fd uintptr) {}
