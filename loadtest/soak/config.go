package soak

import (
	"fmt"
	"io"
	"net/url"
	"time"

	"ringchat/loadtest"
)

// Config describes a soak: a chat server under a mix of well-behaved,
// slow, vanishing, hostile, bursty and flooding clients for Duration,
// while well-behaved observers check every event they receive. The zero
// value is not valid; start from DefaultConfig or SmallConfig.
type Config struct {
	// URL is the chat endpoint, ws://HOST:PORT/ws, on a loopback address.
	URL string
	// MetricsURL is the server's /metrics; by default, /metrics on URL's
	// host.
	MetricsURL string

	// Duration is how long the chatters send and the other behaviours
	// act; the whole soak takes about Budget(cfg) at most.
	Duration time.Duration

	// How many clients of each behaviour (see Run). Client k of a
	// behaviour joins the big room when k is even and small room (k/2) mod
	// SmallRooms when it is odd.
	Observers, Chatters, SlowReaders, Vanishers, Garbage, Storm, Flooders int
	// SmallRooms is the number of rooms besides the big one. Observers and
	// chatters must be at least 2×SmallRooms, so that every room has some.
	SmallRooms int

	// ChatRate is the messages per second of each chatter (below the
	// server's rate limit).
	ChatRate float64
	// StormEvery is the time between reconnect storms.
	StormEvery time.Duration
	// RcvBuf is the slow readers' SO_RCVBUF in bytes.
	RcvBuf int
	// SlowDelay is the mean time a trickling slow reader waits after each
	// frame; PauseMax the longest a pausing one stops reading.
	SlowDelay time.Duration
	PauseMax  time.Duration

	// The server's settings the expectations depend on: its rate limit
	// (messages per second and burst) and its handshake timeout.
	ServerRate       float64
	ServerBurst      int
	HandshakeTimeout time.Duration

	// MaxP99 bounds the observers' 99th-percentile latency.
	MaxP99 time.Duration
	// GoroutineSlack, HeapSlack and HeapPerGoroutine are the tolerances
	// of "back near the baseline": after the soak the server may have at
	// most GoroutineSlack more goroutines than before it, and at most
	// HeapSlack + HeapPerGoroutine × (the most goroutines it had at once)
	// more bytes of heap objects. The second term is the Go runtime's: it
	// keeps the descriptor of every goroutine that has existed, about 0.7
	// KiB each, to reuse — never frees it — so a server that once ran
	// 1,500 goroutines at once keeps about 1 MiB for them, leak or not.
	GoroutineSlack   int64
	HeapSlack        int64
	HeapPerGoroutine int64
	// HeapPerSession is the heap a session kept after its connection
	// ended may hold (the server keeps them two minutes, for clients that
	// come back with session=): the allowance grows by it for each one the
	// server reports after the soak.
	HeapPerSession int64

	// ConnectTimeout bounds one connection attempt, TCP to welcome.
	ConnectTimeout time.Duration
	// Drain is the longest wait, after sending, for the observers to
	// receive every acknowledged message.
	Drain time.Duration
	// Settle is the longest wait, once every client has left, for the
	// server's connections to reach 0 and its goroutines their baseline.
	Settle time.Duration

	// ForceGC, when not nil, makes the server collect garbage (a server in
	// this process: runtime.GC) before its heap is read. Without it the
	// soak makes the server collect by scraping /metrics repeatedly.
	ForceGC func()
	// Log, when not nil, receives a line at each phase and a progress line
	// every few seconds.
	Log io.Writer
}

// DefaultConfig is make soak's configuration: 2,000 clients for 2 min
// 20 s.
func DefaultConfig() Config {
	return Config{
		Duration:         140 * time.Second,
		Observers:        40,
		Chatters:         160,
		SlowReaders:      100,
		Vanishers:        300,
		Garbage:          200,
		Storm:            1160,
		Flooders:         40,
		SmallRooms:       8,
		ChatRate:         0.5,
		StormEvery:       15 * time.Second,
		RcvBuf:           4096,
		SlowDelay:        100 * time.Millisecond,
		PauseMax:         18 * time.Second,
		ServerRate:       10,
		ServerBurst:      20,
		HandshakeTimeout: 10 * time.Second,
		MaxP99:           250 * time.Millisecond,
		GoroutineSlack:   5,
		HeapSlack:        1 << 20,
		HeapPerGoroutine: 1 << 10,
		HeapPerSession:   512,
		ConnectTimeout:   10 * time.Second,
		Drain:            5 * time.Second,
		Settle:           15 * time.Second,
	}
}

