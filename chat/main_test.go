package chat_test

import (
	"os"
	"testing"

	"ringchat/internal/leakcheck"
)

// TestMain fails the package if goroutines its tests started — readers,
// fan-out passes, slow writers, keepalive sweeps, servers — are still
// running at the end.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
