package main

import (
	"os"
	"testing"

	"ringchat/internal/leakcheck"
)

// childEnv makes this test binary, started by a test as a child process
// (the -floor and -hub runs start os.Executable()), run main instead of
// the tests.
const childEnv = "LOADTEST_MAIN_CHILD"

// TestMain plays cmd/loadtest in such a child, and otherwise runs the
// tests and fails them when goroutines outlive them.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		main()
	}
	os.Exit(leakcheck.Main(m))
}
