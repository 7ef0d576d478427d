package hub

import (
	"os"
	"testing"

	"ringchat/internal/leakcheck"
)

// TestMain fails the package when goroutines of a server, its hubs or its
// connections outlive the tests.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
