package resp

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
)

// Script is a Lua script run by its SHA1 digest (EVALSHA), so that its
// source crosses the network only when the server does not have it cached:
// after a restart, a SCRIPT FLUSH or on a new server, the NOSCRIPT refusal
// makes Run send it once with EVAL, which caches it again.
//
// A Script is immutable and safe for concurrent use; make it once, at
// package level or start-up, not per call.
type Script struct {
	src  string
	hash string
}

// NewScript returns the Script of a Lua source, its digest computed once.
func NewScript(src string) *Script {
	sum := sha1.Sum([]byte(src))
	return &Script{src: src, hash: hex.EncodeToString(sum[:])}
}

// Hash returns the script's SHA1 digest in hex, as EVALSHA and SCRIPT
// EXISTS name it.
func (s *Script) Hash() string { return s.hash }

// Source returns the script's Lua source.
func (s *Script) Source() string { return s.src }

// Run runs the script with keys (KEYS[1]...) and args (ARGV[1]...) and
// returns its reply: EVALSHA, and EVAL only if the server answers NOSCRIPT.
// A Lua error is returned as an *Error.
func (s *Script) Run(ctx context.Context, c *Client, keys []string, args ...any) (Value, error) {
	cmd := s.command("EVALSHA", s.hash, keys, args)
	v, err := c.Do(ctx, cmd...)
	if HasPrefix(err, "NOSCRIPT") {
		cmd[1] = s.src
		cmd[0] = "EVAL"
		v, err = c.Do(ctx, cmd...)
	}
	return v, err
}

// Load caches the script in the server (SCRIPT LOAD), so that the first
// Run needs no fallback.
func (s *Script) Load(ctx context.Context, c *Client) error {
	_, err := c.Do(ctx, "SCRIPT", "LOAD", s.src)
	return err
}

func (s *Script) command(name, body string, keys []string, args []any) []any {
	cmd := make([]any, 0, 3+len(keys)+len(args))
	cmd = append(cmd, name, body, len(keys))
	for _, k := range keys {
		cmd = append(cmd, k)
	}
	return append(cmd, args...)
}
