package floor_test

import (
	"testing"

	"ringchat/loadtest/floor"
	"ringchat/loadtest/internal/runtest"
)

// TestRunFloor runs the generator against the floor server, which must
// look like a perfect chat server to it.
func TestRunFloor(t *testing.T) {
	t.Parallel()
	s, err := floor.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := runtest.QuickConfig(s.URL())
	cfg.Rooms, cfg.Size = 2, 300 // frames with a 16-bit length
	runtest.CheckClean(t, runtest.Run(t, cfg))
}
