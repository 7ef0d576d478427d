package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"ringchat/chat"
)

// Invalid flags or values: one clear line on stderr, exit status 2
// (CONTRACT.md, "Commands").
func TestBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-ring", "1000"}, "power of two"},
		{[]string{"-ring", "0"}, "-ring"},
		{[]string{"-slow", "sometimes"}, "-slow"},
		{[]string{"-rate", "-1"}, "-rate"},
		{[]string{"-sndbuf", "-1"}, "-sndbuf"},
		{[]string{"-addr", "nonsense"}, "-addr"},
		{[]string{"-tls-cert", "c.pem"}, "go together"},
		{[]string{"-ping-interval", "0s"}, "-ping-interval"},
		{[]string{"-log-level", "loud"}, "log-level"},
		{[]string{"-no-such-flag"}, "no-such-flag"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-max-message", "5000", "-max-frame", "1000"}, "MaxMessageBytes"},
		{[]string{"-store", "redis"}, "-store"},
		{[]string{"-fsync", "sometimes"}, "-fsync"},
		{[]string{"-history", "0"}, "-history"},
		{[]string{"-history-age", "0s"}, "-history-age"},
		{[]string{"-data", ""}, "-data"},
		{[]string{"-redis", "http://127.0.0.1:6379"}, "-redis"},
		{[]string{"-redis", "redis://127.0.0.1:6379", "-store", "file"}, "-redis and -store"},
		{[]string{"-compression", "yes"}, "-compression"},
		{[]string{"-compression-threshold", "-1"}, "-compression-threshold"},
		{[]string{"-compression-threshold", "lots"}, "compression-threshold"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(tt.args, &stderr); code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			out := stderr.String()
			if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "server: ") || !strings.Contains(out, tt.want) {
				t.Errorf("stderr %q: want one line starting \"server: \" mentioning %q", out, tt.want)
			}
		})
	}
}

// -sndbuf: a bounded default, 0 for the OS's autotuning.
func TestSendBufferFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int
	}{
		{nil, chat.DefaultSendBufferBytes},
		{[]string{"-sndbuf", "0"}, -1},
		{[]string{"-sndbuf", "8192"}, 8192},
	} {
		cfg, err := parseFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if got := cfg.opts.SendBufferBytes; got != tt.want {
			t.Errorf("%v: SendBufferBytes %d, want %d", tt.args, got, tt.want)
		}
	}
}

// -compression and -compression-threshold: on at 256 bytes by default; a
// threshold of 0 compresses every event.
func TestCompressionFlags(t *testing.T) {
	for _, tt := range []struct {
		args          []string
		wantOn        bool
		wantThreshold int
	}{
		{nil, true, chat.DefaultCompressionThreshold},
		{[]string{"-compression", "off"}, false, chat.DefaultCompressionThreshold},
		{[]string{"-compression-threshold", "0"}, true, -1},
		{[]string{"-compression", "on", "-compression-threshold", "1024"}, true, 1024},
	} {
		cfg, err := parseFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if cfg.opts.Compression != tt.wantOn || cfg.opts.CompressionThreshold != tt.wantThreshold {
			t.Errorf("%v: Compression %v, threshold %d; want %v, %d", tt.args, cfg.opts.Compression, cfg.opts.CompressionThreshold, tt.wantOn, tt.wantThreshold)
		}
	}
}

func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"-h"}, &stderr); code != 0 {
		t.Errorf("-h: exit status %d, want 0", code)
	}
	for _, flag := range []string{"-addr", "-ring", "-slow", "-rate", "-tls-cert", "-allow-origin", "-max-conns", "-store", "-data", "-fsync", "-history", "-history-age", "-redis", "-node", "-compression", "-compression-threshold"} {
		if !strings.Contains(stderr.String(), flag) {
			t.Errorf("-h does not mention %s", flag)
		}
	}
}
