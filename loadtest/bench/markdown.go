package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"ringchat/loadtest"
	"ringchat/loadtest/internal/benchmd"
	"ringchat/loadtest/internal/humanize"
)

// The regions of BENCHMARKS.md that make bench writes.
const (
	RegionRun      = "run"      // when, where and how
	RegionLoadtest = "loadtest" // the matrix
	RegionFloor    = "floor"    // the chat server beside the floor
	RegionIdle     = "idle"     // memory per idle connection against the target
	RegionFindings = "findings" // loss, bottlenecks, warnings, failures
	RegionGoBench  = "gobench"  // go test -bench medians
	RegionStore    = "store"    // the history store: fan-out with it, appends, replay
	RegionTargets  = "targets"  // issue 13's targets: chat ÷ floor, chat ÷ hub, memory
	RegionReaders  = "readers"  // x/net's clients beside the raw ones
)

// RegionOrder is the order of the regions in a new BENCHMARKS.md.
var RegionOrder = []string{RegionRun, RegionTargets, RegionLoadtest, RegionReaders, RegionIdle, RegionFloor, RegionStore, RegionFindings, RegionGoBench}

// WriteBenchmarks rewrites the regions of the file at path with rep's
// tables, starting from newDoc when the file does not exist. It replaces
// the file atomically: a failure leaves the old one.
func WriteBenchmarks(path string, rep *Report, newDoc string) error {
	return benchmd.UpdateFile(path, newDoc, rep.Regions(), RegionOrder)
}

// Regions renders rep as the content of each region of BENCHMARKS.md.
func (rep *Report) Regions() map[string]string {
	regions := map[string]string{
		RegionRun:      rep.runRegion(),
		RegionLoadtest: rep.loadtestRegion(),
		RegionIdle:     rep.idleRegion(),
		RegionFloor:    rep.floorRegion(),
		RegionFindings: rep.findingsRegion(),
		RegionStore:    rep.storeRegion(),
		RegionTargets:  rep.targetsRegion(),
		RegionReaders:  rep.readersRegion(),
	}
	if rep.GoBench != nil {
		regions[RegionGoBench] = rep.GoBench.Markdown()
	}
	return regions
}

func (rep *Report) runRegion() string {
	var b strings.Builder
	m := rep.Machine
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("| | |\n| --- | --- |\n")
	p("| date | %s (UTC), %.0f s in all |\n", rep.Started.UTC().Format("2006-01-02 15:04"), rep.ElapsedS)
	p("| command | `%s` |\n", rep.Command)
	p("| CPU | %s, %d cores (%d usable) |\n", benchmd.OrDash(m.CPUModel), m.CPUs, m.Usable)
	p("| memory | %s |\n", humanize.Bytes(float64(m.MemoryBytes)))
	p("| kernel | Linux %s (%s) |\n", benchmd.OrDash(m.Kernel), m.OS)
	p("| Go | %s |\n", m.GoVersion)
	p("| load average (1, 5, 15 min) | %s before, %s after |\n", benchmd.OrDash(m.LoadBefore), benchmd.OrDash(m.LoadAfter))
	p("| chat server | `%s` |\n", benchmd.CommandLine(rep.ServerArgs))
	p("| floor server | `%s` |\n", benchmd.CommandLine(rep.FloorArgs))
	p("| hub server | `%s` |\n", benchmd.CommandLine(rep.HubArgs))
	c := rep.Config
	p("| every row | %g s of sending, %d-byte messages, clients connect at up to %g/s, drain up to %g s; a fresh server process per row |\n",
		c.DurationS, c.Size, c.Ramp, c.DrainS)
	for i, r := range rep.Rows {
		if r.Row.Store != "" || r.Row.Flags != "" {
			flags := strings.TrimSpace(strings.Join([]string{storeFlag(r.Row), r.Row.Flags}, " "))
			why := r.Row.Why
			if why == "" && r.Row.Store != "" {
				why = "the history store beside the default (the store region)"
			}
			p("| row %d's flags | `%s`: %s |\n", i+1, flags, benchmd.Escape(benchmd.OrDash(why)))
		}
	}
	var limits []string
	for _, r := range rep.Rows {
		if r.FileLimit != 0 && !slices.Contains(limits, strconv.FormatUint(r.FileLimit, 10)) {
			limits = append(limits, strconv.FormatUint(r.FileLimit, 10))
		}
	}
	if len(limits) > 0 {
		p("| servers' open-file limit | %s (soft RLIMIT_NOFILE, from /proc/PID/limits) |\n", strings.Join(limits, ", "))
	}
	if rep.Interrupted {
		p("\n**This run was interrupted: the tables are incomplete.**\n")
	}
	return b.String()
}

