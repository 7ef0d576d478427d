package main

import (
	"bytes"
	"strings"
	"testing"

	"ringchat/chat"
	"ringchat/internal/chattest"
)

// The terminal client end to end through a pipe, as `echo hi | go run
// ./cmd/client -name bot` runs it: it sends, waits for its message to come
// back, and exits 0.
// It runs with permessage-deflate offered and taken, offered and declined,
// and not offered, with a line long enough to be compressed.
func TestPipe(t *testing.T) {
	long := strings.Repeat("a line long enough to be worth compressing, ", 20)
	for _, tt := range []struct {
		name   string
		server bool
		flag   string
	}{
		{"compressed", true, "on"},
		{"offered, declined", false, "on"},
		{"not offered", true, "off"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := chattest.Start(t, nil, chat.Options{Compression: tt.server}).URL()
			var stdout, stderr bytes.Buffer
			code := run([]string{"-url", url, "-name", "bot", "-room", "pipes", "-compression", tt.flag}, strings.NewReader("hi\n"+long+"\n"), &stdout, &stderr)
			if code != 0 {
				t.Fatalf("exit status %d; stderr:\n%s", code, stderr.String())
			}
			if !strings.Contains(stdout.String(), "-- connected to #pipes as bot") || !strings.Contains(stdout.String(), "bot: hi") || !strings.Contains(stdout.String(), "bot: "+long) {
				t.Fatalf("stdout:\n%s", stdout.String())
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-url", "http//bad"}, {"-url", "ftp://127.0.0.1/"}, {"-room", "no spaces"}, {"-name", "a b"}, {"-history", "-1"}, {"-history", "1001"}, {"-compression", "yes"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, strings.NewReader(""), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit status %d, want 2 (stderr %q)", args, code, stderr.String())
		}
		if strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v: stderr %q, want one line", args, stderr.String())
		}
	}
}
