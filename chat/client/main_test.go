package client_test

import (
	"os"
	"testing"

	"ringchat/internal/leakcheck"
)

// TestMain fails the package if a client or server the tests started is
// still running at the end.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
