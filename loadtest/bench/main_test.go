package bench

import (
	"testing"

	"ringchat/loadtest/internal/childproctest"
)

// TestMain lets the tests start this binary as the servers and the go
// command they need (see childproctest.Main), and fails them when
// goroutines outlive them: every Run must stop what it started.
func TestMain(m *testing.M) { childproctest.Main(m) }
