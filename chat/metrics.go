package chat

import (
	"fmt"
	"io"
	"net/http"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics counts what the server does, for /metrics in the Prometheus text
// format. Every method is safe for concurrent use; counting is a handful of
// atomic adds.
type Metrics struct {
	connections      atomic.Int64 // open chat connections
	connectionsTotal atomic.Uint64
	rooms            atomic.Int64
	sessions         atomic.Int64  // sessions kept: live, or ended less than SessionTTL ago
	messagesIn       atomic.Uint64 // text frames received
	bytesIn          atomic.Uint64
	eventsPublished  atomic.Uint64
	framesOut        atomic.Uint64 // frames written, broadcast and direct
	bytesOut         atomic.Uint64
	writeCalls       atomic.Uint64 // writev calls carrying them
	gaps             atomic.Uint64
	slowDisconnects  atomic.Uint64
	rateLimited      atomic.Uint64
	storeErrors      atomic.Uint64 // events the store refused: not sent to anyone
	storeReplayed    atomic.Uint64 // events sent from the store, older than the ring held
	duplicateSends   atomic.Uint64 // ringchat.v1 sends already accepted, answered again
	refusedSends     [len(refusalReasons)]atomic.Uint64
	closes           [closeCodeSlots]atomic.Uint64 // by code 1000..1015, then "other"
	fanout           latencyHistogram
	deflate          FrameCompressor // room events' compressed frames, for members using permessage-deflate

	mu       sync.Mutex
	refusals map[string]uint64 // handshake refusals by reason

	// Set by NewServer, read-only after.
	node  string       // the process's name in a cluster
	store StoreMetrics // the history store's own figures, if it has any
}

// StoreMetrics is what a history store implements to add its own figures
// to /metrics: WriteMetrics writes them in the Prometheus text format.
type StoreMetrics interface {
	WriteMetrics(w io.Writer)
}

const closeCodeSlots = 17 // 1000-1015 and one for everything else

// refusalReasons are the reasons a send is refused, in the order of
// Metrics.refusedSends.
var refusalReasons = [...]string{ReasonRateLimited, ReasonTooLong, ReasonEmpty, ReasonBadCommand, ReasonBadFrame, ReasonUnavailable}

// countRefusedSend counts a line refused for reason.
func (m *Metrics) countRefusedSend(reason string) {
	for i, r := range refusalReasons {
		if r == reason {
			m.refusedSends[i].Add(1)
			return
		}
	}
}

func (m *Metrics) countClose(code uint16) {
	i := int(code) - 1000
	if i < 0 || i >= closeCodeSlots-1 {
		i = closeCodeSlots - 1
	}
	m.closes[i].Add(1)
}

func (m *Metrics) countRefusal(reason string) {
	m.mu.Lock()
	if m.refusals == nil {
		m.refusals = make(map[string]uint64)
	}
	m.refusals[reason]++
	m.mu.Unlock()
}

// latencyBounds are the upper bounds, in seconds, of the fan-out latency
// histogram's buckets.
var latencyBounds = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// latencyHistogram is a fixed-bucket histogram of durations.
type latencyHistogram struct {
	counts [len(latencyBounds) + 1]atomic.Uint64 // the last one is +Inf
	sumNs  atomic.Int64
}

// observe adds n observations of d.
func (h *latencyHistogram) observe(d time.Duration, n int) {
	s := d.Seconds()
	i := 0
	for i < len(latencyBounds) && s > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(uint64(n))
	h.sumNs.Add(int64(d) * int64(n))
}

// ServeHTTP writes the metrics in the Prometheus text exposition format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.WriteTo(w)
}