// rowName is a row's short name in the tables: number, server, clients
// and flags, such as "5 server (raw, -store memory)".
func rowName(i int, r Row) string {
	attrs := []string{clientName(r.Client)}
	if f := storeFlag(r); f != "" {
		attrs = append(attrs, f)
	}
	if r.Flags != "" {
		attrs = append(attrs, r.Flags)
	}
	return fmt.Sprintf("%d %s (%s)", i+1, r.Target, strings.Join(attrs, ", "))
}

// storeFlag is the row's -store flag, or "".
func storeFlag(r Row) string {
	if r.Store == "" {
		return ""
	}
	return "-store " + r.Store
}

func (rep *Report) loadtestRegion() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("Deliveries: every figure here should be exactly as expected.\n\n")
	p("| # | clients | rooms | senders | rate msg/s | size B | sent | expected | delivered | lost | dup | out-of-order | gaps / errors | limited by |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for i, r := range rep.Rows {
		row := r.Row
		p("| %s | %s | %d | %d | %g | %d ", rowName(i, row), humanize.Thousands(float64(row.Clients)), row.Rooms, row.Senders, row.Rate, rep.Config.Size)
		res := r.Result
		if res == nil {
			p("| %s |||||||| |\n", notRun(r))
			continue
		}
		m := res.Messages
		lost := humanize.Thousands(float64(m.Lost))
		if m.Lost > 0 {
			lost = "**" + lost + "**"
		}
		p("| %s | %s | %s | %s | %s | %s | %s / %s | %s |\n",
			humanize.Thousands(float64(m.Sent)), humanize.Thousands(float64(m.Expected)), humanize.Thousands(float64(m.Delivered)), lost,
			benchmd.ZeroOrBold(m.Duplicated), benchmd.ZeroOrBold(m.OutOfOrder), benchmd.ZeroOrBold(m.Gaps), benchmd.ZeroOrBold(m.ServerErrors), limitedBy(r))
	}
	p("\nLatency and resources. Server figures are the server process's (in floor and hub rows, that server's); generator CPU is in cores kept busy while sending, and per delivery over sending and the drain.\n\n")
	p("| # | clients | p50 | p90 | p99 | p99.9 | max | deliveries/s | server CPU s | server µs/delivery | peak RSS | RSS/conn | generator CPU | generator µs/delivery | machine busy | limited by |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for i, r := range rep.Rows {
		p("| %s | %s ", rowName(i, r.Row), humanize.Thousands(float64(r.Row.Clients)))
		res := r.Result
		if res == nil {
			p("| %s ||||||||||||| |\n", notRun(r))
			continue
		}
		l, g := res.Latency, res.Generator
		p("| %s | %s | %s | %s | %s | %s ", benchmd.Latency(l.Count, l.P50Ms), benchmd.Latency(l.Count, l.P90Ms), benchmd.Latency(l.Count, l.P99Ms), benchmd.Latency(l.Count, l.P999Ms), benchmd.Latency(l.Count, l.MaxMs),
			humanize.Thousands(res.Messages.DeliveriesPerSec))
		if s := res.Server; s != nil && s.Error == "" {
			p("| %.2f | %.2f | %s | %s ", s.CPUS, s.CPUPerDeliveryUs, humanize.Bytes(float64(peakRSS(s))), humanize.Bytes(s.RSSPerConnBytes))
		} else {
			p("| - | - | - | - ")
		}
		gen := fmt.Sprintf("%.2f of %d", g.CPUCoresSend, g.Cores)
		if g.Bottleneck {
			gen = "**" + gen + "**"
		}
		p("| %s | %.2f | %.0f%% | %s |\n", gen, g.CPUPerDeliveryUs, 100*g.MachineBusySend, limitedBy(r))
	}
	return b.String()
}

// peakRSS is the larger of the sampled peak and the kernel's high-water
// mark, which, for a server started for the row, is the row's peak.
func peakRSS(s *loadtest.ServerStats) uint64 { return max(s.PeakRSSBytes, s.HWMBytes) }

