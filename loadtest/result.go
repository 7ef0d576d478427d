package loadtest

import (
	"errors"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"ringchat/loadtest/procstat"
)

// Result is what a run measured. Its JSON form (see WriteJSON) is meant for
// scripts: field names are stable, durations are in milliseconds (_ms) or
// seconds (_s), memory in bytes, and CPU use in cores (1 = one core busy).
type Result struct {
	RunID   string       `json:"run_id"` // in every message text of the run
	URL     string       `json:"url"`
	Started time.Time    `json:"started"`
	Config  ResultConfig `json:"config"`
	// Interrupted is set when the run was cancelled (Ctrl-C): the figures
	// cover the run up to then.
	Interrupted bool `json:"interrupted"`
	// TimedOut is set when the run hit its hard deadline (see Budget).
	TimedOut bool `json:"timed_out"`

	Connections ConnectionStats `json:"connections"`
	// Limits are what the server's welcome advertised a connection may
	// send; nil when it advertised none.
	Limits   *ServerLimits `json:"limits,omitempty"`
	Messages MessageStats  `json:"messages"`
	// Latency is the fan-out latency: from just before a sender writes a
	// message to when a receiver has read and parsed it, over every
	// delivery of the run, the sender's own included.
	Latency Latency      `json:"latency"`
	Server  *ServerStats `json:"server,omitempty"` // nil without ServerPID or ServerMetrics; with several servers, their sum
	// Nodes are each server's figures, in the order of Config.URLs, when
	// there are several.
	Nodes []ServerStats `json:"nodes,omitempty"`
	// Redis is the cluster's redis-server's CPU; nil without RedisPID.
	Redis *RedisStats `json:"redis,omitempty"`
	// CrossNode and SameNode split Latency, when the clients are spread
	// over several nodes, into the deliveries to clients on another node
	// than the sender's (through Redis) and those on the sender's own.
	CrossNode *Latency `json:"cross_node,omitempty"`
	SameNode  *Latency `json:"same_node,omitempty"`
	// Part is set when this run is one part of a larger one (see
	// Config.FirstClient): what Combine needs of it.
	Part *PartResult `json:"part,omitempty"`
	// Parts is the number of parts Combine merged into this result; 0
	// for a run in one process.
	Parts     int            `json:"parts,omitempty"`
	Generator GeneratorStats `json:"generator"`
	// Warnings say, one sentence each, why the figures may not mean what
	// they seem to: the generator as bottleneck, failed connections, loss.
	Warnings []string `json:"warnings"`
}

// ServerLimits are the limits a chat server's welcome advertises.
type ServerLimits struct {
	Rate       float64 `json:"rate"` // messages per second per connection; 0: no limit
	Burst      int     `json:"burst"`
	MaxMessage int     `json:"max_message"` // bytes
}

// ResultConfig records the configuration of the run.
type ResultConfig struct {
	Client      ClientKind `json:"client"`      // the clients' implementation: xnet or raw
	Compression bool       `json:"compression"` // raw clients offered permessage-deflate
	Prose       bool       `json:"prose"`       // texts padded with English words
	Clients     int        `json:"clients"`     // of the whole run, when this is a part
	Nodes       int        `json:"nodes"`       // endpoints the clients are spread over
	Senders     int        `json:"senders"`
	Rooms       int        `json:"rooms"`
	Rate        float64    `json:"rate"` // messages per second, all senders together
	DurationS   float64    `json:"duration_s"`
	Size        int        `json:"size"` // bytes of message text
	Ramp        float64    `json:"ramp"` // new connections per second
	DrainS      float64    `json:"drain_s"`
}

// ConnectionStats describes how the connections went.
type ConnectionStats struct {
	Target    int          `json:"target"`    // Config.Clients
	Connected int          `json:"connected"` // got their welcome
	Failed    int          `json:"failed"`    // gave up after all retries
	Retries   int          `json:"retries"`   // failed attempts that were retried
	Errors    []ErrorCount `json:"errors,omitempty"`
	// RampS is how long the connect phase took.
	RampS float64 `json:"ramp_s"`
	// ConnectTime is from the start of the successful attempt (TCP dial)
	// to the server's welcome.
	ConnectTime Latency `json:"connect_time"`
	// Dropped counts connections that ended before the generator closed
	// them: closed by the server or failed.
	Dropped    int          `json:"dropped"`
	DropErrors []ErrorCount `json:"drop_errors,omitempty"`
	FileLimit  uint64       `json:"file_limit"`
}