// WriteTo writes the metrics in the Prometheus text exposition format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	gauge := func(name, help string, v int64) {
		fmt.Fprintf(cw, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(cw, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge("ringchat_connections", "Open chat connections.", m.connections.Load())
	counter("ringchat_connections_total", "Chat connections accepted.", m.connectionsTotal.Load())
	gauge("ringchat_rooms", "Rooms with at least one member.", m.rooms.Load())
	gauge("ringchat_sessions", "Sessions kept: with a connection, or ended less than two minutes ago (they resume with session=).", m.sessions.Load())
	counter("ringchat_messages_in_total", "Text frames received from clients.", m.messagesIn.Load())
	counter("ringchat_bytes_in_total", "Payload bytes received from clients.", m.bytesIn.Load())
	counter("ringchat_events_published_total", "Room events published.", m.eventsPublished.Load())
	counter("ringchat_frames_out_total", "Frames written to clients.", m.framesOut.Load())
	counter("ringchat_bytes_out_total", "Bytes written to clients.", m.bytesOut.Load())
	counter("ringchat_write_calls_total", "Vectored writes that carried the frames out.", m.writeCalls.Load())
	counter("ringchat_gaps_total", "Gap events sent to clients that fell behind.", m.gaps.Load())
	counter("ringchat_slow_disconnects_total", "Clients closed with 1008 for falling behind.", m.slowDisconnects.Load())
	counter("ringchat_rate_limited_total", "Client messages refused by the rate limit.", m.rateLimited.Load())
	fmt.Fprintf(cw, "# HELP ringchat_sends_refused_total Lines clients sent that were refused, by reason (each got an error event).\n# TYPE ringchat_sends_refused_total counter\n")
	for i, r := range refusalReasons {
		fmt.Fprintf(cw, "ringchat_sends_refused_total{reason=%q} %d\n", r, m.refusedSends[i].Load())
	}
	counter("ringchat_duplicate_sends_total", "ringchat.v1 sends whose cid the session had accepted: answered with the original ack, not published again.", m.duplicateSends.Load())
	counter("ringchat_store_errors_total", "Room events the history store refused (not sent to anyone).", m.storeErrors.Load())
	counter("ringchat_store_replayed_total", "Room events sent from the history store because the ring no longer held them.", m.storeReplayed.Load())
	counter("ringchat_compressed_events_total", "Room events compressed (permessage-deflate), once each for every member that uses it.", m.deflate.events.Load())
	counter("ringchat_compressed_bytes_in_total", "Bytes of the room events' frames before compression.", m.deflate.bytesIn.Load())
	counter("ringchat_compressed_bytes_out_total", "Bytes of the same frames compressed.", m.deflate.bytesOut.Load())

	fmt.Fprintf(cw, "# HELP ringchat_closes_total Connections ended, by close code (1006: without a close frame).\n# TYPE ringchat_closes_total counter\n")
	for i := range m.closes {
		if v := m.closes[i].Load(); v > 0 {
			code := strconv.Itoa(1000 + i)
			if i == closeCodeSlots-1 {
				code = "other"
			}
			fmt.Fprintf(cw, "ringchat_closes_total{code=%q} %d\n", code, v)
		}
	}

	fmt.Fprintf(cw, "# HELP ringchat_handshake_refusals_total Connection attempts refused before the upgrade, by reason.\n# TYPE ringchat_handshake_refusals_total counter\n")
	m.mu.Lock()
	reasons := make([]string, 0, len(m.refusals))
	for r := range m.refusals {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		fmt.Fprintf(cw, "ringchat_handshake_refusals_total{reason=%q} %d\n", r, m.refusals[r])
	}
	m.mu.Unlock()

	const h = "ringchat_fanout_latency_seconds"
	fmt.Fprintf(cw, "# HELP %s Time from publishing a room event to writing it to a member's socket.\n# TYPE %s histogram\n", h, h)
	var cum uint64
	for i, le := range latencyBounds {
		cum += m.fanout.counts[i].Load()
		fmt.Fprintf(cw, "%s_bucket{le=\"%g\"} %d\n", h, le, cum)
	}
	cum += m.fanout.counts[len(latencyBounds)].Load()
	fmt.Fprintf(cw, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", h, cum, h, time.Duration(m.fanout.sumNs.Load()).Seconds(), h, cum)
	if m.node != "" {
		fmt.Fprintf(cw, "# HELP ringchat_node_info This process's name in a cluster (-node).\n# TYPE ringchat_node_info gauge\nringchat_node_info{node=%q} 1\n", m.node)
	}
	if m.store != nil {
		m.store.WriteMetrics(cw)
	}
	writeProcessMetrics(cw)
	return cw.n, cw.err
}

// runtimeSamples are the Go runtime figures /metrics reports.
var runtimeSamples = []struct{ name, metric, help string }{
	{"go_goroutines", "/sched/goroutines:goroutines", "Goroutines that currently exist."},
	{"go_heap_objects_bytes", "/memory/classes/heap/objects:bytes", "Bytes of live and not yet swept heap objects."},
	{"go_stacks_bytes", "/memory/classes/heap/stacks:bytes", "Bytes of goroutine stacks."},
	{"go_memory_total_bytes", "/memory/classes/total:bytes", "All memory the Go runtime has mapped."},
}

// writeProcessMetrics writes the process's goroutines, memory and CPU time,
// under the names Prometheus client libraries use.
func writeProcessMetrics(w io.Writer) {
	samples := make([]metrics.Sample, len(runtimeSamples))
	for i, r := range runtimeSamples {
		samples[i].Name = r.metric
	}
	metrics.Read(samples)
	for i, r := range runtimeSamples {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", r.name, r.help, r.name, r.name, samples[i].Value.Uint64())
		}
	}
	if cpu, ok := processCPUSeconds(); ok {
		fmt.Fprintf(w, "# HELP process_cpu_seconds_total User and system CPU time spent.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", cpu)
	}
	if rss, ok := processRSSBytes(); ok {
		fmt.Fprintf(w, "# HELP process_resident_memory_bytes Resident memory size.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", rss)
	}
}

// countingWriter counts bytes and keeps the first error.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
