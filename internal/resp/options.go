package resp

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of the Options a zero field stands for.
const (
	DefaultAddr         = "localhost:6379"
	DefaultDialTimeout  = 5 * time.Second
	DefaultReadTimeout  = 3 * time.Second
	DefaultWriteTimeout = 3 * time.Second
	DefaultPoolSize     = 10
	DefaultMinBackoff   = 50 * time.Millisecond
	DefaultMaxBackoff   = 2 * time.Second
	DefaultPingInterval = 5 * time.Second
)

// Options configure a Client or a Subscriber. ParseURL makes them from a
// redis:// or rediss:// URL; the zero value connects to localhost:6379
// without authentication.
type Options struct {
	// Addr is the server's host:port; empty means DefaultAddr.
	Addr string
	// Username and Password authenticate each new connection: AUTH
	// username password (an ACL user) when Username is set, else AUTH
	// password (requirepass) when Password is set.
	Username string
	Password string
	// DB is the database each new connection SELECTs, when not 0.
	DB int
	// TLS, when not nil, wraps every connection in TLS with this
	// configuration (rediss://). A config without ServerName gets the
	// host of Addr.
	TLS *tls.Config
	// ClientName, when set, is given to each connection with CLIENT
	// SETNAME, so that CLIENT LIST shows which process holds it. It must
	// not contain spaces.
	ClientName string

	// DialTimeout bounds connecting, the TLS handshake and AUTH/SELECT.
	// ReadTimeout bounds the wait for each reply, WriteTimeout each write.
	// Zero means the default; a negative value means no bound but the
	// context's. A context's deadline, when earlier, wins.
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration

	// PoolSize is the most connections a Client holds open (in use and
	// idle); zero means DefaultPoolSize.
	PoolSize int

	// MinBackoff and MaxBackoff bound the pause between failed attempts
	// to connect: it doubles from MinBackoff up to MaxBackoff, each pause
	// drawn at random from its upper half (jitter, so that many clients of
	// a restarted server do not come back in step).
	MinBackoff time.Duration
	MaxBackoff time.Duration

	// PingInterval is how often a Subscriber pings its server; a
	// connection that does not answer within PingInterval+ReadTimeout is
	// taken for dead and replaced. Zero means DefaultPingInterval.
	PingInterval time.Duration

	// Limits bound the replies accepted; zero fields take DefaultLimits.
	Limits Limits

	// Dial, when not nil, opens the network connections instead of a
	// net.Dialer (before TLS, which is still applied).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// withDefaults returns o with every zero field replaced by its default.
func (o Options) withDefaults() Options {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	o.DialTimeout = orDefault(o.DialTimeout, DefaultDialTimeout)
	o.ReadTimeout = orDefault(o.ReadTimeout, DefaultReadTimeout)
	o.WriteTimeout = orDefault(o.WriteTimeout, DefaultWriteTimeout)
	o.MinBackoff = orDefault(o.MinBackoff, DefaultMinBackoff)
	o.MaxBackoff = orDefault(o.MaxBackoff, DefaultMaxBackoff)
	o.PingInterval = orDefault(o.PingInterval, DefaultPingInterval)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.PoolSize <= 0 {
		o.PoolSize = DefaultPoolSize
	}
	o.Limits = o.Limits.withDefaults()
	if o.TLS != nil && o.TLS.ServerName == "" {
		o.TLS = o.TLS.Clone()
		if host, _, err := net.SplitHostPort(o.Addr); err == nil {
			o.TLS.ServerName = host
		}
	}
	return o
}

// validate reports options that could only fail every connection.
func (o Options) validate() error {
	if o.DB < 0 {
		return fmt.Errorf("resp: database %d", o.DB)
	}
	if strings.ContainsAny(o.ClientName, " \r\n") {
		return fmt.Errorf("resp: client name %q has spaces", o.ClientName)
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return fmt.Errorf("resp: address %q: want host:port", o.Addr)
	}
	return nil
}

// String returns the options as a redis:// or rediss:// URL, the password
// replaced by xxxxx, so that options can be logged.
func (o Options) String() string {
	u := url.URL{Scheme: "redis", Host: o.Addr}
	if o.TLS != nil {
		u.Scheme = "rediss"
	}
	switch {
	case o.Username != "":
		u.User = url.UserPassword(o.Username, "xxxxx")
	case o.Password != "":
		u.User = url.UserPassword("", "xxxxx")
	}
	if o.DB != 0 {
		u.Path = "/" + strconv.Itoa(o.DB)
	}
	return u.String()
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// backoff returns the pause before attempt n+1 after n failures (n >= 1):
// min·2^(n-1), at most max, drawn at random from its upper half.
func backoff(min, max time.Duration, n int) time.Duration {
	d := max
	if n < 32 {
		if e := min << (n - 1); e > 0 && e < max {
			d = e
		}
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// deadline returns when an operation bounded by d (see Options) and ctx
// must end; zero means never.
func deadline(ctx context.Context, d time.Duration) time.Time {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	if dl, ok := ctx.Deadline(); ok && (t.IsZero() || dl.Before(t)) {
		t = dl
	}
	return t
}
