package bench

import (
	"fmt"
	"strings"

	"ringchat/loadtest"
	"ringchat/loadtest/internal/benchmd"
	"ringchat/loadtest/internal/humanize"
)

// RegionCluster is the region of BENCHMARKS.md that make bench-cluster
// writes; make bench leaves it alone, and make bench-cluster every other.
const RegionCluster = "cluster"

// ClusterTarget is issue 12's target: the cross-node fan-out p99 within
// this many times the single node's at the same load.
const ClusterTarget = 1.2

// WriteClusterBenchmarks rewrites the cluster region of the file at path,
// starting from newDoc when it does not exist, atomically.
func WriteClusterBenchmarks(path string, rep *ClusterReport, newDoc string) error {
	return benchmd.UpdateFile(path, newDoc, map[string]string{RegionCluster: rep.Markdown()}, []string{RegionCluster})
}

// Ratios returns, for every round of the comparison whose two runs both
// delivered, the cluster's cross-node p99 and its overall p99 each divided
// by the single node's p99.
func (rep *ClusterReport) Ratios() (cross, all []float64) {
	single := map[int]*loadtest.Result{}
	for _, r := range rep.Runs {
		if r.Row.Nodes == 1 && r.Round > 0 && r.Result != nil && r.Result.Latency.Count > 0 {
			single[r.Round] = r.Result
		}
	}
	for _, r := range rep.Runs {
		s := single[r.Round]
		if r.Row.Nodes < 2 || r.Round == 0 || s == nil || r.Result == nil || r.Result.CrossNode == nil || r.Result.CrossNode.Count == 0 || s.Latency.P99Ms <= 0 {
			continue
		}
		cross = append(cross, r.Result.CrossNode.P99Ms/s.Latency.P99Ms)
		all = append(all, r.Result.Latency.P99Ms/s.Latency.P99Ms)
	}
	return cross, all
}

