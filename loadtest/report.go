package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"ringchat/loadtest/internal/humanize"
)

// addWarnings explains, in res.Warnings, what makes the figures doubtful.
func (res *Result) addWarnings() {
	if res.Warnings == nil {
		res.Warnings = []string{} // [] rather than null in JSON
	}
	w := func(format string, args ...any) { res.Warnings = append(res.Warnings, fmt.Sprintf(format, args...)) }
	m, cn, g := &res.Messages, &res.Connections, &res.Generator
	switch {
	case res.Interrupted:
		w("interrupted: the figures cover the run up to then")
	case res.TimedOut:
		w("the run hit its hard deadline: the figures are partial")
	}
	if g.Bottleneck {
		w("THE LOAD GENERATOR IS THE BOTTLENECK: it kept %.2f of its %d cores busy while sending, so these figures measure the generator, not the server; use fewer clients or a lower rate, or run the generator on another machine",
			g.CPUCoresSend, g.Cores)
	}
	if g.MachineBusySend >= 0.9 {
		who := fmt.Sprintf(" (generator %.2f cores", g.CPUCoresSend)
		if res.Server != nil && res.Server.Error == "" {
			other := g.MachineBusySend*float64(g.MachineCPUs) - g.CPUCoresSend - res.Server.CPUCoresSend
			who += fmt.Sprintf(", server %.2f, other processes %.2f", res.Server.CPUCoresSend, max(other, 0))
		}
		who += fmt.Sprintf(", of %d)", g.MachineCPUs)
		w("the machine's CPUs were %.0f%% busy while sending%s: server and generator compete for them, so latency includes waiting for a CPU",
			100*g.MachineBusySend, who)
	}
	if cn.Failed > 0 {
		w("%d of %d clients could not connect (%s)", cn.Failed, cn.Target, firstError(cn.Errors))
	}
	if cn.Dropped > 0 {
		w("%d connections ended during the run (%s)", cn.Dropped, firstError(cn.DropErrors))
	}
	if m.TargetRate > 0 && m.SendS > 0 && m.AchievedRate < 0.95*m.TargetRate && !res.Interrupted {
		w("senders managed %.0f of the %g messages per second asked for (send lag p99 %.1f ms)", m.AchievedRate, m.TargetRate, m.SendLag.P99Ms)
	}
	if m.SendErrors > 0 {
		w("%d senders stopped on a write error (%s)", m.SendErrors, firstError(m.SendErrorTexts))
	}
	if m.SendStalled > 0 {
		w("%d senders were still blocked writing when sending ended: the server stopped reading them", m.SendStalled)
	}
	if m.Lost > 0 {
		w("LOSS: %d of %d expected deliveries (%.3f%%) did not arrive", m.Lost, m.Expected, 100*m.LossRatio)
	}
	if m.Duplicated > 0 {
		w("DUPLICATES: %d deliveries arrived twice", m.Duplicated)
	}
	if m.OutOfOrder > 0 {
		w("ORDER: %d deliveries arrived after a later message of the same sender", m.OutOfOrder)
	}
	if m.Misrouted > 0 {
		w("MISROUTED: %d messages arrived in a room they were not sent to", m.Misrouted)
	}
	if m.IDSkipped > 0 || m.IDRepeated > 0 {
		w("room event ids were not consecutive: %d skipped, %d repeated or backwards", m.IDSkipped, m.IDRepeated)
	}
	if l := res.Limits; l != nil && l.Rate > 0 && res.Config.Senders > 0 {
		if per := res.Config.Rate / float64(res.Config.Senders); per > l.Rate {
			w("each sender offers %.3g messages a second, above the %g a second (burst %d) the server advertises per connection: expect refusals (rate_limited), counted apart from loss; use more senders or a lower rate, or a server with a higher -rate", per, l.Rate, l.Burst)
		}
	}
	if l := res.Limits; l != nil && l.MaxMessage > 0 && res.Config.Size > l.MaxMessage {
		w("messages of %d bytes are above the %d the server advertises: expect refusals (too_long)", res.Config.Size, l.MaxMessage)
	}
	if m.Refused > 0 {
		w("REFUSED: the server refused %d of %d messages sent (%s), each with an error event; they are not counted as loss", m.Refused, m.Sent, reasonList(m.RefusedByReason))
	}
	if m.ServerErrors > m.Refused {
		w("the server sent %d error events (%s)", m.ServerErrors, firstError(m.ServerErrorTexts))
	}
	if m.Malformed > 0 {
		w("%d frames were not valid events", m.Malformed)
	}
	if res.Server != nil && res.Server.Error != "" {
		w("server figures incomplete: %s", res.Server.Error)
	}
}

// reasonList writes refusals by reason: "rate_limited 12, too_long 1".
func reasonList(l []ErrorCount) string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = fmt.Sprintf("%s %d", e.Error, e.Count)
	}
	return strings.Join(parts, ", ")
}