func notRun(r RowRun) string {
	if r.Skipped != "" {
		return "not run: " + benchmd.Escape(r.Skipped)
	}
	return "failed: " + benchmd.Escape(firstLine(r.Error))
}

// limitedBy says what, other than the server, limited a row's figures.
func limitedBy(r RowRun) string {
	res := r.Result
	if res == nil {
		return "-"
	}
	var l []string
	if res.Generator.Bottleneck {
		l = append(l, "**generator**")
	}
	if res.Generator.MachineBusySend >= 0.9 {
		l = append(l, fmt.Sprintf("machine (%.0f%% busy)", 100*res.Generator.MachineBusySend))
	}
	if res.Interrupted || res.TimedOut {
		l = append(l, "cut short")
	}
	if res.Messages.TargetRate > 0 && res.Messages.AchievedRate < 0.95*res.Messages.TargetRate {
		l = append(l, fmt.Sprintf("senders (%.0f of %g msg/s)", res.Messages.AchievedRate, res.Messages.TargetRate))
	}
	if len(l) == 0 {
		return string(r.Row.Target) // the figures measure the server under test
	}
	return strings.Join(l, ", ")
}

func (rep *Report) floorRegion() string {
	type pair struct{ srv, floor *RowRun }
	var pairs []pair
	for i := range rep.Rows {
		s := &rep.Rows[i]
		if s.Row.Target != TargetServer {
			continue
		}
		for j := range rep.Rows {
			f := &rep.Rows[j]
			if f.Row.Target == TargetFloor && f.Row.load() == s.Row.load() && s.Row.Store == "" {
				pairs = append(pairs, pair{s, f})
				break
			}
		}
	}
	if len(pairs) == 0 {
		return "No row ran against both servers.\n"
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("Each cell: chat server / floor = ratio (1.00× is as good as the floor; higher is worse).\n\n")
	p("| clients | client | senders | rate | p50 | p99 | server CPU µs/delivery | RSS/conn | limited by (server; floor) |\n")
	p("| ---: | --- | ---: | ---: | --- | --- | --- | --- | --- |\n")
	for _, pr := range pairs {
		row := pr.srv.Row
		p("| %s | %s | %d | %g ", humanize.Thousands(float64(row.Clients)), clientName(row.Client), row.Senders, row.Rate)
		s, f := pr.srv.Result, pr.floor.Result
		if s == nil || f == nil {
			p("| not run ||||  |\n")
			continue
		}
		p("| %s ", ratioCell(humanize.Ms(s.Latency.P50Ms), humanize.Ms(f.Latency.P50Ms), s.Latency.P50Ms, f.Latency.P50Ms))
		p("| %s ", ratioCell(humanize.Ms(s.Latency.P99Ms), humanize.Ms(f.Latency.P99Ms), s.Latency.P99Ms, f.Latency.P99Ms))
		var sc, fc, sr, fr float64
		if s.Server != nil && s.Server.Error == "" {
			sc, sr = s.Server.CPUPerDeliveryUs, s.Server.RSSPerConnBytes
		}
		if f.Server != nil && f.Server.Error == "" {
			fc, fr = f.Server.CPUPerDeliveryUs, f.Server.RSSPerConnBytes
		}
		p("| %s ", ratioCell(fmt.Sprintf("%.2f", sc), fmt.Sprintf("%.2f", fc), sc, fc))
		p("| %s ", ratioCell(humanize.Bytes(sr), humanize.Bytes(fr), sr, fr))
		p("| %s; %s |\n", limitedBy(*pr.srv), limitedBy(*pr.floor))
	}
	return b.String()
}

// IdleTargetBytes is the target for the server's memory per idle
// connection: at most 6 KiB.
const IdleTargetBytes = 6 << 10

// idleMinClients is the smallest row whose idle memory the idle region
// reports: below it the process's own base memory weighs too much.
const idleMinClients = 10000

// idleRegion reports, for every chat-server row of at least idleMinClients
// clients, the server's RSS once every client had connected and before the
// first message, per connection, beside IdleTargetBytes: the growth from
// before the first client connected, divided by the connections — what one
// more idle connection costs, the measure by which the issue puts the
// idiomatic design at about 24 KiB — and, for reference, the whole RSS
// divided likewise, which also charges the process's base memory to the
// connections.
func (rep *Report) idleRegion() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	n := 0
	for i, r := range rep.Rows {
		if r.Row.Target != TargetServer || r.Row.Clients < idleMinClients {
			continue
		}
		if n == 0 {
			p("| # | clients | connected | RSS before connecting | RSS connected, idle | **RSS per idle connection** (growth ÷ connections) | whole RSS ÷ connections | target |\n")
			p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
		}
		n++
		p("| %s | %s ", rowName(i, r.Row), humanize.Thousands(float64(r.Row.Clients)))
		res := r.Result
		if res == nil || res.Server == nil || res.Server.RSSConnectedBytes == 0 || res.Connections.Connected == 0 {
			reason := "no server memory figures"
			if res == nil {
				reason = notRun(r)
			}
			p("| %s ||||| |\n", reason)
			continue
		}
		s, conns := res.Server, float64(res.Connections.Connected)
		whole := float64(s.RSSConnectedBytes) / conns
		verdict := fmt.Sprintf("≤ %s: **met**", humanize.Bytes(IdleTargetBytes))
		if s.RSSPerConnBytes > IdleTargetBytes {
			verdict = fmt.Sprintf("≤ %s: **NOT met**", humanize.Bytes(IdleTargetBytes))
		}
		p("| %s | %s | %s | **%s** | %s | %s |\n", humanize.Thousands(conns), humanize.Bytes(float64(s.RSSBeforeBytes)), humanize.Bytes(float64(s.RSSConnectedBytes)),
			humanize.Bytes(s.RSSPerConnBytes), humanize.Bytes(whole), verdict)
	}
	if n == 0 {
		return fmt.Sprintf("No chat-server row with %s clients or more ran.\n", humanize.Thousands(idleMinClients))
	}
	return b.String()
}

