//go:build !linux

package wsproto

import "errors"

// waitReadable does not wait where peeking at a socket is not implemented:
// the read that follows it blocks instead, holding a buffer.
func waitReadable(fd uintptr) bool { return true }

// canReadNow: readNow is not implemented here; connections read with a
// goroutine each.
const canReadNow = false

func readNow(fd uintptr, p []byte) (int, error) { return 0, errors.ErrUnsupported }
