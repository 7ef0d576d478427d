package bench

import (
	"fmt"
	"math"
	"strings"

	"ringchat/loadtest"
	"ringchat/loadtest/internal/benchmd"
	"ringchat/loadtest/internal/humanize"
)

// Issue 13's targets, which the targets region checks: each a ratio of the
// chat server's figure to the floor's or the hub's at the same load,
// measured by the same raw clients in rows next to each other.
const (
	// FloorP99Target bounds the chat server's fan-out p99 ÷ the floor's.
	FloorP99Target = 1.25
	// FloorCPUTarget bounds its server CPU per delivery ÷ the floor's.
	FloorCPUTarget = 1.15
	// HubP99Target bounds its fan-out p99 ÷ the conventional hub's.
	HubP99Target = 0.6
	// IdleTarget13Bytes bounds its RSS per idle connection at the largest
	// row (19,000 clients): issue 13's 2.5 KiB.
	IdleTarget13Bytes = 2560
)

// targetSet is a chat-server row with the floor and hub rows of its load.
type targetSet struct {
	chat, floor, hub *RowRun
}

// targetSets returns, in order, every chat-server row with raw clients and
// the default store, with the floor and hub rows of the same load.
func (rep *Report) targetSets() []targetSet {
	var sets []targetSet
	for i := range rep.Rows {
		c := &rep.Rows[i]
		if c.Row.Target != TargetServer || c.Row.Store != "" || c.Row.client() != loadtest.ClientRaw {
			continue
		}
		set := targetSet{chat: c}
		for j := range rep.Rows {
			o := &rep.Rows[j]
			switch {
			case o.Row.load() != c.Row.load():
			case o.Row.Target == TargetFloor && set.floor == nil:
				set.floor = o
			case o.Row.Target == TargetHub && set.hub == nil:
				set.hub = o
			}
		}
		sets = append(sets, set)
	}
	return sets
}

// verdict is the outcome of one target.
type verdict int

const (
	notMeasured verdict = iota
	met
	notMet
)

func (v verdict) String() string {
	switch v {
	case met:
		return "**met**"
	case notMet:
		return "**NOT met**"
	}
	return "not measured"
}

// targetLine is one line of the targets table.
type targetLine struct {
	target, clients, chat, other, ratio string
	verdict                             verdict
	note                                string // beside the verdict
	limited                             string
}

// targetsRegion shows every issue 13 target with the chat server's figure,
// the floor's or the hub's, the ratio and whether it was met.
func (rep *Report) targetsRegion() string {
	sets := rep.targetSets()
	if len(sets) == 0 {
		return "No chat-server row with raw clients ran: no target was measured.\n"
	}
	var lines []targetLine
	for _, st := range sets {
		lines = append(lines, ratioLine(st, st.floor, "floor", fmt.Sprintf("fan-out p99 ≤ %.2f× the floor's", FloorP99Target), FloorP99Target, p99Of, humanizeMs))
	}
	for _, st := range sets {
		lines = append(lines, ratioLine(st, st.hub, "hub", fmt.Sprintf("fan-out p99 ≤ %.1f× the hub's", HubP99Target), HubP99Target, p99Of, humanizeMs))
	}
	for _, st := range sets {
		lines = append(lines, ratioLine(st, st.floor, "floor", fmt.Sprintf("server CPU per delivery ≤ %.2f× the floor's", FloorCPUTarget), FloorCPUTarget, cpuOf,
			func(v float64) string { return fmt.Sprintf("%.2f µs", v) }))
	}
	for _, st := range sets {
		lines = append(lines, growthLine(st))
	}
	largest := sets[0]
	for _, st := range sets {
		if st.chat.Row.Clients > largest.chat.Row.Clients {
			largest = st
		}
	}
	lines = append(lines, idleLine(largest), lossLine(largest))

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	count := map[verdict]int{}
	for _, l := range lines {
		if l.target != memoryTarget {
			count[l.verdict]++
		}
	}
	p("**%d of %d targets met**", count[met], count[met]+count[notMet]+count[notMeasured])
	if count[notMeasured] > 0 {
		p(" (%d not measured)", count[notMeasured])
	}
	p(". Every figure from this run, measured by raw clients; each ratio divides the chat server's by the floor's or the hub's at the same load, in the rows next to it. The memory line has no bound to meet: it says how much the server grew while sending, beside the floor and the hub.\n\n")
	p("| target | clients | chat server | floor or hub | ratio | verdict | limited by (chat; other) |\n")
	p("| --- | ---: | ---: | ---: | ---: | --- | --- |\n")
	for _, l := range lines {
		v := l.verdict.String()
		if l.target == memoryTarget {
			v = "reported"
		}
		if l.note != "" {
			v += " (" + l.note + ")"
		}
		p("| %s | %s | %s | %s | %s | %s | %s |\n", l.target, l.clients, l.chat, l.other, l.ratio, v, l.limited)
	}
	return b.String()
}

