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
func TestPipe(t *testing.T) {
	url := chattest.Start(t, nil, chat.Options{}).URL()
	var stdout, stderr bytes.Buffer
	code := run([]string{"-url", url, "-name", "bot", "-room", "pipes"}, strings.NewReader("hi\n"), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "-- connected to #pipes as bot") || !strings.Contains(stdout.String(), "bot: hi") {
		t.Fatalf("stdout:\n%s", stdout.String())
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-url", "http//bad"}, {"-url", "ftp://127.0.0.1/"}, {"-room", "no spaces"}, {"-name", "a b"}, {"-history", "-1"}, {"-history", "1001"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, strings.NewReader(""), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit status %d, want 2 (stderr %q)", args, code, stderr.String())
		}
		if strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v: stderr %q, want one line", args, stderr.String())
		}
	}
}
