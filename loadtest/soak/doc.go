// Package soak is the soak and chaos test of make soak: it sets about
// 2,000 clients of seven behaviours on a running chat server for a couple
// of minutes and checks that it serves the well-behaved ones perfectly
// while the others misbehave, and that it is back at rest afterwards.
//
// The behaviours are observers, chatters, slow readers, vanishers, garbage
// senders, reconnect storms and flooders; see Run for what each does and
// expects. Run checks that the observers receive every event exactly once,
// in order, with bounded latency, that every hostile client gets the close
// code or HTTP status RFC 6455 and CONTRACT.md name, and that, once the
// clients have gone, the server's goroutines and heap (read from its
// /metrics) are back near their baseline. The well-behaved clients use
// golang.org/x/net/websocket and the generator's checks (package
// ringchat/loadtest: ScanEvent, Sequence, ErrorKind); the hostile ones
// speak WebSocket on raw TCP (wire.go), since x/net can neither break the
// protocol nor report a close code.
//
// RunServer (cmd/bench -soak, run by make soak) starts a fresh server for
// the soak and stops it, all within a budget, and WriteBenchmarks puts
// the reliability tables into BENCHMARKS.md's soak region. TestSoak runs
// the same soak for 8 s against the chat server in the test process.
package soak