// MessageStats counts messages and deliveries. A delivery is one message
// arriving at one receiver; every member of the sender's room, the sender
// included, should get each message once.
type MessageStats struct {
	Sent         uint64  `json:"sent"`          // messages written successfully
	SendErrors   uint64  `json:"send_errors"`   // writes that failed (that sender stopped)
	SendStalled  uint64  `json:"send_stalled"`  // writes still blocked when sending ended
	TargetRate   float64 `json:"target_rate"`   // messages per second
	AchievedRate float64 `json:"achieved_rate"` // Sent / SendS
	SendS        float64 `json:"send_s"`        // the send phase, measured
	// SendLag is how late senders were against their schedule.
	SendLag Latency `json:"send_lag"`

	// Expected is the sum over sent messages of the members their room had
	// when sending started.
	Expected  uint64 `json:"expected"`
	Delivered uint64 `json:"delivered"` // distinct deliveries
	// WireBytesPerDelivery is what raw clients read from their sockets
	// from the start of sending to the end of the drain, divided by the
	// deliveries: the bytes a delivery costs on the wire, frame headers and
	// compression included (0 for x/net clients, which are not counted).
	WireBytesPerDelivery float64 `json:"wire_bytes_per_delivery"`
	Lost                 uint64  `json:"lost"`         // Expected - Delivered: not there by the end of the drain
	Duplicated           uint64  `json:"duplicated"`   // deliveries of a message the receiver already had
	OutOfOrder           uint64  `json:"out_of_order"` // arrived after a later message of the same sender
	// Unverified counts deliveries that arrived so late (more than 64
	// messages of the sender after their place) that a duplicate cannot be
	// ruled out; they are counted as delivered.
	Unverified uint64  `json:"unverified"`
	LossRatio  float64 `json:"loss_ratio"` // Lost / Expected
	// DeliveriesPerSec is the deliveries made during the send phase,
	// divided by its length.
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	DrainS           float64 `json:"drain_s"` // the drain, measured

	Gaps      uint64 `json:"gaps"`       // gap events: loss the server admitted
	GapMissed uint64 `json:"gap_missed"` // the events those gaps said were missed
	// Refused counts the messages the server refused, each answered by an
	// error event: they are not expected anywhere, so not loss. By reason
	// (rate_limited, too_long, …) in RefusedByReason.
	Refused         uint64       `json:"refused"`
	RefusedByReason []ErrorCount `json:"refused_by_reason,omitempty"`
	// ServerErrors counts error events, for instance refused messages.
	ServerErrors     uint64       `json:"server_errors"`
	ServerErrorTexts []ErrorCount `json:"server_error_texts,omitempty"`
	SendErrorTexts   []ErrorCount `json:"send_error_texts,omitempty"`
	Foreign          uint64       `json:"foreign"`     // messages not sent by this run
	Misrouted        uint64       `json:"misrouted"`   // this run's messages from another room
	Malformed        uint64       `json:"malformed"`   // frames that were not valid events
	IDSkipped        uint64       `json:"id_skipped"`  // room event ids that never arrived, gaps aside
	IDRepeated       uint64       `json:"id_repeated"` // room events whose id was not above the last
}

// Latency summarises a Histogram in milliseconds.
type Latency struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// NewLatency summarises h.
func NewLatency(h *Histogram) Latency {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return Latency{
		Count:  h.Count(),
		MeanMs: ms(h.Mean()),
		P50Ms:  ms(h.Percentile(50)),
		P90Ms:  ms(h.Percentile(90)),
		P99Ms:  ms(h.Percentile(99)),
		P999Ms: ms(h.Percentile(99.9)),
		MaxMs:  ms(h.Max()),
	}
}

// ServerStats are the server process's resources. CPU covers the measured
// window: from the start of sending to the end of the drain.
type ServerStats struct {
	Source string  `json:"source"` // "pid N" or the metrics URL
	CPUS   float64 `json:"cpu_s"`
	// CPUCoresSend is the average number of cores the server kept busy
	// during the send phase.
	CPUCoresSend float64 `json:"cpu_cores_send"`
	// CPUPerDeliveryUs is CPUS per delivery, in microseconds.
	CPUPerDeliveryUs  float64 `json:"cpu_per_delivery_us"`
	RSSBeforeBytes    uint64  `json:"rss_before_bytes"`    // before connecting
	RSSConnectedBytes uint64  `json:"rss_connected_bytes"` // all clients connected
	RSSSendEndBytes   uint64  `json:"rss_send_end_bytes"`  // when sending ended: the growth from connected is the broadcast's
	PeakRSSBytes      uint64  `json:"peak_rss_bytes"`      // largest RSS seen, sampled each second
	HWMBytes          uint64  `json:"hwm_bytes"`           // the kernel's peak RSS since server start (pid only)
	RSSPerConnBytes   float64 `json:"rss_per_conn_bytes"`  // (connected - before) / connections
	Error             string  `json:"error,omitempty"`     // why figures are missing
}

