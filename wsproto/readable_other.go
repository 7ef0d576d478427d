//go:build !linux

package wsproto

// waitReadable does not wait where peeking at a socket is not implemented:
// the read that follows it blocks instead, holding a buffer.
func waitReadable(fd uintptr) bool { return true }
