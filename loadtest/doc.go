// Package loadtest is ringchat's load generator: it measures what a chat
// server can do, and checks that it does it correctly.
//
// By default the clients use golang.org/x/net/websocket, an implementation
// independent of ringchat's own wsproto, so every load run is also an
// interoperability test of the server's protocol code. The wire protocol is
// the one in CONTRACT.md: a client connects to
// URL?name=lt-<i>&room=loadtest-<r>, waits for the welcome event, sends chat
// messages as text frames and receives every room event as one JSON object
// per text frame.
//
// # Clients
//
// Config.Client chooses the clients' implementation. ClientXNet (the
// default) reads one frame per call through x/net's buffered reader and
// allocates every message. That costs the generator about as much CPU per
// delivery as the server spends, and at 10,000 clients its readers queue
// for the CPU: they read the last member's event late, which hides the
// server's own tail. ClientRaw is the generator's own minimal RFC 6455
// client on a plain connection, meant to read as fast as the socket
// delivers: it writes its handshake itself and checks the 101 and
// Sec-WebSocket-Accept, masks every frame it sends, and reads the server's
// frames with a small parser straight out of one reused buffer per
// connection — one read system call for whatever the socket holds, nothing
// allocated per frame — answering pings and closes and checking text to be
// UTF-8. Both feed the same checks below. Result.Generator's CPU per
// delivery says what each costs.
//
// # A run
//
// Run(ctx, cfg) goes through the phases of Phase:
//
//   - connect: Clients connections are started at Ramp per second, at most
//     512 attempts at once. An attempt (TCP dial, handshake, welcome) has
//     ConnectTimeout; a failed one is retried up to Retries times with
//     exponential backoff. Client i joins room i % Rooms and starts reading
//     as soon as it has its welcome. The phase ends when every attempt has
//     ended, so sending starts only when every client that could connect
//     is a member of its room.
//   - send: clients 0..Senders-1 send, Rate messages per second together
//     for Duration, evenly spaced: sender j of n sends every n/Rate seconds,
//     starting j/Rate seconds in. A sender that falls behind (a slow write,
//     a busy CPU) sends at once until it has caught up; how late it was is
//     reported as send lag, and the achieved rate beside the target.
//   - drain: up to Drain for deliveries still in flight; it ends as soon as
//     everything expected has arrived.
//   - close: every connection is closed with a close frame.
//
// A run is bounded: it ends by itself within Budget(cfg), whatever the
// server does. When ctx is cancelled (Ctrl-C in cmd/loadtest), the run
// stops sending, drains for at most a second, and returns the results so
// far.
//
// Run refuses URLs whose host is not "localhost" or a loopback address
// unless AllowRemote is set, and raises RLIMIT_NOFILE to its hard limit
// (procstat.RaiseFileLimit).
//
// # What every receiver checks
//
// Each message text is "lt <run> <sender> <seq> <unixnano> " padded with
// 'x' to Size bytes: the run's random id, the sender's index, its sequence
// number from 0, and the send time. Every client receives: for each sender
// of its room it keeps the next expected sequence number and a 64-bit
// window of the latest ones (Sequence, 16 bytes), so its memory is fixed
// whatever the length of the run. From that come, over all receivers:
//
//   - Expected: for each message sent, the members its room had when
//     sending started (senders receive their own messages too);
//   - Delivered: distinct (sender, seq) arrivals; Lost = Expected -
//     Delivered, i.e. not there by the end of the drain;
//   - Duplicated, OutOfOrder (arrived after a later message of the same
//     sender), Unverified (so late, beyond the window, that a duplicate
//     cannot be ruled out; counted as delivered);
//   - Misrouted (this run's message from a sender of another room), Foreign
//     (messages not of this run), Malformed (frames that are not events);
//   - Gaps and GapMissed (gap events: loss the server admitted) and
//     ServerErrors (error events, such as a refused message);
//   - IDSkipped and IDRepeated: the room event ids, which the contract makes
//     consecutive for every member, seen to jump (other than after a gap)
//     or go back.
//
// The receive path parses JSON with a small scanner (ScanEvent) that does
// not allocate for the plain ASCII texts the generator sends, and falls
// back to encoding/json for strings with escapes, so it is exact.
//
// # Latency
//
// Fan-out latency runs from just before a sender writes a message to just
// after a receiver has read it, for every delivery, on a monotonic clock.
// Samples go into Histograms: fixed-size (16 KB) log-linear buckets, exact
// below 128 ns and within 0.78% above, up to 68 s, with exact Min and Max.
// Receivers record into a few shared shards with atomic adds; the shards
// are merged for the results, and cumulative snapshots are subtracted for
// the per-second p99 of the progress line.
//
// # Resources, and whether the figures measure the server
//
// With ServerPID (a server on this machine) Run reads the server's CPU time
// from /proc/<pid>/stat and its memory from /proc/<pid>/status; with
// ServerMetrics it reads process_cpu_seconds_total and
// process_resident_memory_bytes from the server's Prometheus text instead.
// It reports the server's CPU over the measured window (send start to end
// of drain) and per delivery, its RSS before connecting and once connected,
// the RSS per connection, and the peak RSS, sampled each second.
//
// The generator's own CPU comes from getrusage and the machine's from
// /proc/stat. When the generator kept 90% of the cores it can use busy,
// Bottleneck is set and a loud warning says the figures measure the
// generator, not the server; when the whole machine was 90% busy, a warning
// says server and generator (and any other process) competed for CPUs.
//
// # Output
//
// Config.Progress receives a Progress snapshot every second and at each
// phase change; NewProgressPrinter prints them as one line each.
// Result.WriteText prints the final table and Result.WriteJSON the JSON
// form, whose field names are stable.
//
// # Capacity
//
// Run is the core; Capacity is built on it. It runs a configuration with
// growing numbers of clients (CapacitySteps makes a 1-2-5 series) until a
// run's fan-out p99 exceeds a target or it loses a delivery, and reports
// the largest count that met the target.
//
// # Beside the generator
//
// The packages under loadtest/ use the generator; it uses none of them but
// procstat and two of the internal ones:
//
//   - floor is the floor server, the least a chat server can do — each
//     message framed once and written to every member, one plain write
//     each, by GOMAXPROCS writer goroutines per room that share the
//     members — so that a run against it shows the floor that the kernel,
//     loopback TCP and the generator impose; cmd/loadtest -floor starts it
//     in a child process so that its CPU and memory are measured apart.
//   - hub is the conventional design, gorilla/websocket's chat example's
//     hub on wsproto — a hub goroutine per room, a writer goroutine and a
//     256-message channel per client — the comparison point of issue 13's
//     targets; cmd/loadtest -hub starts it as -floor does the floor.
//   - bench is make bench (cmd/bench): a matrix of runs, each against a
//     fresh chat server, floor server or hub server process, and the
//     tables of BENCHMARKS.md.
//   - soak is make soak (cmd/bench -soak): about 2,000 clients of mixed
//     behaviour on a chat server, the well-behaved ones checked with this
//     package's ScanEvent, Sequence and ErrorKind, and BENCHMARKS.md's
//     reliability tables.
//   - childproc starts and stops the servers under test as child
//     processes, for bench and soak.
//   - procstat reads processes and the machine from /proc and getrusage,
//     for all three.
//
// loadtest/internal holds what they share and no one else needs: promtext
// (Prometheus text), humanize (figures for people), benchmd (BENCHMARKS.md
// regions and cells), and the tests' runtest and childproctest.
package loadtest
