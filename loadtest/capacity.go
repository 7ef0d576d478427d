package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"ringchat/loadtest/internal/humanize"
)

// CapacityResult is the outcome of Capacity.
type CapacityResult struct {
	TargetP99Ms float64 `json:"target_p99_ms"`
	// Clients is the largest number of clients whose run met the target:
	// fan-out p99 at most the target, no delivery lost, every client
	// connected. 0 when none did.
	Clients int `json:"clients"`
	// GeneratorLimited is set when the generator was the bottleneck in a
	// run that counted, so that the server may do better than Clients.
	GeneratorLimited bool `json:"generator_limited"`
	// LimitFound is set when a step missed the target; otherwise every
	// step met it, and the capacity is at least Clients.
	LimitFound bool           `json:"limit_found"`
	Steps      []CapacityStep `json:"steps"`
}

// CapacityStep is one run of a capacity search.
type CapacityStep struct {
	Clients int    `json:"clients"`
	Met     bool   `json:"met"`
	Why     string `json:"why,omitempty"` // why the target was not met
	Result  Result `json:"result"`
}

// Capacity searches for the largest number of clients the server serves
// within a fan-out p99 of target: it runs base with each number of clients
// in steps, in order, until a run misses the target, the context is
// cancelled or a run fails. Senders and Rooms are capped at the number of
// clients. each, when not nil, is called after every step. The error is that
// of a failed run.
func Capacity(ctx context.Context, base Config, target time.Duration, steps []int, each func(CapacityStep)) (CapacityResult, error) {
	cr := CapacityResult{TargetP99Ms: float64(target) / 1e6}
	if target <= 0 || len(steps) == 0 {
		return cr, invalid("capacity needs a positive p99 target and at least one step")
	}
	for i, n := range steps {
		if n < 1 || i > 0 && n <= steps[i-1] {
			return cr, invalid("capacity steps must be positive and increasing, not %v", steps)
		}
	}
	for _, n := range steps {
		cfg := base
		cfg.Clients = n
		cfg.Senders = min(cfg.Senders, n)
		cfg.Rooms = min(cfg.Rooms, n)
		res, err := Run(ctx, cfg)
		st := CapacityStep{Clients: n, Result: res}
		switch m, l := res.Messages, res.Latency; {
		case err != nil:
			st.Why = err.Error()
		case res.Interrupted || res.TimedOut:
			st.Why = "interrupted"
		case res.Connections.Failed > 0 || res.Connections.Dropped > 0:
			st.Why = fmt.Sprintf("%d clients failed to connect, %d dropped", res.Connections.Failed, res.Connections.Dropped)
		case m.Lost > 0:
			st.Why = fmt.Sprintf("%d deliveries lost", m.Lost)
		case l.Count == 0:
			st.Why = "nothing delivered"
		case l.P99Ms > cr.TargetP99Ms:
			st.Why = fmt.Sprintf("p99 %s over %s", humanize.Ms(l.P99Ms), humanize.Duration(target))
		default:
			st.Met = true
			cr.Clients = n
			cr.GeneratorLimited = cr.GeneratorLimited || res.Generator.Bottleneck
		}
		cr.Steps = append(cr.Steps, st)
		if each != nil {
			each(st)
		}
		if err != nil {
			return cr, err
		}
		if !st.Met {
			cr.LimitFound = true
			break
		}
	}
	return cr, nil
}

// CapacitySteps returns the 1-2-5 series from start up to limit: with start
// 100, 100, 200, 500, 1000, 2000, 5000...
func CapacitySteps(start, limit int) []int {
	var steps []int
	for decade := 1; decade <= limit; decade *= 10 {
		for _, m := range []int{1, 2, 5} {
			if n := m * decade; n >= start && n <= limit {
				steps = append(steps, n)
			}
		}
	}
	if len(steps) == 0 || steps[0] != start && start <= limit {
		steps = append([]int{start}, steps...)
	}
	return steps
}

// String formats the step as one line.
func (st CapacityStep) String() string {
	l := st.Result.Latency
	verdict := "met"
	if !st.Met {
		verdict = "missed: " + st.Why
	}
	return fmt.Sprintf("%7d clients  p50 %-8s p99 %-8s max %-8s  %8.0f deliveries/s  %s",
		st.Clients, humanize.Ms(l.P50Ms), humanize.Ms(l.P99Ms), humanize.Ms(l.MaxMs), st.Result.Messages.DeliveriesPerSec, verdict)
}

// WriteJSON writes cr as indented JSON.
func (cr *CapacityResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(cr)
}

// WriteText writes the search as a table.
func (cr *CapacityResult) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "capacity search, fan-out p99 target %s\n", humanize.Ms(cr.TargetP99Ms))
	for _, st := range cr.Steps {
		fmt.Fprintln(&b, st)
	}
	switch {
	case cr.Clients == 0:
		fmt.Fprintf(&b, "capacity: no step met the target\n")
	case !cr.LimitFound:
		fmt.Fprintf(&b, "capacity: at least %d clients (every step met the target)\n", cr.Clients)
	default:
		fmt.Fprintf(&b, "capacity: %d clients\n", cr.Clients)
	}
	if cr.GeneratorLimited {
		fmt.Fprintf(&b, "WARNING: the load generator was the bottleneck in a step that met the target: the server's capacity may be higher\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
