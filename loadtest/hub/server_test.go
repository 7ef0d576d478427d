package hub_test

import (
	"testing"

	"ringchat/loadtest"
	"ringchat/loadtest/hub"
	"ringchat/loadtest/internal/runtest"
)

// TestRunHub runs the generator, with each kind of client, against the
// hub server, which must look like a perfect chat server to it.
func TestRunHub(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client loadtest.ClientKind
		config func(*loadtest.Config)
	}{
		{"xnet/two rooms", loadtest.ClientXNet, func(c *loadtest.Config) { c.Rooms, c.Size = 2, 300 }}, // frames with a 16-bit length
		{"raw/two rooms", loadtest.ClientRaw, func(c *loadtest.Config) { c.Rooms, c.Size = 2, 300 }},
		{"raw/everyone sends", loadtest.ClientRaw, func(c *loadtest.Config) { c.Senders, c.Rooms = c.Clients, 5 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := hub.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			cfg := runtest.QuickConfig(s.URL())
			cfg.Client = tc.client
			tc.config(&cfg)
			runtest.CheckClean(t, runtest.Run(t, cfg))
		})
	}
}
