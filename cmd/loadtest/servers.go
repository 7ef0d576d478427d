package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"ringchat/loadtest/floor"
	"ringchat/loadtest/hub"
)

// comparisonServer is a server that runs measure the chat server against:
// the floor server or the hub server.
type comparisonServer interface {
	URL() string
	Close() error
}

// The comparison servers, by the flag that serves each (-floor-serve,
// -hub-serve).
var comparisonServers = map[string]func(addr string) (comparisonServer, error){
	"floor-serve": func(addr string) (comparisonServer, error) { return floor.Listen(addr) },
	"hub-serve":   func(addr string) (comparisonServer, error) { return hub.Listen(addr) },
}

// serveComparison runs only the comparison server of flag (-floor-serve,
// -hub-serve) on addr, printing its URL as the first line on stdout, until
// ctx is done.
func serveComparison(ctx context.Context, flag, addr string, stdout, stderr io.Writer) int {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fmt.Fprintf(stderr, "loadtest: -%s %q: want a loopback host:port, such as 127.0.0.1:0\n", flag, addr)
		return 2
	}
	s, err := comparisonServers[flag](addr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, s.URL())
	<-ctx.Done()
	s.Close()
	return 0
}

// startComparisonProcess starts this program with -FLAG 127.0.0.1:0 (flag
// is floor-serve or hub-serve) as a child process, so that the server's
// CPU and memory are measured apart from the generator's, and returns its
// URL, its pid and a function that stops it.
func startComparisonProcess(flag string) (url string, pid int, stop func(), err error) {
	fail := func(err error) (string, int, func(), error) {
		return "", 0, nil, fmt.Errorf("loadtest: -%s: %w", strings.TrimSuffix(flag, "-serve"), err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	cmd := exec.Command(exe, "-"+flag, "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // Ctrl-C goes to the generator, which stops the server last
		Pdeathsig: syscall.SIGTERM, // and should the generator die, so does the server
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ws://") {
		stop()
		return fail(fmt.Errorf("the server did not start (%q, %v)", line, err))
	}
	return strings.TrimSpace(line), cmd.Process.Pid, stop, nil
}
