package loadtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// PartResult is what one part of a run split over several processes (see
// Config.FirstClient) records for Combine: the counts that only add up
// across parts, and its histograms whole.
type PartResult struct {
	FirstClient int `json:"first_client"`
	Clients     int `json:"clients"`
	AllClients  int `json:"all_clients"`
	// RoomMembers are this part's clients in each room when sending
	// started; RoomAccepted, the messages its senders sent there that the
	// server did not refuse.
	RoomMembers  []int    `json:"room_members"`
	RoomAccepted []uint64 `json:"room_accepted"`
	// NodeConnected are this part's connected clients on each node.
	NodeConnected []int `json:"node_connected"`

	Latency     HistogramSnapshot `json:"latency"`
	CrossNode   HistogramSnapshot `json:"cross_node"`
	SameNode    HistogramSnapshot `json:"same_node"`
	ConnectTime HistogramSnapshot `json:"connect_time"`
	SendLag     HistogramSnapshot `json:"send_lag"`
}

func (r *runner) partResult() *PartResult {
	p := &PartResult{
		FirstClient:   r.cfg.FirstClient,
		Clients:       r.cfg.Clients,
		AllClients:    r.cfg.allClients(),
		RoomMembers:   make([]int, r.cfg.Rooms),
		RoomAccepted:  make([]uint64, r.cfg.Rooms),
		NodeConnected: make([]int, len(r.tgts)),
		ConnectTime:   r.connectTime.Snapshot(),
		SendLag:       r.sendLag.Snapshot(),
	}
	copy(p.RoomMembers, r.roomSize)
	for _, s := range r.senders {
		sent, refused := s.sent.Load(), s.c.refused.Load()
		p.RoomAccepted[s.c.room] += sent - min(refused, sent)
	}
	for _, c := range r.clients {
		if c != nil {
			p.NodeConnected[c.node]++
		}
	}
	lat, cross, same := new(Histogram), new(Histogram), new(Histogram)
	for i := range r.shards {
		lat.Merge(&r.shards[i].latency)
		cross.Merge(&r.shards[i].crossNode)
		same.Merge(&r.shards[i].sameNode)
	}
	p.Latency, p.CrossNode, p.SameNode = lat.Snapshot(), cross.Snapshot(), same.Snapshot()
	return p
}

// ErrCombine is wrapped by Combine's errors: the results are not parts of
// one run.
var ErrCombine = errors.New("loadtest: cannot combine")

