package childproc

import (
	"testing"

	"ringchat/loadtest/internal/childproctest"
)

// TestMain lets the tests start this binary as the servers they need (see
// childproctest.Main), and fails them when goroutines outlive them.
func TestMain(m *testing.M) { childproctest.Main(m) }
