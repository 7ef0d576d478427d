package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config describes one load run. The zero value is not valid; start from
// DefaultConfig. The flag of cmd/loadtest that sets each field is named in
// its comment.
type Config struct {
	// URL is the chat endpoint, ws:// or wss:// (-url). The generator adds
	// the name and room query parameters.
	URL string
	// URLs, when not empty, replaces URL with several endpoints — the nodes
	// of a cluster — over which the clients are spread round-robin: client
	// i connects to URLs[i % len(URLs)], so the senders (the first
	// clients) are on the first nodes (-url a,b,c).
	URLs []string
	// SourceAddrs, when not empty, are the local addresses the clients
	// connect from, spread over each node's clients in turn (-source-addr).
	// Linux gives one source address about 28,000 ephemeral ports per
	// destination, and connect uses only half of them in practice; on
	// loopback, 127.0.0.2, 127.0.0.3 and so on are further sources.
	SourceAddrs []string
	// AllowRemote permits a URL whose host is not a loopback address
	// (-allow-remote). Without it, Run refuses such targets.
	AllowRemote bool
	// Client is the WebSocket implementation the clients use (-client):
	// ClientXNet, the default, or ClientRaw. Empty means ClientXNet.
	Client ClientKind

	// Compression makes raw clients offer permessage-deflate (RFC 7692)
	// and read the compressed events of a server that takes it
	// (-compression). x/net clients cannot.
	Compression bool
	// Prose pads message texts with English words rather than 'x', so that
	// they compress as chat does (-prose).
	Prose bool

	// Clients is the number of connections (-clients).
	Clients int
	// Senders is how many of the clients send messages; every client
	// receives (-senders). Zero makes a connect-only run that holds the
	// connections for Duration.
	Senders int
	// Rooms spreads the clients over this many rooms, round-robin: client i
	// joins room i % Rooms. Senders are clients 0..Senders-1, so they are
	// spread over the rooms too (-rooms).
	Rooms int
	// Rate is the total number of messages per second, shared evenly by the
	// senders (-rate).
	Rate float64
	// Duration is how long the senders send (-duration).
	Duration time.Duration
	// Size is the length of each message text in bytes, MinSize to MaxSize
	// (-size).
	Size int

	// Ramp is the number of new connections started per second (-ramp).
	Ramp float64
	// ConnectTimeout bounds one attempt to connect, from TCP dial to the
	// server's welcome (-connect-timeout).
	ConnectTimeout time.Duration
	// Retries is how many times a failed connection attempt is retried
	// before the client is counted as failed (-retries).
	Retries int
	// Drain is how long to wait after sending for deliveries still in
	// flight; the wait ends early once everything expected has arrived
	// (-drain).
	Drain time.Duration

	// ServerPID, when not zero, is the process id of a server on this
	// machine whose CPU time and memory Run reports, read from /proc
	// (-server-pid).
	ServerPID int
	// ServerPIDs, when not empty, replaces ServerPID with the process ids
	// of several servers, one per node in the order of URLs (-server-pid
	// a,b,c): Result.Server sums them and Result.Nodes has each.
	ServerPIDs []int
	// RedisPID, when not zero, is the process id of the cluster's
	// redis-server, whose CPU time per message Run reports (-redis-pid).
	RedisPID int

	// FirstClient and AllClients make this run one part of a run too big
	// for one process (-first-client, -all-clients): this process holds
	// the clients FirstClient to FirstClient+Clients-1 of AllClients in
	// all, numbered, named and placed in rooms and on nodes as in a run
	// of AllClients; senders are the first Senders of all. Zero
	// AllClients means Clients: the whole run. Combine merges the parts'
	// results.
	FirstClient, AllClients int
	// RunID, when not empty, is the run's id in every message text, the
	// same for every part (-run-id); empty picks a random one.
	RunID string
	// Ready, when not nil, is called once every client has connected and
	// before sending starts; sending starts when it returns nil, and the
	// run ends without sending when it returns an error (-ready-stdin:
	// the parts of a run start sending together).
	Ready func(ctx context.Context, connected int) error
	// ServerMetrics, when not empty, is the URL of the server's Prometheus
	// /metrics, read for process_cpu_seconds_total and
	// process_resident_memory_bytes when ServerPID is zero (-server-metrics).
	ServerMetrics string

	// Progress, when not nil, is called with a snapshot of the run about once
	// a second and at every change of phase, always from the same goroutine,
	// and last with PhaseDone. It should return quickly.
	Progress func(Progress)

	// drainDone, when set (by tests), replaces the drain's test for "all
	// expected deliveries have arrived".
	drainDone func(d DeliveryCounts, sent, expected uint64) bool
}

