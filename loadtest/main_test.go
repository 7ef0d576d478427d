package loadtest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when goroutines of the generator, the fake
// server or their connections outlive the tests: every Run must clean up
// after itself.
func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(h, os.Args[1:])) // a child process of a test
	}
	code := m.Run()
	if code == 0 {
		if err := checkGoroutines(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkGoroutines waits a little for goroutines that are on their way out
// (closed connections still unwinding), then reports any that remain.
func checkGoroutines() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		leaked := leakedGoroutines()
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leaked %d goroutines:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond) // polling for their exit, not synchronisation
	}
}

// leakedGoroutines returns the stacks of the goroutines, other than the
// caller's, that run code of this package, x/net or net/http.
func leakedGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var leaked []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // this goroutine
		}
		for _, mark := range []string{"ringchat/", "golang.org/x/net/", "net/http."} {
			if strings.Contains(g, mark) {
				leaked = append(leaked, g)
				break
			}
		}
	}
	return leaked
}