// Combine merges the results of the parts of one run — processes started
// with the same Config but for FirstClient and Clients, and the same
// RunID — into the result of the whole: counts added up, latency
// histograms merged, what was expected counted from every part's room
// members and the senders' accepted messages. The server's, the nodes'
// and Redis's figures come from the part that measured them (give the
// pids to one part); per delivery and per message they are over the
// whole run.
func Combine(parts []Result) (Result, error) {
	if len(parts) == 0 {
		return Result{}, fmt.Errorf("%w: no results", ErrCombine)
	}
	all := parts[0].Config.Clients
	covered := make([][2]int, 0, len(parts))
	for i, p := range parts {
		switch {
		case p.Part == nil:
			return Result{}, fmt.Errorf("%w: result %d is not a part (no -all-clients)", ErrCombine, i)
		case p.RunID != parts[0].RunID:
			return Result{}, fmt.Errorf("%w: run ids %s and %s", ErrCombine, parts[0].RunID, p.RunID)
		case p.Part.AllClients != all || p.Config.Rooms != parts[0].Config.Rooms || p.Config.Nodes != parts[0].Config.Nodes ||
			len(p.Part.RoomMembers) != p.Config.Rooms || len(p.Part.RoomAccepted) != p.Config.Rooms:
			return Result{}, fmt.Errorf("%w: result %d has another configuration", ErrCombine, i)
		}
		covered = append(covered, [2]int{p.Part.FirstClient, p.Part.FirstClient + p.Part.Clients})
	}
	slices.SortFunc(covered, func(a, b [2]int) int { return a[0] - b[0] })
	for i := 1; i < len(covered); i++ {
		if covered[i][0] < covered[i-1][1] {
			return Result{}, fmt.Errorf("%w: parts overlap at client %d", ErrCombine, covered[i][0])
		}
	}

	res := Result{
		RunID:   parts[0].RunID,
		URL:     parts[0].URL,
		Started: parts[0].Started,
		Config:  parts[0].Config,
		Parts:   len(parts),
	}
	var lat, cross, same, connect, lag Histogram
	var wire float64 // the parts' wire bytes, summed
	var errs, drops, sendErrs, serverErrs, reasons []ErrorCount
	rooms := parts[0].Config.Rooms
	members, accepted := make([]int, rooms), make([]uint64, rooms)
	nodeConns := make([]int, parts[0].Config.Nodes)
	cn, m, g := &res.Connections, &res.Messages, &res.Generator
	var senderPart *Result
	for i := range parts {
		p := &parts[i]
		if p.Started.Before(res.Started) {
			res.Started = p.Started
		}
		res.Interrupted = res.Interrupted || p.Interrupted
		res.TimedOut = res.TimedOut || p.TimedOut
		if res.Limits == nil {
			res.Limits = p.Limits
		}
		for _, h := range []struct {
			into *Histogram
			s    HistogramSnapshot
		}{{&lat, p.Part.Latency}, {&cross, p.Part.CrossNode}, {&same, p.Part.SameNode}, {&connect, p.Part.ConnectTime}, {&lag, p.Part.SendLag}} {
			if err := h.into.MergeSnapshot(h.s); err != nil {
				return Result{}, fmt.Errorf("%w: result %d: %w", ErrCombine, i, err)
			}
		}
		for r := range rooms {
			members[r] += p.Part.RoomMembers[r]
			accepted[r] += p.Part.RoomAccepted[r]
		}
		for n := range min(len(nodeConns), len(p.Part.NodeConnected)) {
			nodeConns[n] += p.Part.NodeConnected[n]
		}

		pc := p.Connections
		cn.Target += pc.Target
		cn.Connected += pc.Connected
		cn.Failed += pc.Failed
		cn.Retries += pc.Retries
		cn.Dropped += pc.Dropped
		cn.RampS = max(cn.RampS, pc.RampS)
		cn.FileLimit = pc.FileLimit
		errs, drops = append(errs, pc.Errors...), append(drops, pc.DropErrors...)

		pm := p.Messages
		m.Sent += pm.Sent
		m.SendErrors += pm.SendErrors
		m.SendStalled += pm.SendStalled
		m.Delivered += pm.Delivered
		wire += pm.WireBytesPerDelivery * float64(pm.Delivered) // the part's wire bytes
		m.Duplicated += pm.Duplicated
		m.OutOfOrder += pm.OutOfOrder
		m.Unverified += pm.Unverified
		m.DeliveriesPerSec += pm.DeliveriesPerSec
		m.DrainS = max(m.DrainS, pm.DrainS)
		m.Gaps += pm.Gaps
		m.GapMissed += pm.GapMissed
		m.Refused += pm.Refused
		m.ServerErrors += pm.ServerErrors
		m.Foreign += pm.Foreign
		m.Misrouted += pm.Misrouted
		m.Malformed += pm.Malformed
		m.IDSkipped += pm.IDSkipped
		m.IDRepeated += pm.IDRepeated
		reasons, serverErrs, sendErrs = append(reasons, pm.RefusedByReason...), append(serverErrs, pm.ServerErrorTexts...), append(sendErrs, pm.SendErrorTexts...)
		if pm.Sent > 0 && senderPart == nil {
			senderPart = p
		}

		pg := p.Generator
		g.Cores += pg.Cores
		g.CPUS += pg.CPUS
		g.CPUCoresSend += pg.CPUCoresSend
		g.MaxRSSBytes = max(g.MaxRSSBytes, pg.MaxRSSBytes)
		g.MachineBusySend = max(g.MachineBusySend, pg.MachineBusySend)
		g.MachineCPUs = pg.MachineCPUs
		g.Bottleneck = g.Bottleneck || pg.Bottleneck

		if p.Server != nil && res.Server == nil {
			sv := *p.Server
			res.Server = &sv
			res.Nodes = slices.Clone(p.Nodes)
		}
		if p.Redis != nil && res.Redis == nil {
			rs := *p.Redis
			res.Redis = &rs
		}
	}
	cn.Errors, cn.DropErrors = mergeCounts(errs), mergeCounts(drops)
	cn.ConnectTime = NewLatency(&connect)
	m.RefusedByReason, m.ServerErrorTexts, m.SendErrorTexts = mergeCounts(reasons), mergeCounts(serverErrs), mergeCounts(sendErrs)
	if m.Delivered > 0 {
		m.WireBytesPerDelivery = wire / float64(m.Delivered)
	}
	m.SendLag = NewLatency(&lag)
	m.TargetRate = parts[0].Messages.TargetRate
	if senderPart != nil {
		m.SendS = senderPart.Messages.SendS
		m.AchievedRate = senderPart.Messages.AchievedRate
	}
	var sumAccepted uint64
	for r := range rooms {
		m.Expected += accepted[r] * uint64(members[r])
		sumAccepted += accepted[r]
	}
	if m.Expected > m.Delivered {
		m.Lost = m.Expected - m.Delivered
		m.LossRatio = float64(m.Lost) / float64(m.Expected)
	}
	res.Latency = NewLatency(&lat)
	if res.Config.Nodes > 1 {
		cl, sl := NewLatency(&cross), NewLatency(&same)
		res.CrossNode, res.SameNode = &cl, &sl
	}
	if g.MachineCPUs > 0 {
		g.Cores = min(g.Cores, g.MachineCPUs)
	}
	g.Bottleneck = g.Bottleneck || g.Cores > 0 && g.CPUCoresSend >= 0.9*float64(g.Cores)
	if m.Delivered > 0 {
		g.CPUPerDeliveryUs = g.CPUS * 1e6 / float64(m.Delivered)
	}
	if sv := res.Server; sv != nil {
		sv.CPUPerDeliveryUs, sv.RSSPerConnBytes = 0, 0
		if m.Delivered > 0 {
			sv.CPUPerDeliveryUs = sv.CPUS * 1e6 / float64(m.Delivered)
		}
		if cn.Connected > 0 && sv.RSSConnectedBytes > sv.RSSBeforeBytes {
			sv.RSSPerConnBytes = float64(sv.RSSConnectedBytes-sv.RSSBeforeBytes) / float64(cn.Connected)
		}
	}
	for i := range res.Nodes {
		n := &res.Nodes[i]
		n.CPUPerDeliveryUs, n.RSSPerConnBytes = 0, 0
		if m.Delivered > 0 {
			n.CPUPerDeliveryUs = n.CPUS * 1e6 / float64(m.Delivered)
		}
		if i < len(nodeConns) && nodeConns[i] > 0 && n.RSSConnectedBytes > n.RSSBeforeBytes {
			n.RSSPerConnBytes = float64(n.RSSConnectedBytes-n.RSSBeforeBytes) / float64(nodeConns[i])
		}
	}
	if res.Redis != nil {
		res.Redis.setPerMessage(sumAccepted)
	}
	res.addWarnings()
	return res, nil
}

// mergeCounts adds up the counts of equal messages, most frequent first.
func mergeCounts(l []ErrorCount) []ErrorCount {
	var t tally
	for _, e := range l {
		t.mu.Lock()
		if t.count == nil {
			t.count = make(map[string]uint64)
		}
		t.count[e.Error] += e.Count
		t.mu.Unlock()
	}
	if len(l) == 0 {
		return nil
	}
	return t.list()
}

// ParseList splits a comma-separated flag value into its non-empty,
// trimmed items: "-url a,b" and "-source-addr 127.0.0.2,127.0.0.3".
func ParseList(s string) []string {
	var l []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			l = append(l, f)
		}
	}
	return l
}