func ratioCell(s, f string, sv, fv float64) string {
	if fv <= 0 || sv <= 0 || math.IsNaN(sv/fv) {
		return s + " / " + f
	}
	return fmt.Sprintf("%s / %s = **%.2f×**", s, f, sv/fv)
}

func (rep *Report) findingsRegion() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	clean := true
	for i, r := range rep.Rows {
		name := fmt.Sprintf("Row %d (%s)", i+1, r.Row)
		if r.Result == nil {
			clean = false
			p("- %s: %s\n", name, notRun(r))
			continue
		}
		res := r.Result
		var lines []string
		if res.Messages.Lost > 0 {
			lines = append(lines, fmt.Sprintf("**LOSS: %d of %d deliveries did not arrive by the end of the drain** (%s)",
				res.Messages.Lost, res.Messages.Expected, lossDetail(res)))
		}
		for _, w := range res.Warnings {
			if strings.HasPrefix(w, "LOSS:") {
				continue
			}
			lines = append(lines, benchmd.Escape(w))
		}
		if r.Error != "" {
			lines = append(lines, "error: "+benchmd.Escape(r.Error))
		}
		if r.ServerStop != "" {
			lines = append(lines, "stopping the server: "+benchmd.Escape(r.ServerStop))
		}
		if len(lines) == 0 {
			continue
		}
		clean = false
		p("- %s:\n", name)
		for _, l := range lines {
			p("  - %s\n", l)
		}
	}
	if gb := rep.GoBench; gb != nil && len(gb.Failures) > 0 {
		clean = false
		p("- go test:\n")
		for _, f := range gb.Failures {
			p("  - `%s`\n", strings.ReplaceAll(f, "`", "'"))
		}
	}
	if clean {
		p("Every row connected every client and delivered every message exactly once, in order; no warnings.\n")
	}
	return b.String()
}

// lossDetail breaks a loss down into what the generator can tell apart.
func lossDetail(res *loadtest.Result) string {
	m, cn := res.Messages, res.Connections
	parts := []string{fmt.Sprintf("drain %.1f s", m.DrainS)}
	if m.Gaps > 0 {
		parts = append(parts, fmt.Sprintf("%d gap events admitted %d missed events", m.Gaps, m.GapMissed))
	}
	if cn.Dropped > 0 {
		parts = append(parts, fmt.Sprintf("%d connections dropped", cn.Dropped))
	}
	if m.IDSkipped > 0 {
		parts = append(parts, fmt.Sprintf("%d room ids skipped", m.IDSkipped))
	}
	if m.SendStalled > 0 || m.SendErrors > 0 {
		parts = append(parts, fmt.Sprintf("%d sends stalled, %d failed", m.SendStalled, m.SendErrors))
	}
	if len(parts) == 1 {
		parts = append(parts, "no gap, drop or id skip: still in flight when the drain ended")
	}
	return strings.Join(parts, "; ")
}