// ClientKind names the WebSocket implementation of the generator's clients.
type ClientKind string

// The kinds of client.
const (
	// ClientXNet clients are golang.org/x/net/websocket's: independent of
	// ringchat's own wsproto, so that every run is also an interoperability
	// test. Each reads one frame per call through a bufio.Reader and
	// allocates every message it receives.
	ClientXNet ClientKind = "xnet"
	// ClientRaw clients are the generator's own minimal RFC 6455 client
	// on a plain connection: a handshake of their own, masked frames out,
	// and server frames parsed in place in one reused buffer per
	// connection, several per read when the socket has them. They cost the
	// generator a fraction of the CPU per delivery, so their latency
	// figures show the server's tail rather than the readers' queue.
	ClientRaw ClientKind = "raw"
)

// DefaultConfig returns the configuration of a small, quick run against a
// server on 127.0.0.1:8080.
func DefaultConfig() Config {
	return Config{
		URL:            "ws://127.0.0.1:8080/ws",
		Client:         ClientXNet,
		Clients:        100,
		Senders:        10,
		Rooms:          1,
		Rate:           100,
		Duration:       10 * time.Second,
		Size:           100,
		Ramp:           1000,
		ConnectTimeout: 5 * time.Second,
		Retries:        3,
		Drain:          5 * time.Second,
	}
}

var (
	// ErrInvalidConfig is wrapped by every error Validate returns.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrRemoteTarget is returned, wrapped in ErrInvalidConfig as well, for a
	// non-loopback target without AllowRemote.
	ErrRemoteTarget = errors.New("target is not a loopback address (use -allow-remote if you mean it)")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("loadtest: %w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// Validate reports the first problem with c, as an error wrapping
// ErrInvalidConfig, or nil.
func (c *Config) Validate() error {
	if _, err := c.Endpoints(); err != nil {
		return err
	}
	all := c.allClients()
	switch {
	case c.Client != "" && c.Client != ClientXNet && c.Client != ClientRaw:
		return invalid("client must be %s or %s, not %q", ClientXNet, ClientRaw, c.Client)
	case c.Compression && c.Client != ClientRaw:
		return invalid("compression needs the raw clients (client %s): x/net has no permessage-deflate", ClientRaw)
	case c.Clients < 1 || c.Clients > MaxClients:
		return invalid("clients must be 1 to %d, not %d", MaxClients, c.Clients)
	case c.FirstClient < 0 || c.AllClients < 0 || c.AllClients > 0 && c.FirstClient+c.Clients > c.AllClients:
		return invalid("first-client (%d) + clients (%d) must be at most all-clients (%d)", c.FirstClient, c.Clients, c.AllClients)
	case c.Senders < 0 || c.Senders > all:
		return invalid("senders must be 0 to clients (%d), not %d", all, c.Senders)
	case c.Rooms < 1 || c.Rooms > all:
		return invalid("rooms must be 1 to clients (%d), not %d", all, c.Rooms)
	case c.Senders > 0 && !(c.Rate > 0 && c.Rate <= 1e7):
		return invalid("rate must be above 0 and at most 1e7 messages per second, not %g", c.Rate)
	case c.Duration <= 0:
		return invalid("duration must be positive, not %v", c.Duration)
	case c.Size < MinSize || c.Size > MaxSize:
		return invalid("size must be %d to %d bytes, not %d", MinSize, MaxSize, c.Size)
	case !(c.Ramp > 0):
		return invalid("ramp must be above 0 connections per second, not %g", c.Ramp)
	case c.ConnectTimeout <= 0:
		return invalid("connect-timeout must be positive, not %v", c.ConnectTimeout)
	case c.Retries < 0 || c.Retries > 100:
		return invalid("retries must be 0 to 100, not %d", c.Retries)
	case c.Drain < 0:
		return invalid("drain must not be negative, not %v", c.Drain)
	case c.ServerPID < 0 || slices.ContainsFunc(c.ServerPIDs, func(p int) bool { return p <= 0 }):
		return invalid("server-pid must be positive process ids, not %d %v", c.ServerPID, c.ServerPIDs)
	case len(c.ServerPIDs) > 0 && c.ServerPID != 0:
		return invalid("server-pid: give one pid or a list, not both")
	case c.RedisPID < 0:
		return invalid("redis-pid must not be negative, not %d", c.RedisPID)
	}
	for _, a := range c.SourceAddrs {
		ip := net.ParseIP(a)
		if ip == nil {
			return invalid("source-addr %q is not an IP address", a)
		}
		if !c.AllowRemote && !ip.IsLoopback() {
			return fmt.Errorf("loadtest: %w: source-addr %s: %w", ErrInvalidConfig, a, ErrRemoteTarget)
		}
	}
	if c.ServerMetrics != "" {
		u, err := url.Parse(c.ServerMetrics)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid("server-metrics must be an http:// or https:// URL, not %q", c.ServerMetrics)
		}
		if !c.AllowRemote && !IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("loadtest: %w: server-metrics %s: %w", ErrInvalidConfig, u.Host, ErrRemoteTarget)
		}
	}
	return nil
}

