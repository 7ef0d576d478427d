package soak

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"ringchat/loadtest/internal/benchmd"
	"ringchat/loadtest/internal/humanize"
)

// Region is the region of BENCHMARKS.md that make soak rewrites.
const Region = "soak"

// WriteBenchmarks rewrites the soak region of the file at path with res's
// reliability tables, atomically; a file whose markers are damaged is left
// alone.
func WriteBenchmarks(path string, res *Result) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("loadtest: %w", err)
	}
	return benchmd.RewriteFile(path, string(old), map[string]string{Region: res.Markdown()}, nil)
}

// Markdown renders the soak as BENCHMARKS.md's reliability tables.
func (r *Result) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	c := r.Config

	p("| | |\n| --- | --- |\n")
	p("| date | %s (UTC), %.0f s in all |\n", r.Started.UTC().Format("2006-01-02 15:04"), r.ElapsedS)
	if r.Command != "" {
		p("| command | `%s` |\n", r.Command)
	}
	if len(r.ServerArgs) > 0 {
		p("| chat server | `%s` |\n", benchmd.CommandLine(r.ServerArgs))
	}
	if m := r.Machine; m.CPUs > 0 {
		p("| machine | %s, %d cores; load average %s before, %s after |\n", benchmd.OrDash(m.CPUModel), m.CPUs, benchmd.OrDash(m.LoadBefore), benchmd.OrDash(m.LoadAfter))
	}
	p("| soak | %s clients, %g s, %d rooms (one big, the rest small); chatters at %g msg/s each; a storm every %g s |\n",
		humanize.Thousands(float64(c.Clients)), c.DurationS, c.Rooms, c.ChatRate, c.StormEveryS)
	verdict := "**PASS**: every check held"
	switch {
	case r.Interrupted:
		verdict = "**INTERRUPTED**: the figures cover the soak up to then"
	case len(r.Failures) > 0:
		verdict = fmt.Sprintf("**FAIL**: %d checks failed (below)", len(r.Failures))
	}
	p("| verdict | %s |\n", verdict)

	p("\n**Clients per behaviour.** Connections: handshakes begun / welcomes received. Problems are what the server should not have done; each fails the soak.\n\n")
	p("| behaviour | clients | connections | problems |\n| --- | ---: | ---: | ---: |\n")
	for _, bh := range r.Behaviour {
		p("| %s | %s | %s / %s | %s |\n", bh.Name, humanize.Thousands(float64(bh.Clients)), humanize.Thousands(float64(bh.Attempts)), humanize.Thousands(float64(bh.Connected)), benchmd.ZeroOrBold(bh.Problem))
	}

	o := r.Observers
	l := o.Latency
	p("\n**Observers** (every event id and every chatter message, exactly once and in order).\n\n")
	p("| observers | events checked | ids missing | ids repeated | events differing | chatter messages expected | received | lost | duplicated | out of order | altered | gaps / errors / dropped | p50 | p99 (bound) | max |\n")
	p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	p("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s (≤ %s) | %s |\n",
		o.Observers, humanize.Thousands(float64(o.EventsChecked)), benchmd.ZeroOrBold(o.IDsMissing), benchmd.ZeroOrBold(o.IDsRepeated), benchmd.ZeroOrBold(o.Diverged),
		humanize.Thousands(float64(o.Expected)), humanize.Thousands(float64(o.Received)), benchmd.ZeroOrBold(o.Lost), benchmd.ZeroOrBold(o.Duplicated), benchmd.ZeroOrBold(o.OutOfOrder),
		benchmd.ZeroOrBold(o.Corrupted), benchmd.ZeroOrBold(o.Gaps), benchmd.ZeroOrBold(o.Errors), benchmd.ZeroOrBold(o.Dropped),
		benchmd.Latency(l.Count, l.P50Ms), benchmd.Latency(l.Count, l.P99Ms), humanize.Ms(c.MaxP99Ms), benchmd.Latency(l.Count, l.MaxMs))

	s := r.Server
	p("\n**Server** (from its /metrics; before: idle, before the first client; after: every client gone, %.1f s to settle).\n\n", s.SettleS)
	p("| | before | after | allowed after | peak |\n| --- | ---: | ---: | --- | ---: |\n")
	p("| goroutines | %s | %s | ≤ before + %d | %s |\n", humanize.Thousands(float64(s.Before.Goroutines)), humanize.Thousands(float64(s.After.Goroutines)), c.GoroutineSlack, humanize.Thousands(float64(s.PeakGoroutines)))
	p("| heap objects | %s | %s | ≤ before + %s (%s + %s × peak goroutines + %s × %s sessions kept) | - |\n", humanize.Bytes(float64(s.Before.HeapObjectsBytes)), humanize.Bytes(float64(s.After.HeapObjectsBytes)),
		humanize.Bytes(float64(s.HeapAllowance)), humanize.Bytes(float64(c.HeapSlackBytes)), humanize.Bytes(float64(c.HeapPerGoroutine)),
		humanize.Bytes(float64(c.HeapPerSession)), humanize.Thousands(float64(s.After.Sessions)))
	p("| RSS | %s | %s | not bounded | %s |\n", humanize.Bytes(float64(s.Before.RSSBytes)), humanize.Bytes(float64(s.After.RSSBytes)), humanize.Bytes(float64(s.PeakRSSBytes)))
	p("| connections | %s | %s | 0 | %s |\n", humanize.Thousands(float64(s.Before.Connections)), humanize.Thousands(float64(s.After.Connections)), humanize.Thousands(float64(s.PeakConnections)))
	perConn := "-"
	if s.ConnectionCycles > 0 {
		perConn = humanize.Bytes(float64(s.HeapAllowance) / float64(s.ConnectionCycles))
	}
	p("\nThe server accepted %s chat connections during the soak (a heap leak of more than %s per connection would exceed the heap's allowance) and answered %d of %d scrapes of /metrics, the slowest in %s.\n",
		humanize.Thousands(float64(s.ConnectionCycles)), perConn, s.Scrapes-s.ScrapeFailures, s.Scrapes, humanize.Ms(1000*s.SlowestScrapeS))
	if closes := countDiff(s.Before.Closes, s.After.Closes); closes != "" {
		p("Connections it ended, by close code (1006: without a close frame): %s.\n", closes)
	}
	if refusals := countDiff(s.Before.Refusals, s.After.Refusals); refusals != "" {
		p("Handshakes it refused, by reason: %s.\n", refusals)
	}

	p("\n**What each behaviour met** (outcome: times).\n\n")
	for _, bh := range r.Behaviour {
		if len(bh.Outcomes) == 0 && len(bh.Problems) == 0 {
			continue
		}
		var parts []string
		for _, oc := range bh.Outcomes {
			parts = append(parts, benchmd.Escape(oc.Error)+": "+humanize.Thousands(float64(oc.Count)))
		}
		for _, pr := range bh.Problems {
			parts = append(parts, "**"+benchmd.Escape(pr.Error)+": "+humanize.Thousands(float64(pr.Count))+"**")
		}
		p("- %s — %s\n", bh.Name, strings.Join(parts, "; "))
	}
	if len(r.Failures) > 0 {
		p("\n**Failed checks:**\n\n")
		for _, f := range r.Failures {
			p("- %s\n", benchmd.Escape(f))
		}
	}
	return b.String()
}

// countDiff renders after − before for each key, largest first.
func countDiff(before, after map[string]uint64) string {
	type kv struct {
		k string
		v uint64
	}
	var l []kv
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			l = append(l, kv{k, d})
		}
	}
	slices.SortFunc(l, func(a, b kv) int {
		if a.v != b.v {
			if a.v > b.v {
				return -1
			}
			return 1
		}
		return strings.Compare(a.k, b.k)
	})
	var parts []string
	for _, e := range l {
		parts = append(parts, benchmd.Escape(e.k)+": "+humanize.Thousands(float64(e.v)))
	}
	return strings.Join(parts, " · ")
}