func firstError(l []ErrorCount) string {
	if len(l) == 0 {
		return "no error recorded"
	}
	s := l[0].Error
	if len(l) > 1 {
		s += fmt.Sprintf(", and %d other kinds", len(l)-1)
	}
	return s
}

// WriteJSON writes res as indented JSON.
func (res *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// WriteText writes res as a table for people.
func (res *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	c, cn, m := res.Config, res.Connections, res.Messages
	p("ringchat load test %s  %s\n", res.RunID, res.URL)
	if pt := res.Part; pt != nil {
		p("  part: clients %d to %d of %d\n", pt.FirstClient, pt.FirstClient+pt.Clients-1, pt.AllClients)
	}
	if c.Senders > 0 {
		p("  %d %s clients in %d room(s), %d senders, %g msg/s for %gs, %d-byte messages\n\n",
			c.Clients, c.Client, c.Rooms, c.Senders, c.Rate, c.DurationS, c.Size)
	} else {
		p("  %d %s clients in %d room(s), no senders: connections held for %gs\n\n", c.Clients, c.Client, c.Rooms, c.DurationS)
	}
	p("connections   %d connected, %d failed, %d retries, ramp %.1fs\n", cn.Connected, cn.Failed, cn.Retries, cn.RampS)
	p("  connect     %s\n", latencyLine(cn.ConnectTime))
	if cn.Dropped > 0 {
		p("  dropped     %d during the run\n", cn.Dropped)
	}
	if c.Senders > 0 {
		p("messages      sent %d in %.1fs (%.1f/s, target %g/s), send lag p99 %s\n",
			m.Sent, m.SendS, m.AchievedRate, m.TargetRate, humanize.Ms(m.SendLag.P99Ms))
		if m.Refused > 0 {
			p("refused       %d by the server (%s): not expected, not loss\n", m.Refused, reasonList(m.RefusedByReason))
		}
		p("deliveries    expected %d  delivered %d  lost %d (%.3f%%)\n", m.Expected, m.Delivered, m.Lost, 100*m.LossRatio)
		p("              duplicated %d  out of order %d  gaps %d  server errors %d\n", m.Duplicated, m.OutOfOrder, m.Gaps, m.ServerErrors)
		p("  throughput  %.0f deliveries/s while sending, drain %.2fs\n", m.DeliveriesPerSec, m.DrainS)
		if m.WireBytesPerDelivery > 0 {
			z := ""
			if c.Compression {
				z = ", permessage-deflate"
			}
			p("  wire        %.0f bytes read per delivery%s\n", m.WireBytesPerDelivery, z)
		}
		p("  latency     %s\n", latencyLine(res.Latency))
		if res.CrossNode != nil {
			p("  cross-node  %s\n", latencyLine(*res.CrossNode))
			p("  same node   %s\n", latencyLine(*res.SameNode))
		}
	}
	if s := res.Server; s != nil {
		p("server        %s: cpu %.2fs (%.2f cores while sending, %.2f µs/delivery)\n", s.Source, s.CPUS, s.CPUCoresSend, s.CPUPerDeliveryUs)
		p("              rss %s before, %s connected, %s when sending ended, peak %s, %s per connection\n",
			humanize.Bytes(float64(s.RSSBeforeBytes)), humanize.Bytes(float64(s.RSSConnectedBytes)), humanize.Bytes(float64(s.RSSSendEndBytes)),
			humanize.Bytes(float64(s.PeakRSSBytes)), humanize.Bytes(s.RSSPerConnBytes))
	}
	for i, n := range res.Nodes {
		p("  node %-6d %s: cpu %.2fs (%.2f cores while sending), rss %s connected, peak %s\n", i, n.Source, n.CPUS, n.CPUCoresSend,
			humanize.Bytes(float64(n.RSSConnectedBytes)), humanize.Bytes(float64(max(n.PeakRSSBytes, n.HWMBytes))))
	}
	if rs := res.Redis; rs != nil {
		p("redis         %s: cpu %.2fs (%.3f cores while sending, %.1f µs/message over %d messages), rss %s\n",
			rs.Source, rs.CPUS, rs.CPUCoresSend, rs.CPUPerMessageUs, rs.Messages, humanize.Bytes(float64(rs.RSSBytes)))
	}
	g := res.Generator
	p("generator     cpu %.2fs (%.2f of %d cores while sending, %.2f µs/delivery), max rss %s; machine %.0f%% busy\n",
		g.CPUS, g.CPUCoresSend, g.Cores, g.CPUPerDeliveryUs, humanize.Bytes(float64(g.MaxRSSBytes)), 100*g.MachineBusySend)
	for _, warn := range res.Warnings {
		p("WARNING: %s\n", warn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func latencyLine(l Latency) string {
	if l.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%d samples)",
		humanize.Ms(l.P50Ms), humanize.Ms(l.P90Ms), humanize.Ms(l.P99Ms), humanize.Ms(l.P999Ms), humanize.Ms(l.MaxMs), l.Count)
}