// GeneratorStats are the load generator's own resources, to judge whether
// the run measured the server or the generator.
type GeneratorStats struct {
	Cores            int     `json:"cores"` // it can use: min(GOMAXPROCS, CPUs)
	CPUS             float64 `json:"cpu_s"` // the measured window, as ServerStats
	CPUCoresSend     float64 `json:"cpu_cores_send"`
	CPUPerDeliveryUs float64 `json:"cpu_per_delivery_us"`
	MaxRSSBytes      uint64  `json:"max_rss_bytes"`
	// MachineBusySend is the fraction of all the machine's CPU time that
	// was busy during the send phase, whoever used it.
	MachineBusySend float64 `json:"machine_busy_send"`
	MachineCPUs     int     `json:"machine_cpus"`
	// Bottleneck is set when the generator used at least 90% of the cores
	// it can use: the figures then measure the generator.
	Bottleneck bool `json:"bottleneck"`
}

// ErrorCount is a distinct error message and how often it occurred.
type ErrorCount struct {
	Error string `json:"error"`
	Count uint64 `json:"count"`
}

// urls are c's endpoints.
func urls(c Config) []string {
	if len(c.URLs) > 0 {
		return c.URLs
	}
	return []string{c.URL}
}

// result assembles the Result once the run is over.
func (r *runner) result() Result {
	c := r.cfg
	res := Result{
		RunID:   r.runID,
		URL:     strings.Join(urls(c), ","),
		Started: r.started,
		Config: ResultConfig{
			Client: c.clientKind(), Compression: c.Compression, Prose: c.Prose, Clients: c.allClients(), Nodes: max(len(c.URLs), 1), Senders: c.Senders, Rooms: c.Rooms, Rate: c.Rate,
			DurationS: c.Duration.Seconds(), Size: c.Size, Ramp: c.Ramp, DrainS: c.Drain.Seconds(),
		},
		Connections: ConnectionStats{
			Target:      c.Clients, // of this process
			Connected:   int(r.connected.Load()),
			Failed:      int(r.connectFailed.Load()),
			Retries:     int(r.connectRetries.Load()),
			Errors:      r.connectErrors.list(),
			RampS:       r.rampTime.Seconds(),
			ConnectTime: NewLatency(&r.connectTime),
			Dropped:     int(r.dropped.Load()),
			DropErrors:  r.dropErrors.list(),
			FileLimit:   r.fileLimit,
		},
	}
	lat := new(Histogram)
	for i := range r.shards {
		lat.Merge(&r.shards[i].latency)
	}
	res.Latency = NewLatency(lat)

	tot := r.totals()
	m := MessageStats{
		Sent:             r.sent.Load(),
		SendErrors:       r.sendErrors.Load(),
		SendStalled:      r.sendStalled.Load(),
		SendErrorTexts:   r.sendErrText.list(),
		TargetRate:       c.Rate,
		SendLag:          NewLatency(&r.sendLag),
		Expected:         r.expected(),
		Delivered:        tot.Delivered,
		Duplicated:       tot.Duplicated,
		OutOfOrder:       tot.OutOfOrder,
		Unverified:       tot.Unverified,
		Gaps:             r.gaps.Load(),
		GapMissed:        r.gapMissed.Load(),
		Refused:          r.refusedSends(),
		RefusedByReason:  r.refusalReasons.list(),
		ServerErrors:     r.serverErrors.Load(),
		ServerErrorTexts: r.serverErrorText.list(),
		Foreign:          r.foreign.Load(),
		Misrouted:        r.misrouted.Load(),
		Malformed:        r.malformed.Load(),
		IDSkipped:        r.idSkipped.Load(),
		IDRepeated:       r.idRepeated.Load(),
	}
	if c.Senders == 0 {
		m.TargetRate = 0
	}
	if m.Expected > m.Delivered {
		m.Lost = m.Expected - m.Delivered
		m.LossRatio = float64(m.Lost) / float64(m.Expected)
	}
	s0, s1, end := r.markSendStart, r.markSendEnd, r.markEnd
	if !s0.at.IsZero() && !s1.at.IsZero() {
		m.SendS = s1.at.Sub(s0.at).Seconds()
		if m.SendS > 0 {
			m.AchievedRate = float64(m.Sent) / m.SendS
			m.DeliveriesPerSec = float64(s1.delivered-s0.delivered) / m.SendS
		}
	}
	if end.at.IsZero() {
		end = s1 // interrupted before the drain
	}
	if !end.at.IsZero() && !s1.at.IsZero() {
		m.DrainS = end.at.Sub(s1.at).Seconds()
	}
	if m.Delivered > 0 && end.wire > s0.wire {
		m.WireBytesPerDelivery = float64(end.wire-s0.wire) / float64(m.Delivered)
	}
	res.Messages = m
	res.Limits = r.limits

	g := GeneratorStats{Cores: min(runtime.GOMAXPROCS(0), runtime.NumCPU()), MachineCPUs: procstat.MachineCPUs()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		g.MaxRSSBytes = uint64(ru.Maxrss) * 1024
	}
	if m.SendS > 0 {
		g.CPUS = (end.gen - s0.gen).Seconds()
		g.CPUCoresSend = (s1.gen - s0.gen).Seconds() / m.SendS
		g.Bottleneck = g.CPUCoresSend >= 0.9*float64(g.Cores)
		if s0.machineOK && s1.machineOK && s1.total > s0.total {
			g.MachineBusySend = float64(s1.busy-s0.busy) / float64(s1.total-s0.total)
		}
		if m.Delivered > 0 {
			g.CPUPerDeliveryUs = g.CPUS * 1e6 / float64(m.Delivered)
		}
	}
	res.Generator = g

	if len(r.probes) > 0 {
		perNode := make([]int, len(r.probes))
		for _, c := range r.clients {
			if c != nil && c.node < len(perNode) {
				perNode[c.node]++
			}
		}
		if len(r.probes) == 1 {
			perNode[0] = res.Connections.Connected
		}
		var nodes []ServerStats
		for i := range r.probes {
			nodes = append(nodes, r.serverStats(i, m, perNode[i]))
		}
		res.Server = SumServers(nodes, m.Delivered, res.Connections.Connected)
		if len(nodes) > 1 {
			res.Nodes = nodes
		}
	}
	if r.redis != nil {
		rs := &RedisStats{Source: r.redis.describe()}
		for _, mk := range []mark{s0, s1, end} {
			if mk.redisErr != nil {
				rs.Error = mk.redisErr.Error()
			}
		}
		if m.SendS > 0 && rs.Error == "" {
			rs.CPUS = (end.redis.CPU - s0.redis.CPU).Seconds()
			rs.CPUCoresSend = (s1.redis.CPU - s0.redis.CPU).Seconds() / m.SendS
			rs.RSSBytes = s1.redis.RSS
		}
		rs.setPerMessage(m.Sent - min(m.Refused, m.Sent))
		res.Redis = rs
	}
	if len(r.tgts) > 1 {
		cross, same := new(Histogram), new(Histogram)
		for i := range r.shards {
			cross.Merge(&r.shards[i].crossNode)
			same.Merge(&r.shards[i].sameNode)
		}
		cl, sl := NewLatency(cross), NewLatency(same)
		res.CrossNode, res.SameNode = &cl, &sl
	}
	if r.partial() {
		res.Part = r.partResult()
	}
	return res
}