// Endpoint is a chat endpoint URL, parsed and checked, as clients dial it.
type Endpoint struct {
	URL      *url.URL // without query parameters of ours; path "/" at least
	HostPort string   // for net.Dial: the port is 80 or 443 when URL has none
	Origin   *url.URL // http or https on URL's host, for the Origin header
}

// Endpoints parses and checks the run's endpoints, URLs or else URL, as
// Endpoint does.
func (c *Config) Endpoints() ([]Endpoint, error) {
	if len(c.URLs) == 0 {
		e, err := c.Endpoint()
		if err != nil {
			return nil, err
		}
		return []Endpoint{e}, nil
	}
	eps := make([]Endpoint, len(c.URLs))
	for i, u := range c.URLs {
		one := *c
		one.URL, one.URLs = u, nil
		e, err := one.Endpoint()
		if err != nil {
			return nil, err
		}
		eps[i] = e
	}
	return eps, nil
}

// allClients is the number of clients of the whole run, of which this
// process may hold a part.
func (c *Config) allClients() int {
	if c.AllClients == 0 {
		return c.Clients
	}
	return c.AllClients
}

// Endpoint parses and checks c.URL as Validate does: a ws:// or wss:// URL
// with a host and a valid port, on a loopback address unless AllowRemote
// is set. The error wraps ErrInvalidConfig (and ErrRemoteTarget for a
// remote host).
func (c *Config) Endpoint() (Endpoint, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return Endpoint{}, invalid("url %q: %v", c.URL, err)
	}
	var port, origin string
	switch u.Scheme {
	case "ws":
		port, origin = "80", "http"
	case "wss":
		port, origin = "443", "https"
	default:
		return Endpoint{}, invalid("url %q: scheme must be ws or wss", c.URL)
	}
	host := u.Hostname()
	if host == "" {
		return Endpoint{}, invalid("url %q has no host", c.URL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return Endpoint{}, invalid("url %q: bad port %q", c.URL, p)
		}
		port = p
	}
	if !c.AllowRemote && !IsLoopbackHost(host) {
		return Endpoint{}, fmt.Errorf("loadtest: %w: url host %s: %w", ErrInvalidConfig, host, ErrRemoteTarget)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	u.Fragment = ""
	return Endpoint{
		URL:      u,
		HostPort: net.JoinHostPort(host, port),
		Origin:   &url.URL{Scheme: origin, Host: u.Host},
	}, nil
}

// IsLoopbackHost reports whether host is "localhost" or a literal address in
// 127.0.0.0/8 or ::1. Other names are not resolved: a name that resolves to
// loopback today may not tomorrow.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clientURL returns the URL client i connects to.
func (t Endpoint) clientURL(name, room string) *url.URL {
	u := *t.URL
	q := u.Query()
	q.Set("name", name)
	q.Set("room", room)
	u.RawQuery = q.Encode()
	return &u
}

// roomName returns the name of room r.
func roomName(r int) string { return "loadtest-" + strconv.Itoa(r) }

// clientName returns the display name of client i.
func clientName(i int) string { return "lt-" + strconv.Itoa(i) }

// clientKind is c.Client, with empty meaning ClientXNet.
func (c *Config) clientKind() ClientKind {
	if c.Client == "" {
		return ClientXNet
	}
	return c.Client
}
