package loadtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"ringchat/loadtest/internal/promtext"
	"ringchat/loadtest/procstat"
)

// serverProbe reads the resources of the server under test.
type serverProbe interface {
	sample(ctx context.Context) (procstat.Sample, error)
	describe() string
	close()
}

// newServerProbes returns the probes c asks for: one per server.
func newServerProbes(c *Config) []serverProbe {
	if len(c.ServerPIDs) > 0 {
		var ps []serverProbe
		for _, pid := range c.ServerPIDs {
			ps = append(ps, pidProbe{pid: pid, tick: procstat.ClockTick()})
		}
		return ps
	}
	if p := newServerProbe(c); p != nil {
		return []serverProbe{p}
	}
	return nil
}

// newServerProbe returns the probe of ServerPID or ServerMetrics, or nil.
func newServerProbe(c *Config) serverProbe {
	switch {
	case c.ServerPID != 0:
		return pidProbe{pid: c.ServerPID, tick: procstat.ClockTick()}
	case c.ServerMetrics != "":
		return metricsProbe{url: c.ServerMetrics, client: &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{MaxIdleConns: 1},
		}}
	}
	return nil
}

// pidProbe reads /proc/<pid>/stat and /proc/<pid>/status.
type pidProbe struct {
	pid  int
	tick time.Duration
}

func (p pidProbe) describe() string { return "pid " + strconv.Itoa(p.pid) }

func (p pidProbe) close() {}

func (p pidProbe) sample(context.Context) (procstat.Sample, error) {
	return procstat.ReadProcess("/proc", p.pid, p.tick)
}

// metricsProbe scrapes the server's Prometheus text.
type metricsProbe struct {
	url    string
	client *http.Client
}

func (p metricsProbe) describe() string { return p.url }

func (p metricsProbe) close() { p.client.CloseIdleConnections() }

func (p metricsProbe) sample(ctx context.Context) (procstat.Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return procstat.Sample{}, fmt.Errorf("loadtest: server metrics: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return procstat.Sample{}, fmt.Errorf("loadtest: server metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return procstat.Sample{}, fmt.Errorf("loadtest: server metrics: %s", resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 4<<20))
}

// parseMetrics reads process_cpu_seconds_total and
// process_resident_memory_bytes from Prometheus text exposition format.
func parseMetrics(r io.Reader) (procstat.Sample, error) {
	var s procstat.Sample
	var haveCPU, haveRSS bool
	err := promtext.Scan(r, func(name, _ string, v float64) {
		switch name {
		case "process_cpu_seconds_total":
			s.CPU, haveCPU = time.Duration(v*float64(time.Second)), true
		case "process_resident_memory_bytes":
			s.RSS, haveRSS = uint64(v), true
		}
	})
	if err != nil {
		return s, err
	}
	if !haveCPU || !haveRSS {
		return s, fmt.Errorf("loadtest: server metrics: no process_cpu_seconds_total or process_resident_memory_bytes")
	}
	return s, nil
}