// memoryTarget is the memory line's target: reported, with no bound.
const memoryTarget = "server memory growth while sending, beyond the clients' data"

func p99Of(res *loadtest.Result) (float64, bool) {
	return res.Latency.P99Ms, res.Latency.Count > 0
}

func cpuOf(res *loadtest.Result) (float64, bool) {
	if s := res.Server; s != nil && s.Error == "" && s.CPUPerDeliveryUs > 0 {
		return s.CPUPerDeliveryUs, true
	}
	return 0, false
}

func humanizeMs(v float64) string { return humanize.Ms(v) }

// ratioLine is the target that the chat server's figure ÷ other's (named
// otherName) is at most bound.
func ratioLine(st targetSet, other *RowRun, otherName, target string, bound float64,
	figure func(*loadtest.Result) (float64, bool), format func(float64) string) targetLine {
	l := targetLine{target: target, clients: humanize.Thousands(float64(st.chat.Row.Clients)), chat: "-", other: "-", ratio: "-"}
	cv, cok := resultFigure(st.chat, figure)
	if cok {
		l.chat = format(cv)
	}
	if other == nil {
		l.note, l.limited = "no "+otherName+" row", limitedBy(*st.chat)
		return l
	}
	l.limited = limitedBy(*st.chat) + "; " + limitedBy(*other)
	ov, ook := resultFigure(other, figure)
	if ook {
		l.other = otherName + " " + format(ov)
	}
	switch {
	case !cok:
		l.note = "chat row: " + missing(st.chat)
		return l
	case !ook:
		l.note = otherName + " row: " + missing(other)
		return l
	}
	r := cv / ov
	l.ratio = fmt.Sprintf("**%.2f×**", r)
	l.verdict = met
	if r > bound || math.IsNaN(r) {
		l.verdict = notMet
	}
	l.note = lossNote(st.chat, other)
	return l
}

// resultFigure is figure of the row's result, when it ran.
func resultFigure(r *RowRun, figure func(*loadtest.Result) (float64, bool)) (float64, bool) {
	if r.Result == nil {
		return 0, false
	}
	return figure(r.Result)
}

// missing says why a row has no figure.
func missing(r *RowRun) string {
	if r.Result == nil {
		return notRun(*r)
	}
	return "no figure"
}

// lossNote flags rows with loss: their latency leaves out what was lost.
func lossNote(rows ...*RowRun) string {
	var notes []string
	for _, r := range rows {
		if r.Result != nil && r.Result.Messages.Lost > 0 {
			notes = append(notes, fmt.Sprintf("%s lost %s", r.Row.Target, humanize.Thousands(float64(r.Result.Messages.Lost))))
		}
	}
	return strings.Join(notes, ", ")
}

// growth is how much a server's RSS grew from all clients connected to the
// end of sending.
func growth(r *RowRun) (float64, bool) {
	if r == nil || r.Result == nil || r.Result.Server == nil {
		return 0, false
	}
	s := r.Result.Server
	if s.Error != "" || s.RSSConnectedBytes == 0 || s.RSSSendEndBytes == 0 {
		return 0, false
	}
	return float64(s.RSSSendEndBytes) - float64(s.RSSConnectedBytes), true
}

func signedBytes(v float64) string {
	if v < 0 {
		return "−" + humanize.Bytes(-v)
	}
	return "+" + humanize.Bytes(v)
}

// growthLine reports the chat server's memory growth while sending,
// beside the floor's and the hub's.
func growthLine(st targetSet) targetLine {
	l := targetLine{target: memoryTarget, clients: humanize.Thousands(float64(st.chat.Row.Clients)), chat: "-", other: "-", ratio: "-"}
	if g, ok := growth(st.chat); ok {
		l.chat = fmt.Sprintf("%s (%s per connection)", signedBytes(g), signedBytes(g/float64(st.chat.Row.Clients)))
	} else {
		l.note = "chat row: " + missing(st.chat)
	}
	var others []string
	for _, o := range []struct {
		name string
		r    *RowRun
	}{{"floor", st.floor}, {"hub", st.hub}} {
		if g, ok := growth(o.r); ok {
			others = append(others, o.name+" "+signedBytes(g))
		}
	}
	if len(others) > 0 {
		l.other = strings.Join(others, ", ")
	}
	l.limited = limitedBy(*st.chat)
	return l
}

