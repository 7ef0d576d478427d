package loadtest

import (
	"os"
	"testing"

	"ringchat/internal/leakcheck"
)

// TestMain fails the package when goroutines of the generator, the fake
// server or their connections outlive the tests: every Run must clean up
// after itself.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.Main(m))
}