// Markdown renders the cluster region.
func (rep *ClusterReport) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := rep.Machine
	p("| | |\n| --- | --- |\n")
	p("| date | %s (UTC), %.0f s in all |\n", rep.Started.UTC().Format("2006-01-02 15:04"), rep.ElapsedS)
	p("| command | `%s` |\n", rep.Command)
	p("| machine | %s, %d cores (%d usable), %s; Linux %s; %s |\n", benchmd.OrDash(m.CPUModel), m.CPUs, m.Usable,
		humanize.Bytes(float64(m.MemoryBytes)), benchmd.OrDash(m.Kernel), m.GoVersion)
	p("| load average (1, 5, 15 min) | %s before, %s after |\n", benchmd.OrDash(m.LoadBefore), benchmd.OrDash(m.LoadAfter))
	p("| chat server | `%s -max-conns N [-redis redis://ADDR -node nodeK]` (one node: the defaults, history on disk) |\n", benchmd.CommandLine(rep.ServerArgs))
	p("| redis | `%s` (a fresh one per run) |\n", benchmd.CommandLine(rep.RedisArgs))
	p("| every run | one room, one sender (client 0, on the first node), %d-byte messages, raw clients spread round-robin over the nodes, connecting at up to %g/s per generator process from 127.0.0.2–7 |\n", rep.Size, rep.Ramp)
	if rep.Interrupted {
		p("\n**This run was interrupted: the tables are incomplete.**\n")
	}

	cross, all := rep.Ratios()
	p("\n**The comparison** (issue 12: cross-node p99 within %.1f× of one node serving the same clients). Each round runs one node, then the cluster, one right after the other.\n\n", ClusterTarget)
	p("| round | 1 node: p50 | p99 | cluster: p50 | p99 | cross-node p50 | cross-node p99 | **cross-node p99 ÷ 1 node p99** | cluster p99 ÷ 1 node p99 | lost (1 node; cluster) |\n")
	p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	rounds := map[int][2]*ClusterRun{}
	maxRound := 0
	for i := range rep.Runs {
		r := &rep.Runs[i]
		if r.Round == 0 {
			continue
		}
		pair := rounds[r.Round]
		if r.Row.Nodes == 1 {
			pair[0] = r
		} else {
			pair[1] = r
		}
		rounds[r.Round] = pair
		maxRound = max(maxRound, r.Round)
	}
	for round := 1; round <= maxRound; round++ {
		pair := rounds[round]
		s, c := pair[0], pair[1]
		p("| %d ", round)
		if s == nil || s.Result == nil {
			p("| %s | ", runNote(s))
		} else {
			p("| %s | %s ", humanize.Ms(s.Result.Latency.P50Ms), humanize.Ms(s.Result.Latency.P99Ms))
		}
		if c == nil || c.Result == nil || c.Result.CrossNode == nil {
			p("| %s |||||| ", runNote(c))
		} else {
			cr, cn := c.Result, c.Result.CrossNode
			p("| %s | %s | %s | %s ", humanize.Ms(cr.Latency.P50Ms), humanize.Ms(cr.Latency.P99Ms), humanize.Ms(cn.P50Ms), humanize.Ms(cn.P99Ms))
			if s != nil && s.Result != nil && s.Result.Latency.P99Ms > 0 {
				p("| **%.2f×** | %.2f× ", cn.P99Ms/s.Result.Latency.P99Ms, cr.Latency.P99Ms/s.Result.Latency.P99Ms)
			} else {
				p("| - | - ")
			}
		}
		p("| %s; %s |\n", lostCell(s), lostCell(c))
	}
	if len(cross) > 0 {
		verdict := "**met**"
		if median(cross) > ClusterTarget {
			verdict = "**not met**"
		}
		p("\nMedian over %d round(s): cross-node p99 ÷ one node's p99 = **%.2f×** (each round: %s), target ≤ %.1f×: %s; the cluster's p99 over all its deliveries ÷ one node's = %.2f×.\n",
			len(cross), median(cross), ratioList(cross), ClusterTarget, verdict, median(all))
	}

	p("\n**Every run.** Latency from the sender's write to a receiver's parse, over every delivery; cross-node: deliveries to clients on another node than the sender's, through Redis. CPU per delivery is all the nodes' together over the deliveries; Redis's per message is its CPU from the start of sending to the end of the drain over the messages published (all), and its CPU while sending less what it used idle — with every client connected and nothing sent, over a whole presence-refresh period — over the messages (net of idle: the publishes' own cost, coarse at these few messages and 10 ms ticks).\n\n")
	p("| run | clients | nodes | generator processes | messages | p50 | p99 | p99.9 | cross-node p50 / p99 | lost | dup / out of order | servers µs/delivery | Redis µs/message: all / net of idle | Redis cores sending / idle | RSS per node, peak | generator cores | machine busy |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |\n")
	for _, r := range rep.Runs {
		name := r.Row.Name
		if r.Round > 0 {
			name += fmt.Sprintf(", round %d", r.Round)
		}
		p("| %s | %s | %d | %d ", name, humanize.Thousands(float64(r.Row.Clients)), r.Row.Nodes, max(r.Row.Parts, 1))
		res := r.Result
		if res == nil {
			p("| %s ||||||||||||| |\n", runNote(&r))
			continue
		}
		l := res.Latency
		p("| %s | %s | %s | %s ", humanize.Thousands(float64(res.Messages.Sent)), benchmd.Latency(l.Count, l.P50Ms), benchmd.Latency(l.Count, l.P99Ms), benchmd.Latency(l.Count, l.P999Ms))
		if cn := res.CrossNode; cn != nil {
			p("| %s / %s ", benchmd.Latency(cn.Count, cn.P50Ms), benchmd.Latency(cn.Count, cn.P99Ms))
		} else {
			p("| - ")
		}
		p("| %s | %s / %s ", lostCell(&r), benchmd.ZeroOrBold(res.Messages.Duplicated), benchmd.ZeroOrBold(res.Messages.OutOfOrder))
		if s := res.Server; s != nil && s.Error == "" {
			p("| %.2f ", s.CPUPerDeliveryUs)
		} else {
			p("| - ")
		}
		if rs := res.Redis; rs != nil && rs.Error == "" {
			idle := "-"
			if r.RedisIdleCores >= 0 {
				idle = fmt.Sprintf("%.2f", r.RedisIdleCores)
			}
			p("| %s / %s | %.2f / %s ", humanize.Thousands(rs.CPUPerMessageUs), netPerMessage(r), rs.CPUCoresSend, idle)
		} else {
			p("| - | - ")
		}
		p("| %s | %.2f | %.0f%% |\n", nodeRSS(res), res.Generator.CPUCoresSend, 100*res.Generator.MachineBusySend)
	}

	var notes []string
	for _, r := range rep.Runs {
		if r.Row.Nodes < 2 {
			continue
		}
		name := r.Row.Name
		if r.Round > 0 {
			name += fmt.Sprintf(", round %d", r.Round)
		}
		var parts []string
		if r.Outages > 0 {
			parts = append(parts, fmt.Sprintf("the nodes found Redis unreachable %d time(s) (%d of them after sending began: while sending, draining or disconnecting), the longest for %.1f s", r.Outages, r.OutagesSending, r.LongestOutageS))
		}
		if len(r.SlowLog) > 0 {
			var top []string
			for _, s := range r.SlowLog[:min(3, len(r.SlowLog))] {
				top = append(top, fmt.Sprintf("%s ms `%s`", humanize.Thousands(float64(s.Micros)/1000), benchmd.Escape(s.Command)))
			}
			parts = append(parts, fmt.Sprintf("%d command(s) blocked Redis over 10 ms, the longest %s", len(r.SlowLog), strings.Join(top, ", ")))
		}
		if len(r.Commands) > 0 {
			var total int64
			for _, c := range r.Commands {
				total += c.Usec
			}
			var top []string
			for _, c := range r.Commands[:min(3, len(r.Commands))] {
				top = append(top, fmt.Sprintf("`%s` %.0f%% (%s calls, %s µs each)", c.Name, 100*float64(c.Usec)/float64(max(total, 1)), humanize.Thousands(float64(c.Calls)), humanize.Thousands(c.UsecPerCall)))
			}
			parts = append(parts, "Redis's command time: "+strings.Join(top, ", "))
		}
		if len(parts) > 0 {
			notes = append(notes, fmt.Sprintf("- %s: %s.", name, strings.Join(parts, "; ")))
		}
	}
	if len(notes) > 0 {
		p("\n**Redis during the runs** (its slow log over 10 ms and INFO commandstats, the whole run from the first connection; the nodes' logs):\n\n%s\n", strings.Join(notes, "\n"))
	}
	var warnings []string
	for _, r := range rep.Runs {
		if r.Result == nil {
			continue
		}
		for _, w := range r.Result.Warnings {
			if strings.HasPrefix(w, "the machine's CPUs") {
				continue // shown as machine busy
			}
			warnings = append(warnings, fmt.Sprintf("- %s (round %d): %s", r.Row.Name, r.Round, benchmd.Escape(w)))
		}
		if r.Error != "" {
			warnings = append(warnings, fmt.Sprintf("- %s (round %d): error: %s", r.Row.Name, r.Round, benchmd.Escape(firstLine(r.Error))))
		}
	}
	if len(warnings) > 0 {
		p("\n**Warnings of the runs:**\n\n%s\n", strings.Join(warnings, "\n"))
	}
	return b.String()
}

