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
)

// serveFloor runs only the floor server (-floor-serve), printing its URL as
// the first line on stdout, until ctx is done.
func serveFloor(ctx context.Context, addr string, stdout, stderr io.Writer) int {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fmt.Fprintf(stderr, "loadtest: -floor-serve %q: want a loopback host:port, such as 127.0.0.1:0\n", addr)
		return 2
	}
	s, err := floor.Listen(addr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, s.URL())
	<-ctx.Done()
	s.Close()
	return 0
}

// startFloorProcess starts this program with -floor-serve as a child
// process, so that its CPU and memory are measured apart from the
// generator's, and returns its URL, its pid and a function that stops it.
func startFloorProcess() (url string, pid int, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", 0, nil, fmt.Errorf("loadtest: -floor: %w", err)
	}
	cmd := exec.Command(exe, "-floor-serve", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // Ctrl-C goes to the generator, which stops the server last
		Pdeathsig: syscall.SIGTERM, // and should the generator die, so does the server
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, fmt.Errorf("loadtest: -floor: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("loadtest: -floor: %w", err)
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
		return "", 0, nil, fmt.Errorf("loadtest: -floor: the floor server did not start (%q, %v)", line, err)
	}
	return strings.TrimSpace(line), cmd.Process.Pid, stop, nil
}
