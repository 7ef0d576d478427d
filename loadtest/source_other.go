//go:build !linux

package loadtest

func setNoPort(int) error { return nil }
