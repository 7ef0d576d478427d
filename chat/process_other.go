//go:build !linux

package chat

func processCPUSeconds() (float64, bool) { return 0, false }

func processRSSBytes() (int64, bool) { return 0, false }
