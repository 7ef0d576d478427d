package wsproto_test

import (
	"os"
	"testing"

	"ringchat/internal/leakcheck"
)

// TestMain fails the package if goroutines its tests started are still
// running at the end: every Conn, reader, httptest server and helper must be
// gone.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
