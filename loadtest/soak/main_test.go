package soak

import (
	"os"
	"testing"

	"ringchat/internal/leakcheck"
)

// TestMain fails the package when goroutines of the soak's clients or of
// the chat servers the tests run outlive the tests.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