// SmallConfig is the soak of go test: 200 clients for 8 s. The server
// it runs against should have short timeouts and a small ring (see the
// test), so that slow readers are lapped and dropped within the time.
func SmallConfig() Config {
	c := DefaultConfig()
	c.Duration = 8 * time.Second
	c.Observers, c.Chatters, c.SlowReaders, c.Vanishers, c.Garbage, c.Storm, c.Flooders = 8, 16, 10, 30, 30, 100, 6
	c.SmallRooms = 3
	c.ChatRate = 2
	c.StormEvery = 3 * time.Second
	c.SlowDelay = 40 * time.Millisecond
	c.PauseMax = 4 * time.Second
	c.HandshakeTimeout = 2 * time.Second
	c.MaxP99 = time.Second // under the race detector, on two shared cores
	c.Drain = 5 * time.Second
	c.Settle = 15 * time.Second
	return c
}

// Budget is the longest Run can take with cfg: the baseline, the
// connecting, Duration, the behaviours' last steps, Drain, closing, Settle
// and the final reading, each bounded. A healthy server needs a few
// seconds beyond Duration; a soak that overruns its budget (or the
// deadline of Run's context) fails.
func Budget(cfg Config) time.Duration {
	return cfg.Duration + cfg.Drain + cfg.Settle + cfg.ConnectTimeout + 2*quietMax + stopMax + 5*time.Second
}

const (
	quietMax = 8 * time.Second  // a quiet sample: see quietSample
	stopMax  = 10 * time.Second // behaviours finishing their step after Duration
)

// Validate reports the first problem with c, wrapping
// loadtest.ErrInvalidConfig.
func (c *Config) Validate() error {
	lc := loadtest.Config{URL: c.URL}
	if _, err := lc.Endpoint(); err != nil {
		return err
	}
	if c.MetricsURL != "" {
		u, err := url.Parse(c.MetricsURL)
		if err != nil || u.Scheme != "http" || !loadtest.IsLoopbackHost(u.Hostname()) {
			return invalid("soak: metrics URL %q: want http:// on a loopback address", c.MetricsURL)
		}
	}
	switch {
	case c.Duration <= 0:
		return invalid("soak: duration must be positive")
	case c.SmallRooms < 0:
		return invalid("soak: small rooms must not be negative")
	case c.Observers < max(1, 2*c.SmallRooms) || c.Chatters < max(1, 2*c.SmallRooms):
		return invalid("soak: observers and chatters must be at least 2×small rooms (%d) and at least 1", 2*c.SmallRooms)
	case min(c.SlowReaders, c.Vanishers, c.Garbage, c.Storm, c.Flooders) < 0:
		return invalid("soak: client counts must not be negative")
	case c.Observers+c.Chatters+c.SlowReaders+c.Vanishers+c.Garbage+c.Storm+c.Flooders > loadtest.MaxClients:
		return invalid("soak: more than %d clients", loadtest.MaxClients)
	case !(c.ChatRate > 0) || c.ServerRate > 0 && c.ChatRate >= c.ServerRate:
		return invalid("soak: chat rate must be above 0 and below the server's rate limit")
	case c.StormEvery <= 0 || c.RcvBuf < 0 || c.SlowDelay <= 0 || c.PauseMax <= 0 || c.ServerBurst < 1 || c.HandshakeTimeout <= 0:
		return invalid("soak: storm interval, pause, burst and handshake timeout must be positive")
	case c.MaxP99 <= 0 || c.GoroutineSlack < 0 || c.HeapSlack < 0 || c.HeapPerGoroutine < 0 || c.HeapPerSession < 0:
		return invalid("soak: latency bound must be positive, slacks not negative")
	case c.ConnectTimeout <= 0 || c.Drain < 0 || c.Settle <= 0:
		return invalid("soak: connect timeout and settle must be positive, drain not negative")
	}
	return nil
}

// invalid returns an error wrapping loadtest.ErrInvalidConfig, worded as
// the generator words its own.
func invalid(format string, args ...any) error {
	return fmt.Errorf("loadtest: %w: %s", loadtest.ErrInvalidConfig, fmt.Sprintf(format, args...))
}
