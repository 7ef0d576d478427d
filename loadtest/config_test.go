package loadtest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // in the error; "" for valid
		remote bool   // wants ErrRemoteTarget
	}{
		{"default", func(*Config) {}, "", false},
		{"localhost", func(c *Config) { c.URL = "ws://localhost:9000/chat" }, "", false},
		{"loopback /8", func(c *Config) { c.URL = "ws://127.9.8.7:9000" }, "", false},
		{"ipv6 loopback", func(c *Config) { c.URL = "ws://[::1]:8080/ws" }, "", false},
		{"wss", func(c *Config) { c.URL = "wss://127.0.0.1/ws" }, "", false},
		{"remote name", func(c *Config) { c.URL = "ws://example.com/ws" }, "not a loopback", true},
		{"remote address", func(c *Config) { c.URL = "ws://10.0.0.1:8080/ws" }, "not a loopback", true},
		{"unspecified address", func(c *Config) { c.URL = "ws://0.0.0.0:8080/ws" }, "not a loopback", true},
		{"remote allowed", func(c *Config) { c.URL, c.AllowRemote = "ws://example.com/ws", true }, "", false},
		{"http scheme", func(c *Config) { c.URL = "http://127.0.0.1:8080/ws" }, "scheme", false},
		{"no host", func(c *Config) { c.URL = "ws:///ws" }, "no host", false},
		{"bad port", func(c *Config) { c.URL = "ws://127.0.0.1:99999/ws" }, "port", false},
		{"unparsable", func(c *Config) { c.URL = "ws://[::1" }, "url", false},
		{"no clients", func(c *Config) { c.Clients = 0 }, "clients", false},
		{"too many senders", func(c *Config) { c.Senders = c.Clients + 1 }, "senders", false},
		{"no senders", func(c *Config) { c.Senders, c.Rate = 0, 0 }, "", false},
		{"zero rate", func(c *Config) { c.Rate = 0 }, "rate", false},
		{"rooms over clients", func(c *Config) { c.Rooms = c.Clients + 1 }, "rooms", false},
		{"tiny size", func(c *Config) { c.Size = MinSize - 1 }, "size", false},
		{"huge size", func(c *Config) { c.Size = MaxSize + 1 }, "size", false},
		{"zero duration", func(c *Config) { c.Duration = 0 }, "duration", false},
		{"zero ramp", func(c *Config) { c.Ramp = 0 }, "ramp", false},
		{"negative drain", func(c *Config) { c.Drain = -time.Second }, "drain", false},
		{"zero drain", func(c *Config) { c.Drain = 0 }, "", false},
		{"several urls", func(c *Config) { c.URLs = []string{"ws://127.0.0.1:1/ws", "ws://127.0.0.2:2/ws"} }, "", false},
		{"a remote url among several", func(c *Config) { c.URLs = []string{"ws://127.0.0.1:1/ws", "ws://10.0.0.1:2/ws"} }, "not a loopback", true},
		{"a bad url among several", func(c *Config) { c.URLs = []string{"ws://127.0.0.1:1/ws", "http://127.0.0.1:2/ws"} }, "scheme", false},
		{"loopback sources", func(c *Config) { c.SourceAddrs = []string{"127.0.0.2", "::1"} }, "", false},
		{"remote source", func(c *Config) { c.SourceAddrs = []string{"10.0.0.2"} }, "not a loopback", true},
		{"source not an address", func(c *Config) { c.SourceAddrs = []string{"localhost"} }, "source-addr", false},
		{"a part", func(c *Config) { c.FirstClient, c.AllClients = 100, 300 }, "", false},
		{"a part past the end", func(c *Config) { c.FirstClient, c.AllClients = 250, 300 }, "first-client", false},
		{"negative first client", func(c *Config) { c.FirstClient, c.AllClients = -1, 300 }, "first-client", false},
		{"senders of all, not of the part", func(c *Config) { c.Clients, c.Senders, c.AllClients = 10, 20, 30 }, "", false},
		{"senders over all", func(c *Config) { c.Clients, c.Senders, c.AllClients = 10, 31, 30 }, "senders", false},
		{"server pids", func(c *Config) { c.ServerPIDs = []int{1, 2} }, "", false},
		{"a bad server pid", func(c *Config) { c.ServerPIDs = []int{1, 0} }, "server-pid", false},
		{"pid and pids", func(c *Config) { c.ServerPID, c.ServerPIDs = 1, []int{2, 3} }, "not both", false},
		{"negative redis pid", func(c *Config) { c.RedisPID = -1 }, "redis-pid", false},
		{"negative retries", func(c *Config) { c.Retries = -1 }, "retries", false},
		{"negative pid", func(c *Config) { c.ServerPID = -1 }, "server-pid", false},
		{"metrics", func(c *Config) { c.ServerMetrics = "http://127.0.0.1:8080/metrics" }, "", false},
		{"metrics not http", func(c *Config) { c.ServerMetrics = "ws://127.0.0.1:8080/metrics" }, "server-metrics", false},
		{"remote metrics", func(c *Config) { c.ServerMetrics = "http://example.com/metrics" }, "not a loopback", true},
		{"compression with raw clients", func(c *Config) { c.Client, c.Compression = ClientRaw, true }, "", false},
		{"compression with x/net clients", func(c *Config) { c.Compression = true }, "compression", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate: %v, want an ErrInvalidConfig mentioning %q", err, tc.want)
			}
			if errors.Is(err, ErrRemoteTarget) != tc.remote {
				t.Errorf("errors.Is(%v, ErrRemoteTarget) = %v", err, !tc.remote)
			}
			if !strings.HasPrefix(err.Error(), "loadtest: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line prefixed with the package name", err)
			}
		})
	}
}

func TestClientURL(t *testing.T) {
	c := DefaultConfig()
	c.URL = "ws://127.0.0.1:8080/ws?token=abc"
	tgt, err := c.Endpoint()
	if err != nil {
		t.Fatal(err)
	}
	u := tgt.clientURL(clientName(3), roomName(1))
	if got, want := u.String(), "ws://127.0.0.1:8080/ws?name=lt-3&room=loadtest-1&token=abc"; got != want {
		t.Errorf("client URL %s, want %s", got, want)
	}
	if tgt.HostPort != "127.0.0.1:8080" || tgt.Origin.String() != "http://127.0.0.1:8080" {
		t.Errorf("host %s origin %s", tgt.HostPort, tgt.Origin)
	}
	c.URL = "wss://[::1]"
	if tgt, _ = c.Endpoint(); tgt.HostPort != "[::1]:443" || tgt.URL.Path != "/" {
		t.Errorf("host %s path %q", tgt.HostPort, tgt.URL.Path)
	}
}
