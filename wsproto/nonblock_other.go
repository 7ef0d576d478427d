//go:build !linux

package wsproto

// canWriteNow reports whether TryWriteFrames can write to this connection
// without waiting: not on this platform.
func (c *Conn) canWriteNow() bool { return false }

func (r *rawCall) writeNowCallback(fd uintptr) bool { return true }