// Markdown renders the medians as one table per package, and the ring/hub
// ratios of benchmarks that have a design=ring and a design=hub variant.
func (gb *GoBenchResult) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	each := ""
	if len(gb.Packages) > 1 {
		each = ", each package in a go test run of its own"
	}
	p("`%s`%s, %.0f s: the median of each figure over the runs.\n", gb.Command, each, gb.Elapsed)
	if len(gb.Benchmarks) == 0 {
		p("\nNo benchmark results.\n")
	}
	var pkgs []string
	for _, st := range gb.Benchmarks {
		if !slices.Contains(pkgs, st.Pkg) {
			pkgs = append(pkgs, st.Pkg)
		}
	}
	std := []string{"ns/op", "MB/s", "B/op", "allocs/op"}
	for _, pkg := range pkgs {
		p("\n**%s**\n\n", benchmd.OrDash(pkg))
		p("| benchmark | runs | ns/op | MB/s | B/op | allocs/op | other (median) |\n")
		p("| --- | ---: | ---: | ---: | ---: | ---: | --- |\n")
		for _, st := range gb.Benchmarks {
			if st.Pkg != pkg {
				continue
			}
			p("| %s | %d ", benchmd.Escape(st.Name), st.Runs)
			for _, u := range std {
				if v, ok := st.Median[u]; ok {
					p("| %s ", benchNum(v))
				} else {
					p("| - ")
				}
			}
			var other []string
			for _, u := range st.Units {
				if !slices.Contains(std, u) {
					other = append(other, benchNum(st.Median[u])+" "+u)
				}
			}
			p("| %s |\n", strings.Join(other, ", "))
		}
	}
	if ratios := ringHubRatios(gb.Benchmarks); ratios != "" {
		p("\n%s", ratios)
	}
	return b.String()
}

// ringHubRatios compares each benchmark named with design=ring to the one
// named alike with design=hub: chat's BenchmarkBroadcast.
func ringHubRatios(stats []GoBenchStats) string {
	var b strings.Builder
	for _, r := range stats {
		if !strings.Contains(r.Name, "design=ring") {
			continue
		}
		hubName := strings.Replace(r.Name, "design=ring", "design=hub", 1)
		i := slices.IndexFunc(stats, func(s GoBenchStats) bool { return s.Pkg == r.Pkg && s.Name == hubName })
		if i < 0 {
			continue
		}
		h := stats[i]
		if b.Len() == 0 {
			b.WriteString("**Ring ÷ hub** (chat BenchmarkBroadcast; below 1 the ring is cheaper or faster):\n\n")
			b.WriteString("| case | ns/op ring | ns/op hub | ring ÷ hub | pub-ns/op ring | pub-ns/op hub | ring ÷ hub | allocs/op ring / hub |\n")
			b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		}
		rest := strings.NewReplacer("design=ring/", "", "/design=ring", "", "design=ring", "").Replace(r.Name)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", benchmd.Escape(rest),
			benchNum(r.Median["ns/op"]), benchNum(h.Median["ns/op"]), ratio(r.Median["ns/op"], h.Median["ns/op"]),
			benchNumOpt(r.Median, "pub-ns/op"), benchNumOpt(h.Median, "pub-ns/op"), ratio(r.Median["pub-ns/op"], h.Median["pub-ns/op"]),
			benchNumOpt(r.Median, "allocs/op"), benchNumOpt(h.Median, "allocs/op"))
	}
	return b.String()
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "-"
	}
	return fmt.Sprintf("**%.3g**", a/b)
}

func benchNumOpt(m map[string]float64, unit string) string {
	v, ok := m[unit]
	if !ok {
		return "-"
	}
	return benchNum(v)
}

// benchNum formats a benchmark figure: integers above 1000 in full, smaller
// values with four significant digits.
func benchNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		return humanize.Thousands(v)
	case a == math.Trunc(a):
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Targets of the history store (issue 10).
const (
	// StoreP99Target bounds the fan-out p99 with the history on disk, as
	// a ratio to the same load with it in memory.
	StoreP99Target = 1.1
	// AppendTarget is the group commit's least throughput, in events a
	// second of about 200 bytes with -fsync everysec.
	AppendTarget = 200000
)