// netPerMessage is Redis's CPU per message while sending, less what it
// used idle, in µs; "-" when idle was not measured.
func netPerMessage(r ClusterRun) string {
	res := r.Result
	if r.RedisIdleCores < 0 || res.Redis == nil || res.Redis.Messages == 0 || res.Messages.SendS <= 0 {
		return "-"
	}
	net := max(res.Redis.CPUCoresSend-r.RedisIdleCores, 0) * res.Messages.SendS / float64(res.Redis.Messages)
	return humanize.Thousands(net * 1e6)
}

func ratioList(l []float64) string {
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = fmt.Sprintf("%.2f×", v)
	}
	return strings.Join(s, ", ")
}

func runNote(r *ClusterRun) string {
	switch {
	case r == nil:
		return "not run"
	case r.Skipped != "":
		return "not run: " + benchmd.Escape(r.Skipped)
	case r.Error != "":
		return "failed: " + benchmd.Escape(firstLine(r.Error))
	}
	return "-"
}

func lostCell(r *ClusterRun) string {
	if r == nil || r.Result == nil {
		return "-"
	}
	m := r.Result.Messages
	s := benchmd.ZeroOrBold(m.Lost) + " of " + humanize.Thousands(float64(m.Expected))
	if cn := r.Result.Connections; cn.Failed > 0 || cn.Dropped > 0 {
		s += fmt.Sprintf(" (**%d failed to connect, %d dropped**)", cn.Failed, cn.Dropped)
	}
	return s
}

// nodeRSS is the nodes' peak RSS: one figure, or the range over them.
func nodeRSS(res *loadtest.Result) string {
	nodes := res.Nodes
	if len(nodes) == 0 && res.Server != nil {
		nodes = []loadtest.ServerStats{*res.Server}
	}
	if len(nodes) == 0 {
		return "-"
	}
	lo, hi := ^uint64(0), uint64(0)
	for _, n := range nodes {
		v := max(n.PeakRSSBytes, n.HWMBytes)
		lo, hi = min(lo, v), max(hi, v)
	}
	if humanize.Bytes(float64(lo)) == humanize.Bytes(float64(hi)) {
		return humanize.Bytes(float64(hi))
	}
	return humanize.Bytes(float64(lo)) + "–" + humanize.Bytes(float64(hi))
}
