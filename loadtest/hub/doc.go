// Package hub is the conventional chat server that make bench measures
// ringchat against: the design of gorilla/websocket's chat example
// (examples/chat, hub.go and client.go), built on ringchat's wsproto for the
// framing instead of gorilla's library. It is the comparison point of issue
// 13's targets ("no more than 0.6× the conventional hub design"), not a
// product: it has no commands, limits, history or slow-client policy but
// the hub's own.
//
// As in the example, each room has one hub goroutine that owns the set of
// its clients and a broadcast channel; each client has a reading goroutine
// (the example's readPump: the HTTP handler), a writing goroutine
// (writePump) and a buffered channel of 256 messages between the hub and
// its writer. The hub fans a message out by sending it to every client's
// channel without waiting, and drops a client whose channel is full: it
// closes the channel, and the writer sends a close frame and ends the
// connection. A writer that finds several messages queued writes them
// together, as the example's does — there, in one frame separated by
// newlines; here, one frame each in one writev (wsproto.Conn.WriteFrames),
// since ringchat's clients expect one event per frame. The writer pings
// every 54 s and the reader waits at most 60 s for a frame or a pong, as
// the example's.
//
// It speaks just enough of CONTRACT.md for the load generator: the
// handshake (wsproto.Accept) at /ws and /, a welcome event with the room's
// latest id and an epoch first, then every text frame a member sends
// published to its room as a message event with the next id (consecutive,
// the same for every member), its text exactly as sent. The hub goroutine
// gives the ids and encodes and frames each event once, so every member's
// writer sends the same bytes. cmd/loadtest -hub-serve runs it in a process
// of its own, so that its CPU and memory are measured apart from the
// generator's.
package hub