// storeRegion compares the rows that ran with another -store with the
// default one at the same load, and gives the file store's own benchmarks
// against their targets.
func (rep *Report) storeRegion() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("Fan-out with the history on disk (the default, `-store file -fsync everysec`) ÷ in memory (`-store memory`), same load, rows next to each other in this run:\n\n")
	p("| clients | senders | rate | p50 | p99 | target p99 | server CPU µs/delivery | lost (file; memory) |\n")
	p("| ---: | ---: | ---: | --- | --- | --- | --- | --- |\n")
	pairs := 0
	for i := range rep.Rows {
		m := &rep.Rows[i]
		if m.Row.Target != TargetServer || m.Row.Store == "" {
			continue
		}
		for j := range rep.Rows {
			f := &rep.Rows[j]
			if f.Row.Target != TargetServer || f.Row.Store != "" || f.Row.Flags != m.Row.Flags || f.Row.load() != m.Row.load() {
				continue
			}
			pairs++
			row := f.Row
			p("| %s | %d | %g ", humanize.Thousands(float64(row.Clients)), row.Senders, row.Rate)
			fr, mr := f.Result, m.Result
			if fr == nil || mr == nil {
				p("| not run |||||\n")
				break
			}
			p("| %s ", ratioCell(humanize.Ms(fr.Latency.P50Ms), humanize.Ms(mr.Latency.P50Ms), fr.Latency.P50Ms, mr.Latency.P50Ms))
			p("| %s ", ratioCell(humanize.Ms(fr.Latency.P99Ms), humanize.Ms(mr.Latency.P99Ms), fr.Latency.P99Ms, mr.Latency.P99Ms))
			verdict := "-"
			if mr.Latency.P99Ms > 0 {
				verdict = fmt.Sprintf("≤ %.2g×: **met**", StoreP99Target)
				if fr.Latency.P99Ms/mr.Latency.P99Ms > StoreP99Target {
					verdict = fmt.Sprintf("≤ %.2g×: **NOT met**", StoreP99Target)
				}
			}
			p("| %s ", verdict)
			var fc, mc float64
			if fr.Server != nil && fr.Server.Error == "" {
				fc = fr.Server.CPUPerDeliveryUs
			}
			if mr.Server != nil && mr.Server.Error == "" {
				mc = mr.Server.CPUPerDeliveryUs
			}
			p("| %s ", ratioCell(fmt.Sprintf("%.2f", fc), fmt.Sprintf("%.2f", mc), fc, mc))
			p("| %d; %d |\n", fr.Messages.Lost, mr.Messages.Lost)
			break
		}
	}
	if pairs == 0 {
		p("| no row ran with both stores ||||||||\n")
	}
	if rep.GoBench == nil {
		return b.String()
	}
	p("\nThe file store on its own (`go test -bench` of ./chat/store/file/, medians; about 200-byte events):\n\n")
	p("| benchmark | what | events/s | target | publisher's ns/event |\n| --- | --- | ---: | --- | ---: |\n")
	found := false
	for _, st := range rep.GoBench.Benchmarks {
		if !strings.HasSuffix(st.Pkg, "chat/store/file") {
			continue
		}
		what, target := "", "-"
		switch {
		case strings.HasPrefix(st.Name, "Append/fsync=everysec/rooms"):
			what = "appends from parallel publishers into 16 rooms, until on disk"
		case strings.HasPrefix(st.Name, "Append/fsync=everysec"):
			what = "appends into one room, until written (group commit)"
			target = fmt.Sprintf("≥ %s: **met**", humanize.Thousands(AppendTarget))
			if st.Median["events/s"] < AppendTarget {
				target = fmt.Sprintf("≥ %s: **NOT met**", humanize.Thousands(AppendTarget))
			}
		case strings.HasPrefix(st.Name, "Append/fsync=always"):
			what = "appends into one room, each synced before it is delivered"
		case strings.HasPrefix(st.Name, "Replay"):
			what = "a room's 10,000 events read back from disk after a restart"
		default:
			continue
		}
		found = true
		ns := "-"
		if strings.HasPrefix(st.Name, "Append") {
			ns = benchNum(st.Median["ns/op"])
		}
		p("| %s | %s | %s | %s | %s |\n", benchmd.Escape(st.Name), what, benchNum(st.Median["events/s"]), target, ns)
	}
	if !found {
		p("| not run |||||\n")
	}
	return b.String()
}
