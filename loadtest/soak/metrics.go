package soak

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"ringchat/loadtest/internal/promtext"
)

// ServerSample is one reading of the chat server's /metrics: the figures
// the soak compares before and after.
type ServerSample struct {
	Goroutines       int64 `json:"goroutines"`         // go_goroutines
	HeapObjectsBytes int64 `json:"heap_objects_bytes"` // go_heap_objects_bytes
	RSSBytes         int64 `json:"rss_bytes"`          // process_resident_memory_bytes
	Connections      int64 `json:"connections"`        // ringchat_connections
	// Sessions are ringchat_sessions: sessions the server keeps for
	// clients that may come back (two minutes after their connection
	// ended); 0 from a server without them.
	Sessions int64 `json:"sessions"`
	// Closes are ringchat_closes_total by code, Refusals
	// ringchat_handshake_refusals_total by reason.
	Closes   map[string]uint64 `json:"closes,omitempty"`
	Refusals map[string]uint64 `json:"refusals,omitempty"`
}

// parseServerSample reads a ServerSample from Prometheus text. Every one of
// the four gauges must be there.
func parseServerSample(r io.Reader) (ServerSample, error) {
	s := ServerSample{Closes: map[string]uint64{}, Refusals: map[string]uint64{}}
	seen := 0
	err := promtext.Scan(r, func(name, label string, v float64) {
		switch name {
		case "go_goroutines":
			s.Goroutines, seen = int64(v), seen|1
		case "go_heap_objects_bytes":
			s.HeapObjectsBytes, seen = int64(v), seen|2
		case "process_resident_memory_bytes":
			s.RSSBytes, seen = int64(v), seen|4
		case "ringchat_connections":
			s.Connections, seen = int64(v), seen|8
		case "ringchat_sessions":
			s.Sessions = int64(v)
		case "ringchat_closes_total":
			s.Closes[label] = uint64(v)
		case "ringchat_handshake_refusals_total":
			s.Refusals[label] = uint64(v)
		}
	})
	if err != nil {
		return s, err
	}
	if seen != 15 {
		return s, fmt.Errorf("loadtest: server metrics: want go_goroutines, go_heap_objects_bytes, process_resident_memory_bytes and ringchat_connections")
	}
	return s, nil
}

// metricsClient scrapes the server's /metrics. Every scrape is a
// connection of its own, so that no idle keep-alive connection (and the
// server goroutine that waits on it) is counted in one sample and not in
// another.
type metricsClient struct {
	url    string
	client *http.Client
}

// scrapeTimeout is how long a scrape may take before the server counts as
// hung.
const scrapeTimeout = 5 * time.Second

func newMetricsClient(url string) *metricsClient {
	return &metricsClient{url: url, client: &http.Client{
		Timeout:   scrapeTimeout,
		Transport: &http.Transport{DisableKeepAlives: true},
	}}
}

// sample scrapes once and returns the sample and how long the scrape took.
func (m *metricsClient) sample(ctx context.Context) (ServerSample, time.Duration, error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.url, nil)
	if err != nil {
		return ServerSample{}, 0, fmt.Errorf("loadtest: server metrics: %w", err)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return ServerSample{}, time.Since(start), fmt.Errorf("loadtest: server metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ServerSample{}, time.Since(start), fmt.Errorf("loadtest: server metrics: %s", resp.Status)
	}
	s, err := parseServerSample(io.LimitReader(resp.Body, 4<<20))
	return s, time.Since(start), err
}

// quietSample reads the server's resting state: the fewest goroutines and
// the smallest heap over a series of scrapes. The heap figure counts
// garbage not yet collected, and an idle server does not collect: so,
// unless forceGC can make it collect (a server in this process), the
// scrapes themselves, each of which allocates a few kilobytes in the
// server, run until the heap has fallen at least quietCollections times
// (each fall is a collection) — at most quietScrapes scrapes or
// quietTimeout — and both figures are the smallest seen after the first
// fall: the live heap, plus what a scrape holds at the moment, and the
// goroutines once the collector's own workers exist (the runtime starts
// them at the first collection, and counts them).
func (m *metricsClient) quietSample(ctx context.Context, forceGC func()) (ServerSample, error) {
	const (
		quietCollections = 3
		quietScrapes     = 20000
		quietTimeout     = 8 * time.Second
		quietMinScrapes  = 5
	)
	deadline := time.Now().Add(quietTimeout)
	var best, last ServerSample
	falls := 0
	for n := 0; n < quietScrapes; n++ {
		if forceGC != nil {
			forceGC()
		}
		s, _, err := m.sample(ctx)
		if err != nil {
			return best, err
		}
		fell := n > 0 && s.HeapObjectsBytes < last.HeapObjectsBytes
		if fell {
			falls++
		}
		switch {
		case n == 0, forceGC == nil && fell && falls == 1:
			best = s // from here on
		case forceGC != nil || falls > 0:
			best.Goroutines = min(best.Goroutines, s.Goroutines)
			best.HeapObjectsBytes = min(best.HeapObjectsBytes, s.HeapObjectsBytes)
		}
		best.RSSBytes, best.Connections, best.Closes, best.Refusals = s.RSSBytes, s.Connections, s.Closes, s.Refusals
		last = s
		if n+1 >= quietMinScrapes && (forceGC != nil || falls >= quietCollections) || time.Now().After(deadline) {
			break
		}
	}
	return best, nil
}
