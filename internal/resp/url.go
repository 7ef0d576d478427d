package resp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ParseURL returns the Options a Redis URL describes:
//
//	redis://[[user]:password@]host[:port][/db][?option=value&...]
//	rediss://...   the same over TLS, verifying the server's certificate
//
// The port defaults to 6379 and db to 0. As with redis-cli, userinfo
// without a colon is a password ("redis://secret@host", like
// "redis://:secret@host"); "user:password" authenticates as an ACL user.
// Percent-escapes are decoded. The query may set dial_timeout,
// read_timeout and write_timeout (Go durations such as 500ms), pool_size
// and client_name; anything else is an error. Errors never quote the
// password.
func ParseURL(raw string) (Options, error) {
	var o Options
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL, password included
		}
		return o, fmt.Errorf("resp: bad Redis URL: %v", err)
	}
	switch u.Scheme {
	case "redis":
	case "rediss":
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	default:
		return o, fmt.Errorf("resp: bad Redis URL: scheme %q, want redis or rediss", u.Scheme)
	}
	if u.Opaque != "" || u.Fragment != "" {
		return o, errors.New("resp: bad Redis URL: want redis://host:port/db")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = "6379"
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return o, fmt.Errorf("resp: bad Redis URL: port %q", port)
	}
	o.Addr = net.JoinHostPort(host, port)
	if o.TLS != nil {
		o.TLS.ServerName = host
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			o.Username, o.Password = u.User.Username(), pw
		} else {
			o.Password = u.User.Username()
		}
	}
	if p := strings.TrimPrefix(u.Path, "/"); p != "" {
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 || strings.HasPrefix(p, "+") {
			return o, fmt.Errorf("resp: bad Redis URL: database %q, want a number", p)
		}
		o.DB = db
	}
	for key, vals := range u.Query() {
		if len(vals) != 1 {
			return o, fmt.Errorf("resp: bad Redis URL: %s given %d times", key, len(vals))
		}
		v := vals[0]
		switch key {
		case "dial_timeout", "read_timeout", "write_timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				return o, fmt.Errorf("resp: bad Redis URL: %s=%q, want a duration such as 500ms", key, v)
			}
			switch key {
			case "dial_timeout":
				o.DialTimeout = d
			case "read_timeout":
				o.ReadTimeout = d
			default:
				o.WriteTimeout = d
			}
		case "pool_size":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return o, fmt.Errorf("resp: bad Redis URL: pool_size=%q, want a positive number", v)
			}
			o.PoolSize = n
		case "client_name":
			if v == "" || strings.ContainsAny(v, " \r\n") {
				return o, fmt.Errorf("resp: bad Redis URL: client_name=%q, want a name without spaces", v)
			}
			o.ClientName = v
		default:
			return o, fmt.Errorf("resp: bad Redis URL: unknown option %q", key)
		}
	}
	return o, nil
}