// serverStats are the figures of probe i, whose server held conns of
// the connections.
func (r *runner) serverStats(i int, m MessageStats, conns int) ServerStats {
	sv := ServerStats{Source: r.probes[i].describe(), PeakRSSBytes: r.peakRSS[i].Load()}
	start, conn := r.markStart.sample(i), r.markConnected.sample(i)
	s0, s1, end := r.markSendStart.sample(i), r.markSendEnd.sample(i), r.markEnd.sample(i)
	if r.markEnd.at.IsZero() {
		end = s1 // interrupted before the drain
	}
	for _, sm := range []markSample{start, conn, s0, s1, end} {
		if sm.err != nil {
			sv.Error = sm.err.Error()
		}
	}
	if start.err == nil && conn.err == nil {
		sv.RSSBeforeBytes = start.s.RSS
		sv.RSSConnectedBytes = conn.s.RSS
		if conns > 0 && sv.RSSConnectedBytes > sv.RSSBeforeBytes {
			sv.RSSPerConnBytes = float64(sv.RSSConnectedBytes-sv.RSSBeforeBytes) / float64(conns)
		}
	}
	if m.SendS > 0 && s0.err == nil && s1.err == nil && end.err == nil {
		sv.CPUS = (end.s.CPU - s0.s.CPU).Seconds()
		sv.CPUCoresSend = (s1.s.CPU - s0.s.CPU).Seconds() / m.SendS
		if m.Delivered > 0 {
			sv.CPUPerDeliveryUs = sv.CPUS * 1e6 / float64(m.Delivered)
		}
		sv.HWMBytes = end.s.HWM
		sv.RSSSendEndBytes = s1.s.RSS
	}
	return sv
}

