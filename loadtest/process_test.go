package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ringchat/loadtest/floor"
)

// helperEnv makes the test binary, started as a child process by a test,
// play a part instead of running the tests (see runHelper).
const helperEnv = "LOADTEST_TEST_HELPER"

// runHelper plays the part named by the helperEnv variable and returns the
// exit status:
//
//	floor ADDR      the floor server on ADDR until SIGTERM, then exit 0
//	badexit ADDR    listen on ADDR; exit 1 on SIGTERM
//	stubborn ADDR   listen on ADDR; ignore SIGTERM
//	exit            write to stderr and exit 3 at once
//	gotest ARGS     go test -bench: canned output for the last argument, a
//	                package; "./hang/" hangs after one result, "./broken/"
//	                fails to build
func runHelper(part string, args []string) int {
	sig := make(chan os.Signal, 1)
	if part != "gotest" {
		signal.Notify(sig, syscall.SIGTERM)
	}
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return ln
	}
	switch part {
	case "floor":
		s, err := floor.Listen(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		<-sig
		s.Close()
		return 0
	case "badexit":
		listen()
		<-sig
		fmt.Fprintln(os.Stderr, "going down badly")
		return 1
	case "stubborn":
		listen()
		for {
			<-sig
		}
	case "exit":
		fmt.Fprintln(os.Stderr, "helper: cannot start: bad flag")
		return 3
	case "gotest":
		pkg := args[len(args)-1]
		switch pkg {
		case "./hang/":
			fmt.Printf("pkg: ringchat/hang\nBenchmarkSlow-2 \t 10 \t 100 ns/op\n")
			time.Sleep(time.Hour)
		case "./broken/":
			fmt.Printf("FAIL\tringchat/broken [build failed]\nFAIL\n")
			fmt.Fprintf(os.Stderr, "# ringchat/broken\nbroken/x.go:1:1: syntax error\n")
			return 1
		}
		fmt.Printf("goos: linux\ngoarch: amd64\npkg: ringchat/%s\ncpu: Test CPU\n", strings.Trim(pkg, "./"))
		for i := range 3 {
			fmt.Printf("BenchmarkFast-2 \t 1000 \t %d ns/op \t 0 B/op \t 0 allocs/op\n", 10+i)
		}
		fmt.Printf("PASS\nok  \tringchat/%s\t0.1s\n", strings.Trim(pkg, "./"))
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper part %q\n", part)
	return 2
}

// helperSpec starts the test binary playing part.
func helperSpec(part string) ProcessSpec {
	return ProcessSpec{
		Args:        []string{os.Args[0], AddrPlaceholder},
		Path:        "/ws",
		Env:         []string{helperEnv + "=" + part},
		StopTimeout: 10 * time.Second,
	}
}

func TestStartProcess(t *testing.T) {
	t.Parallel()
	p, err := StartProcess(context.Background(), helperSpec("floor"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if !strings.HasPrefix(p.URL, "ws://127.0.0.1:") || !strings.HasSuffix(p.URL, "/ws") {
		t.Errorf("URL %q", p.URL)
	}
	if n, err := p.FileLimit(); err != nil || n < 64 {
		t.Errorf("FileLimit = %d, %v", n, err)
	}
	cfg := quickConfig(p.URL)
	cfg.Clients, cfg.Senders, cfg.Duration = 10, 2, 300*time.Millisecond
	cfg.ServerPID = p.Pid()
	res := runOrFail(t, cfg)
	checkClean(t, res)
	if res.Server == nil || res.Server.Error != "" || res.Server.RSSConnectedBytes == 0 {
		t.Errorf("server stats %+v", res.Server)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", p.Pid())); err == nil {
		t.Errorf("process %d still exists after Stop", p.Pid())
	}
}

func TestStartProcessFails(t *testing.T) {
	t.Parallel()
	spec := helperSpec("exit")
	start := time.Now()
	_, err := StartProcess(context.Background(), spec)
	if !errors.Is(err, errExited) || !strings.Contains(err.Error(), "cannot start: bad flag") {
		t.Errorf("StartProcess error %v, want errExited with the helper's stderr", err)
	}
	if d := time.Since(start); d > startTimeout/2 {
		t.Errorf("took %v to notice the exit", d)
	}
	spec.Args = []string{filepath.Join(t.TempDir(), "no-such-server"), AddrPlaceholder}
	if _, err := StartProcess(context.Background(), spec); err == nil {
		t.Errorf("StartProcess of a missing binary succeeded")
	}
	if _, err := StartProcess(context.Background(), ProcessSpec{}); err == nil {
		t.Errorf("StartProcess without a command succeeded")
	}
}

func TestProcessStop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		part string
		want string // in Stop's error; "" for none
	}{
		{"floor", ""},
		{"badexit", "going down badly"},
		{"stubborn", "killed"},
	} {
		t.Run(tc.part, func(t *testing.T) {
			t.Parallel()
			spec := helperSpec(tc.part)
			spec.StopTimeout = 10 * time.Second // a busy machine, -race
			if tc.part == "stubborn" {
				spec.StopTimeout = 500 * time.Millisecond
			}
			p, err := StartProcess(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Stop()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Stop = %v, want an error with %q", err, tc.want)
			}
			select {
			case <-p.exited:
			default:
				t.Errorf("process still running after Stop")
			}
		})
	}
}

func TestStartProcessCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	spec := helperSpec("floor")
	spec.Args = []string{"sleep", "60"} // never listens
	if _, err := StartProcess(ctx, spec); !errors.Is(err, context.Canceled) {
		t.Errorf("StartProcess error %v, want context.Canceled", err)
	}
}

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, "no output"},
		{"a\n\nb\nc\n", 2, "b | c"},
		{"one", 5, "one"},
	} {
		if got := lastLines(tc.in, tc.n); got != tc.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	var tb tailBuffer
	tb.Write([]byte("first line\n"))
	big := strings.Repeat("x", tailMax) + "\nlast line\n"
	if n, err := tb.Write([]byte(big)); n != len(big) || err != nil {
		t.Errorf("Write = %d, %v", n, err)
	}
	got := tb.String()
	if len(got) != tailMax || !strings.HasSuffix(got, "\nlast line\n") || strings.Contains(got, "first") {
		t.Errorf("kept %d bytes, ending %q", len(got), got[len(got)-12:])
	}
}
