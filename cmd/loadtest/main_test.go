package main

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestRunFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring
		stderr string // a substring; the whole of stderr is one line when code is 2
	}{
		{"help", []string{"-h"}, 0, "-server-pid", ""},
		{"bad number", []string{"-clients", "many"}, 2, "", "-clients"},
		{"unknown flag", []string{"-colour"}, 2, "", "colour"},
		{"argument", []string{"extra"}, 2, "", "extra"},
		{"invalid value", []string{"-clients", "0"}, 2, "", "clients must be"},
		{"remote", []string{"-url", "ws://example.com/ws"}, 2, "", "-allow-remote"},
		{"floor and url", []string{"-floor", "-url", "ws://127.0.0.1:1/ws"}, 2, "", "exclude"},
		{"hub and url", []string{"-hub", "-url", "ws://127.0.0.1:1/ws"}, 2, "", "-url and -hub exclude"},
		{"floor and hub", []string{"-floor", "-hub"}, 2, "", "-floor and -hub exclude"},
		{"remote floor server", []string{"-floor-serve", "10.1.2.3:0"}, 2, "", "loopback"},
		{"remote hub server", []string{"-hub-serve", "10.1.2.3:0"}, 2, "", "-hub-serve"},
		{"bad client", []string{"-client", "gorilla"}, 2, "", "client must be xnet or raw"},
		{"bad steps", []string{"-capacity", "250ms", "-steps", "10,x"}, 2, "", "-steps"},
		{"steps not increasing", []string{"-capacity", "250ms", "-steps", "10,5"}, 2, "", "increasing"},
		{"negative capacity", []string{"-capacity", "-1s"}, 2, "", "-capacity"},
		{"bad server pid", []string{"-server-pid", "12,x"}, 2, "", "-server-pid"},
		{"remote among urls", []string{"-url", "ws://127.0.0.1:1/ws,ws://10.0.0.1:1/ws"}, 2, "", "-allow-remote"},
		{"remote source", []string{"-source-addr", "10.0.0.2"}, 2, "", "source-addr"},
		{"part past the end", []string{"-clients", "10", "-first-client", "5", "-all-clients", "12"}, 2, "", "first-client"},
		{"combine nothing", []string{"-combine"}, 2, "", "-combine needs"},
		{"combine a missing file", []string{"-combine", "/nonexistent/part.json"}, 1, "", "no such file"},
		{"nothing listens", []string{"-url", "ws://127.0.0.1:1/ws", "-clients", "2", "-retries", "0", "-progress=false"}, 1, "0 connected", "no client could connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
			if tc.code == 2 && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("stderr is not one line: %q", stderr.String())
			}
		})
	}
}

// With -ready-stdin the generator says it is ready on stdout once
// connected, and sends only when a line arrives on stdin.
func TestReadyStdin(t *testing.T) {
	t.Setenv(childEnv, "1")
	var stdout, stderr strings.Builder
	args := []string{"-hub", "-client", "raw", "-clients", "10", "-senders", "1", "-rate", "10", "-duration", "300ms", "-progress=false", "-ready-stdin", "-json", "-"}
	code := runWithStdin(context.Background(), args, strings.NewReader("go\n"), &stdout, &stderr)
	first, rest, _ := strings.Cut(stdout.String(), "\n")
	if code != 0 || first != "ready 10" || !strings.Contains(rest, `"lost": 0`) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	code = runWithStdin(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "go-ahead") {
		t.Errorf("stdin closed: exit %d, stderr %q; want 1 and why", code, stderr.String())
	}
}

func TestParsePIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  bool
	}{
		{"", nil, false},
		{"12", []int{12}, false},
		{"12, 13,14", []int{12, 13, 14}, false},
		{"12,0", nil, true},
		{"-3", nil, true},
		{"a", nil, true},
	} {
		got, err := parsePIDs(tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("parsePIDs(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestServeComparison(t *testing.T) {
	for _, flag := range []string{"floor-serve", "hub-serve"} {
		t.Run(flag, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // serve, print the URL, and stop at once
			var stdout, stderr strings.Builder
			if code := serveComparison(ctx, flag, "127.0.0.1:0", &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "ws://127.0.0.1:") {
				t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
			}
		})
	}
}

// TestRunAgainstChild runs the generator, with each kind of client,
// against the floor and the hub server started as child processes: this
// test binary, which plays cmd/loadtest when childEnv is set.
func TestRunAgainstChild(t *testing.T) {
	for _, tc := range []struct{ server, client string }{
		{"-floor", "raw"},
		{"-hub", "raw"},
		{"-hub", "xnet"},
	} {
		t.Run(tc.server+"/"+tc.client, func(t *testing.T) {
			t.Setenv(childEnv, "1") // for the child, not for this process's run
			var stdout, stderr strings.Builder
			args := []string{tc.server, "-client", tc.client, "-clients", "20", "-senders", "2", "-rate", "20", "-duration", "500ms", "-progress=false", "-connect-timeout", "20s"}
			code := run(context.Background(), args, &stdout, &stderr)
			out := stdout.String()
			if code != 0 || !strings.Contains(out, "20 "+tc.client+" clients") || !strings.Contains(out, "lost 0 (0.000%)") || !strings.Contains(out, "server        pid ") {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, stderr.String())
			}
		})
	}
}