// markSample is one probe's reading in a mark.
type markSample struct {
	s   procstat.Sample
	err error
}

var errNotMeasured = errors.New("loadtest: not measured: the run ended before")

func (m *mark) sample(i int) markSample {
	if i >= len(m.srv) {
		return markSample{err: errNotMeasured}
	}
	return markSample{m.srv[i], m.srvErr[i]}
}

// SumServers returns the figures of several servers — the nodes of a
// cluster — as one: CPU and memory added up, per delivery and per
// connection over all of them. One server's figures are returned as they
// are. It returns nil for none.
func SumServers(nodes []ServerStats, delivered uint64, conns int) *ServerStats {
	switch len(nodes) {
	case 0:
		return nil
	case 1:
		sv := nodes[0]
		return &sv
	}
	sv := &ServerStats{}
	var sources []string
	for _, n := range nodes {
		sources = append(sources, strings.TrimPrefix(n.Source, "pid "))
		if n.Error != "" && sv.Error == "" {
			sv.Error = n.Error
		}
		sv.CPUS += n.CPUS
		sv.CPUCoresSend += n.CPUCoresSend
		sv.RSSBeforeBytes += n.RSSBeforeBytes
		sv.RSSConnectedBytes += n.RSSConnectedBytes
		sv.RSSSendEndBytes += n.RSSSendEndBytes
		sv.PeakRSSBytes += n.PeakRSSBytes
		sv.HWMBytes += n.HWMBytes
	}
	sv.Source = "pids " + strings.Join(sources, ",")
	if delivered > 0 {
		sv.CPUPerDeliveryUs = sv.CPUS * 1e6 / float64(delivered)
	}
	if conns > 0 && sv.RSSConnectedBytes > sv.RSSBeforeBytes {
		sv.RSSPerConnBytes = float64(sv.RSSConnectedBytes-sv.RSSBeforeBytes) / float64(conns)
	}
	return sv
}

// RedisStats are the redis-server process's resources over the measured
// window, from the start of sending to the end of the drain.
type RedisStats struct {
	Source       string  `json:"source"`
	CPUS         float64 `json:"cpu_s"`
	CPUCoresSend float64 `json:"cpu_cores_send"`
	// CPUPerMessageUs is CPUS per message the servers accepted (sent and
	// not refused), in microseconds: the cost of one publish, whatever
	// the number of nodes and members, plus whatever else Redis did
	// meanwhile (the nodes' presence refreshes).
	CPUPerMessageUs float64 `json:"cpu_per_message_us"`
	Messages        uint64  `json:"messages"`
	RSSBytes        uint64  `json:"rss_bytes"` // when sending ended
	Error           string  `json:"error,omitempty"`
}

func (rs *RedisStats) setPerMessage(n uint64) {
	rs.Messages = n
	rs.CPUPerMessageUs = 0
	if n > 0 {
		rs.CPUPerMessageUs = rs.CPUS * 1e6 / float64(n)
	}
}

// tally counts distinct messages, keeping at most tallyMax of them.
type tally struct {
	mu    sync.Mutex
	count map[string]uint64
	other uint64
}

const tallyMax = 8

func (t *tally) add(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.count == nil {
		t.count = make(map[string]uint64)
	}
	if _, ok := t.count[msg]; ok || len(t.count) < tallyMax {
		t.count[msg]++
	} else {
		t.other++
	}
}

// list returns the messages, most frequent first.
func (t *tally) list() []ErrorCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	var l []ErrorCount
	for m, n := range t.count {
		l = append(l, ErrorCount{Error: m, Count: n})
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].Count != l[j].Count {
			return l[i].Count > l[j].Count
		}
		return l[i].Error < l[j].Error
	})
	if t.other > 0 {
		l = append(l, ErrorCount{Error: "(other)", Count: t.other})
	}
	return l
}
