package loadtest

import (
	"os"
	"testing"
	"time"

	"ringchat/loadtest/childproc"
	"ringchat/loadtest/internal/childproctest"
)

// TestMain fails the package when goroutines of the generator, the fake
// server or their connections outlive the tests: every Run must clean up
// after itself. It also lets the tests start this binary as the servers
// they need (see childproctest.Main).
func TestMain(m *testing.M) { childproctest.Main(m) }

// helperSpec starts the test binary playing part.
func helperSpec(part string) childproc.Spec {
	return childproc.Spec{
		Args:        []string{os.Args[0], childproc.AddrPlaceholder},
		Path:        "/ws",
		Env:         []string{childproctest.Env + "=" + part},
		StopTimeout: 10 * time.Second,
	}
}