// idleLine is issue 13's target for an idle connection at the largest row.
func idleLine(st targetSet) targetLine {
	l := targetLine{target: fmt.Sprintf("RSS per idle connection ≤ %s", humanize.Bytes(IdleTarget13Bytes)),
		clients: humanize.Thousands(float64(st.chat.Row.Clients)), chat: "-", other: "-", ratio: "-"}
	perConn := func(r *RowRun) (float64, bool) {
		if r == nil || r.Result == nil || r.Result.Server == nil || r.Result.Server.Error != "" || r.Result.Server.RSSPerConnBytes <= 0 {
			return 0, false
		}
		return r.Result.Server.RSSPerConnBytes, true
	}
	v, ok := perConn(st.chat)
	if !ok {
		l.note = "chat row: " + missing(st.chat)
		return l
	}
	l.chat = humanize.Bytes(v)
	var others []string
	for _, o := range []struct {
		name string
		r    *RowRun
	}{{"floor", st.floor}, {"hub", st.hub}} {
		if ov, ok := perConn(o.r); ok {
			others = append(others, o.name+" "+humanize.Bytes(ov))
		}
	}
	if len(others) > 0 {
		l.other = strings.Join(others, ", ")
	}
	l.verdict = met
	if v > IdleTarget13Bytes {
		l.verdict = notMet
	}
	l.limited = limitedBy(*st.chat)
	return l
}

// lossLine is issue 7's target, kept: every client of the largest row
// connected, every delivery made.
func lossLine(st targetSet) targetLine {
	n := st.chat.Row.Clients
	l := targetLine{target: "every client connected, zero loss", clients: humanize.Thousands(float64(n)), chat: "-", other: "-", ratio: "-"}
	res := st.chat.Result
	if res == nil {
		l.note = "chat row: " + notRun(*st.chat)
		return l
	}
	cn, m := res.Connections, res.Messages
	l.chat = fmt.Sprintf("%s connected, %s lost", humanize.Thousands(float64(cn.Connected)), humanize.Thousands(float64(m.Lost)))
	l.verdict = met
	if cn.Connected != n || cn.Dropped > 0 || m.Lost > 0 || m.Sent == 0 {
		l.verdict = notMet
	}
	l.limited = limitedBy(*st.chat)
	return l
}

// readersRegion sets every row with x/net's clients beside the same row
// with raw clients: what the readers cost the generator, and what they
// hide of the server's tail.
func (rep *Report) readersRegion() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	n := 0
	for i := range rep.Rows {
		x := &rep.Rows[i]
		if x.Row.client() != loadtest.ClientXNet {
			continue
		}
		var raw *RowRun
		for j := range rep.Rows {
			r := &rep.Rows[j]
			twin := x.Row
			twin.Client = loadtest.ClientRaw
			if r.Row.client() == loadtest.ClientRaw && r.Row.Target == twin.Target && r.Row.Store == twin.Store && r.Row.Flags == twin.Flags && r.Row.load() == twin.load() {
				raw = r
				break
			}
		}
		if raw == nil {
			continue
		}
		if n == 0 {
			p("Each cell: raw clients / x/net clients = ratio, the same server and load in the same run (below 1: the raw clients saw less latency, or used less CPU).\n\n")
			p("| server | clients | p50 | p99 | max | generator µs/delivery | generator cores while sending | server µs/delivery |\n")
			p("| --- | ---: | --- | --- | --- | --- | --- | --- |\n")
		}
		n++
		p("| %s | %s ", x.Row.Target, humanize.Thousands(float64(x.Row.Clients)))
		rr, xr := raw.Result, x.Result
		if rr == nil || xr == nil {
			p("| not run: %s ||||| |\n", benchmd.Escape(firstNonEmpty(missingIf(raw), missingIf(x))))
			continue
		}
		p("| %s ", ratioCell(humanize.Ms(rr.Latency.P50Ms), humanize.Ms(xr.Latency.P50Ms), rr.Latency.P50Ms, xr.Latency.P50Ms))
		p("| %s ", ratioCell(humanize.Ms(rr.Latency.P99Ms), humanize.Ms(xr.Latency.P99Ms), rr.Latency.P99Ms, xr.Latency.P99Ms))
		p("| %s ", ratioCell(humanize.Ms(rr.Latency.MaxMs), humanize.Ms(xr.Latency.MaxMs), rr.Latency.MaxMs, xr.Latency.MaxMs))
		rg, xg := rr.Generator, xr.Generator
		p("| %s ", ratioCell(fmt.Sprintf("%.2f", rg.CPUPerDeliveryUs), fmt.Sprintf("%.2f", xg.CPUPerDeliveryUs), rg.CPUPerDeliveryUs, xg.CPUPerDeliveryUs))
		p("| %s ", ratioCell(fmt.Sprintf("%.2f", rg.CPUCoresSend), fmt.Sprintf("%.2f", xg.CPUCoresSend), rg.CPUCoresSend, xg.CPUCoresSend))
		rc, _ := cpuOf(rr)
		xc, _ := cpuOf(xr)
		p("| %s |\n", ratioCell(fmt.Sprintf("%.2f", rc), fmt.Sprintf("%.2f", xc), rc, xc))
	}
	if n == 0 {
		return "No row ran with both kinds of client.\n"
	}
	return b.String()
}

func missingIf(r *RowRun) string {
	if r.Result != nil {
		return ""
	}
	return notRun(*r)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
