// Package childproctest lets a test binary play the child processes that
// the tests of the load tools start with childproc: a floor or hub server, servers
// that stop badly or not at all, a server that cannot start, and a stand-in
// for go test. A test package whose TestMain is Main starts its own binary
// (os.Args[0]) with Env set to the part.
package childproctest

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"ringchat/internal/leakcheck"
	"ringchat/loadtest/floor"
	"ringchat/loadtest/hub"
)

// Env makes a test binary whose TestMain is Main, started as a child
// process by a test, play the part the variable names instead of running
// the tests:
//
//	floor ADDR      the floor server on ADDR until SIGTERM, then exit 0
//	hub ADDR        the hub server on ADDR until SIGTERM, then exit 0
//	badexit ADDR    listen on ADDR; exit 1 on SIGTERM
//	stubborn ADDR   listen on ADDR; ignore SIGTERM
//	exit            write to stderr and exit 3 at once
//	gotest ARGS     go test -bench: canned output for the last argument, a
//	                package; "./hang/" hangs after one result, "./broken/"
//	                fails to build
const Env = "LOADTEST_TEST_HELPER"

// play plays part and returns the exit status.
func play(part string, args []string) int {
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
	case "floor", "hub":
		listen := func(addr string) (interface{ Close() error }, error) { return floor.Listen(addr) }
		if part == "hub" {
			listen = func(addr string) (interface{ Close() error }, error) { return hub.Listen(addr) }
		}
		s, err := listen(args[0])
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

// Main is a TestMain for the tests that start the test binary as a child
// process: in such a child (Env set) it plays its part, and
// otherwise it runs the tests and fails them when goroutines outlive them
// (leakcheck.Main). It does not return.
func Main(m *testing.M) {
	if part := os.Getenv(Env); part != "" {
		os.Exit(play(part, os.Args[1:]))
	}
	os.Exit(leakcheck.Main(m))
}
