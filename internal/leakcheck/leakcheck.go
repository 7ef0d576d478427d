// Package leakcheck fails a test binary whose tests leave goroutines
// running: every connection, server, reader and helper a test starts must be
// gone when the tests end.
//
//	func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
package leakcheck

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Wait is how long Main waits for goroutines that are still on their way
// out (closed connections unwinding) before it calls them leaked.
const Wait = 5 * time.Second

// Main runs the tests, then, if they passed and the binary is not fuzzing,
// waits up to Wait for every goroutine that was not there before them to
// end. It prints the stacks of those that remain and returns the exit code:
// the tests' own, or 1 for a leak.
func Main(m *testing.M) int {
	flag.Parse()
	baseline := goroutineIDs()
	code := m.Run()
	if code != 0 || fuzzing() {
		return code
	}
	if leaked := waitForLeaks(baseline, Wait); leaked != "" {
		fmt.Fprintf(os.Stderr, "FAIL: goroutines leaked by the tests:\n\n%s\n", leaked)
		return 1
	}
	return 0
}

// fuzzing reports whether this process runs a fuzzing engine (go test
// -fuzz), whose worker goroutines are not the tests' to clean up.
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// waitForLeaks polls, for at most d, until every goroutine that is not in
// baseline and not part of the runtime or testing machinery has ended. It
// returns the stacks of those still running at the deadline, or "".
func waitForLeaks(baseline map[string]bool, d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		leaked := leakedGoroutines(baseline)
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(10 * time.Millisecond) // polling: there is no signal for "a goroutine ended"
	}
}

// allStacks returns the stack of every goroutine, one string each.
func allStacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Split(string(bytes.TrimSpace(buf)), "\n\n")
}

// goroutineID returns the "goroutine N" prefix of a stack.
func goroutineID(stack string) string {
	id, _, _ := strings.Cut(stack, " [")
	return id
}

// goroutineIDs returns the goroutines running now.
func goroutineIDs() map[string]bool {
	ids := make(map[string]bool)
	for _, s := range allStacks() {
		ids[goroutineID(s)] = true
	}
	return ids
}

// leakedGoroutines returns the stacks of goroutines that are neither in
// baseline nor the runtime's or the testing package's own.
func leakedGoroutines(baseline map[string]bool) []string {
	var leaked []string
	for _, s := range allStacks() {
		if baseline[goroutineID(s)] || benign(s) {
			continue
		}
		leaked = append(leaked, s)
	}
	return leaked
}

// benign reports whether a goroutine belongs to the machinery around the
// tests rather than to the code under test.
func benign(stack string) bool {
	for _, frame := range []string{
		"main.main()",           // the goroutine running TestMain
		"testing.(*M).",         // the test runner itself
		"testing.runFuzzTests",  // seed corpus runner
		"testing.tRunner.func1", // a finishing test
		"runtime.goexit0",
		"os/signal.signal_recv",
		"runtime.ensureSigM",
		"created by runtime.gc",
	} {
		if strings.Contains(stack, frame) {
			return true
		}
	}
	return false
}
