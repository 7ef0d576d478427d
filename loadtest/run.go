package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/loadtest/procstat"
)

// Phase is the stage a run is in.
type Phase int

// The phases of a run, in order.
const (
	PhaseConnect Phase = iota // opening connections at the ramp rate
	PhaseSend                 // senders send for Duration
	PhaseDrain                // waiting for deliveries still in flight
	PhaseClose                // closing the connections
	PhaseDone                 // finished; the Result is being assembled
)

// String returns the phase's lower-case name.
func (p Phase) String() string {
	switch p {
	case PhaseConnect:
		return "connect"
	case PhaseSend:
		return "send"
	case PhaseDrain:
		return "drain"
	case PhaseClose:
		return "close"
	case PhaseDone:
		return "done"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

const (
	maxDialsInFlight = 512                    // connection attempts at once
	sendGrace        = 500 * time.Millisecond // then a blocked write is interrupted
	closeTimeout     = time.Second            // for writing close frames
	interruptDrain   = time.Second            // the longest drain after an interrupt
)

// Run performs one load run as cfg describes and returns its results. It
// returns an error wrapping ErrInvalidConfig, and no results, when cfg is
// not valid.
//
// Run connects Clients at the Ramp rate, retrying failed attempts; once every
// attempt has ended and all connected clients have their welcome, the
// senders send at Rate for Duration, then Run waits up to Drain for
// deliveries in flight, and closes everything. It returns after at most
// Budget(cfg), whatever the server does. When ctx is cancelled, Run stops
// early, waits at most a second for deliveries in flight, and returns the
// results so far with Interrupted set. Run returns an error with its
// results when no client could connect.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	tgts, _ := cfg.Endpoints()
	limit, err := procstat.RaiseFileLimit()
	if err == nil && uint64(cfg.Clients)+64 > limit {
		return Result{}, invalid("%d clients need more file descriptors than the limit of %d allows", cfg.Clients, limit)
	}
	r := newRunner(cfg, tgts)
	r.fileLimit = limit

	deadline := time.Now().Add(Budget(cfg))
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	stop, watcherDone := make(chan struct{}), make(chan struct{})
	go r.watch(stop, watcherDone)

	r.connectAll(runCtx)
	ready := true
	if cfg.Ready != nil && r.connected.Load() > 0 && runCtx.Err() == nil {
		// The wait for the other parts is not the run's: the budget is
		// extended by it, and ctx alone bounds it.
		began := time.Now()
		if err := cfg.Ready(ctx, int(r.connected.Load())); err != nil {
			ready = false
			r.readyErr = err
		}
		var cancelLonger context.CancelFunc
		runCtx, cancelLonger = context.WithDeadline(ctx, deadline.Add(time.Since(began)))
		defer cancelLonger()
	}
	if r.connected.Load() > 0 && ready {
		r.sendAll(runCtx)
		if ctx.Err() != nil {
			// Interrupted: a short drain, so that deliveries in flight
			// are not counted as lost.
			drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), interruptDrain)
			r.drain(drainCtx)
			cancel()
		} else {
			r.drain(runCtx)
		}
	}
	r.setPhase(PhaseClose)
	r.closeAll()
	close(stop)
	<-watcherDone
	for _, p := range r.probes {
		p.close()
	}

	res := r.result()
	res.Interrupted = ctx.Err() != nil
	res.TimedOut = !res.Interrupted && runCtx.Err() != nil
	res.addWarnings()
	if res.Connections.Connected == 0 {
		why := "no attempt finished"
		if len(res.Connections.Errors) > 0 {
			why = res.Connections.Errors[0].Error
		}
		return res, fmt.Errorf("loadtest: no client could connect to %s: %s", res.URL, why)
	}
	if r.readyErr != nil {
		return res, fmt.Errorf("loadtest: not ready to send: %w", r.readyErr)
	}
	return res, nil
}

// Budget returns the longest a run of cfg can take: the planned ramp, the
// worst case of one client's connection attempts, Duration, Drain and a few
// seconds for closing.
func Budget(cfg Config) time.Duration {
	ramp := time.Duration(float64(cfg.Clients) / cfg.Ramp * float64(time.Second))
	connect := time.Duration(cfg.Retries+1)*cfg.ConnectTimeout + maxBackoff(cfg.Retries)
	return ramp + connect + cfg.Duration + sendGrace + cfg.Drain + closeTimeout + 3*time.Second
}

// runner is the state of one Run.
type runner struct {
	cfg       Config
	tgts      []Endpoint // client i's is tgts[i % len(tgts)]
	runID     string
	clock     Clock
	dialers   []*net.Dialer // one per source address
	shards    []shard
	probes    []serverProbe // one per server (node)
	redis     serverProbe   // nil without RedisPID
	fileLimit uint64
	started   time.Time
	readyErr  error // from Config.Ready

	phase    atomic.Int32
	phaseSig chan Phase // tells the watcher of a phase change

	// Connections.
	clients        []*client // slot i is written once by its connecting goroutine
	readers        sync.WaitGroup
	connectTime    Histogram
	connected      atomic.Int64
	connectFailed  atomic.Int64
	connectRetries atomic.Int64
	connectErrors  tally
	dropped        atomic.Int64
	dropErrors     tally
	closing        atomic.Bool
	rampTime       time.Duration

	// Sending.
	senders     []*sender // fixed when sending starts
	roomSize    []int     // members of each room when sending starts
	sendLag     Histogram
	sent        atomic.Uint64
	sendErrors  atomic.Uint64
	sendStalled atomic.Uint64
	sendErrText tally

	// Receiving; per-delivery counters live in shards.
	gaps, gapMissed, serverErrors       atomic.Uint64
	foreign, misrouted, malformed       atomic.Uint64
	idSkipped, idRepeated               atomic.Uint64
	serverErrorText                     tally
	refusalReasons                      tally // error events by their reason
	limitsOnce                          sync.Once
	limits                              *ServerLimits   // the first welcome's
	peakRSS                             []atomic.Uint64 // per probe
	wireBytes                           atomic.Uint64   // read by raw clients from their sockets
	markStart, markConnected            mark
	markSendStart, markSendEnd, markEnd mark
}

// shard holds delivery statistics for a subset of the clients, so that
// receivers on different CPUs rarely write to the same cache lines.
type shard struct {
	latency    Histogram
	crossNode  Histogram // deliveries to a client on another node than the sender's
	sameNode   Histogram // and on the sender's node, when there are several
	delivered  atomic.Uint64
	duplicated atomic.Uint64
	outOfOrder atomic.Uint64
	unverified atomic.Uint64
	holes      atomic.Int64
	_          [64]byte
}

// sender is a client that sends.
type sender struct {
	c    *client
	sent atomic.Uint64
}

func newRunner(cfg Config, tgts []Endpoint) *runner {
	r := &runner{
		cfg:      cfg,
		tgts:     tgts,
		runID:    cfg.RunID,
		clock:    NewClock(),
		shards:   make([]shard, 2*runtime.GOMAXPROCS(0)),
		probes:   newServerProbes(&cfg),
		started:  time.Now(),
		phaseSig: make(chan Phase),
		clients:  make([]*client, cfg.Clients),
	}
	r.peakRSS = make([]atomic.Uint64, len(r.probes))
	if r.runID == "" {
		r.runID = fmt.Sprintf("%08x", rand.Uint32())
	}
	if cfg.RedisPID != 0 {
		r.redis = pidProbe{pid: cfg.RedisPID, tick: procstat.ClockTick()}
	}
	r.dialers = []*net.Dialer{{KeepAlive: -1}}
	if len(cfg.SourceAddrs) > 0 {
		r.dialers = r.dialers[:0]
		for _, a := range cfg.SourceAddrs {
			r.dialers = append(r.dialers, sourceDialer(net.ParseIP(a)))
		}
	}
	return r
}

// partial reports whether this run is one part of a larger one.
func (r *runner) partial() bool { return r.cfg.allClients() != r.cfg.Clients }

// isSender reports whether client i (of all) is a sender.
func (r *runner) isSender(i int) bool { return i < r.cfg.Senders }

// setPhase moves the run to phase p and waits until the watcher has taken
// note, so that Config.Progress sees every phase.
func (r *runner) setPhase(p Phase) {
	r.phase.Store(int32(p))
	r.phaseSig <- p
}

// connectAll opens the clients at the ramp rate and returns when every
// attempt has ended.
func (r *runner) connectAll(ctx context.Context) {
	r.markStart = r.mark()
	r.setPhase(PhaseConnect)
	start := time.Now()
	interval := float64(time.Second) / r.cfg.Ramp
	sem := make(chan struct{}, maxDialsInFlight)
	var wg sync.WaitGroup
	t := time.NewTimer(time.Hour)
	defer t.Stop()
ramp:
	for i := range r.cfg.Clients {
		if d := time.Until(start.Add(time.Duration(float64(i) * interval))); d > 0 {
			t.Reset(d)
			select {
			case <-ctx.Done():
				break ramp
			case <-t.C:
			}
		}
		select {
		case <-ctx.Done():
			break ramp
		case sem <- struct{}{}:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := r.connect(ctx, r.cfg.FirstClient+i)
			if err != nil {
				if ctx.Err() == nil {
					r.connectFailed.Add(1)
					r.connectErrors.add(ErrorKind(err))
				}
				return
			}
			r.clients[i] = c
			r.readers.Add(1)
			go r.read(c)
			r.connected.Add(1)
		}()
	}
	wg.Wait()
	r.rampTime = time.Since(start)
	r.markConnected = r.mark()
}

// sendAll runs the senders for Duration. Sender j of n sends every n/Rate
// seconds, starting j/Rate seconds in, so that the total rate is even.
func (r *runner) sendAll(ctx context.Context) {
	r.roomSize = make([]int, r.cfg.Rooms)
	for _, c := range r.clients {
		if c != nil && !c.dead.Load() {
			r.roomSize[c.room]++
		}
	}
	for _, c := range r.clients {
		if c != nil && !c.dead.Load() && r.isSender(c.idx) {
			r.senders = append(r.senders, &sender{c: c})
		}
	}
	r.markSendStart = r.mark()
	r.setPhase(PhaseSend)
	startNano := r.clock.Now()
	endNano := startNano + int64(r.cfg.Duration)
	sendCtx, cancel := context.WithTimeout(ctx, r.cfg.Duration+sendGrace)
	defer cancel()
	if len(r.senders) == 0 {
		t := time.NewTimer(r.cfg.Duration)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	} else {
		var wg sync.WaitGroup
		for j, s := range r.senders {
			first, interval := r.schedule(j, s.c.idx)
			wg.Go(func() { r.send(sendCtx, s, startNano+first, interval, endNano) })
		}
		wg.Wait()
	}
	r.markSendEnd = r.mark()
}

// schedule returns when the j-th sender to send, client i, sends its
// first message (nanoseconds after sending starts) and the interval
// between its messages. In a whole run the senders that connected share
// Rate; in a part, every sender of all has its place, so that the parts
// agree on the schedule (see planned).
func (r *runner) schedule(j, i int) (first int64, interval float64) {
	step := float64(time.Second) / r.cfg.Rate
	n := len(r.senders)
	if r.partial() {
		j, n = i, r.cfg.Senders
	}
	return int64(float64(j) * step), step * float64(n)
}

// planned returns how many messages sender i (of all) sends when all goes
// well, by the schedule of a part: what a part that does not hold the
// sender expects of it.
func (r *runner) planned(i int) uint64 {
	step := float64(time.Second) / r.cfg.Rate
	first, interval := int64(float64(i)*step), step*float64(r.cfg.Senders)
	var n uint64
	for first+int64(float64(n)*interval) < int64(r.cfg.Duration) {
		n++
	}
	return n
}

// send sends s's messages on schedule: message k is due at first+k*interval
// (clock nanoseconds), and the last is due before end. A sender that falls
// behind sends at once until it has caught up; the delay is recorded as
// send lag.
func (r *runner) send(ctx context.Context, s *sender, first int64, interval float64, end int64) {
	stop := context.AfterFunc(ctx, func() { s.c.raw.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	p := newPayload(r.cfg.Size, r.runID, s.c.idx)
	if r.cfg.Prose {
		p.prose()
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for seq := uint64(0); ; seq++ {
		due := first + int64(float64(seq)*interval)
		if due >= end {
			return
		}
		now := r.clock.Now()
		if wait := due - now; wait > 0 {
			t.Reset(time.Duration(wait))
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now = r.clock.Now()
		} else if ctx.Err() != nil {
			return
		}
		r.sendLag.Record(time.Duration(now - due))
		if err := s.c.w.writeText(p.text(seq, now)); err != nil {
			if ctx.Err() != nil {
				r.sendStalled.Add(1)
			} else {
				r.sendErrors.Add(1)
				r.sendErrText.add(ErrorKind(err))
			}
			return
		}
		s.sent.Add(1)
		r.sent.Add(1)
	}
}

// expected returns how many deliveries the messages sent so far should make:
// those the server refused (each answered by an error event) make none.
func (r *runner) expected() uint64 {
	var n uint64
	for _, s := range r.senders {
		sent, refused := s.sent.Load(), s.c.refused.Load()
		n += (sent - min(refused, sent)) * uint64(r.roomSize[s.c.room])
	}
	if r.partial() && len(r.roomSize) > 0 {
		// The senders other parts hold: what they plan to send.
		first, last := r.cfg.FirstClient, r.cfg.FirstClient+r.cfg.Clients
		for i := range r.cfg.Senders {
			if i < first || i >= last {
				n += r.planned(i) * uint64(r.roomSize[i%r.cfg.Rooms])
			}
		}
	}
	return n
}

// refusedSends returns how many lines of the senders the server refused.
func (r *runner) refusedSends() uint64 {
	var n uint64
	for _, s := range r.senders {
		n += s.c.refused.Load()
	}
	return n
}

// refusedDeliveries returns the deliveries the refused lines would have
// made: the holes they leave at their rooms' receivers, which are not loss.
func (r *runner) refusedDeliveries() int64 {
	var n int64
	for _, s := range r.senders {
		n += int64(s.c.refused.Load()) * int64(r.roomSize[s.c.room])
	}
	return n
}

// noteLimits records the limits the server's first welcome advertises.
func (r *runner) noteLimits(welcome []byte) {
	r.limitsOnce.Do(func() {
		var w struct {
			Limits *ServerLimits `json:"limits"`
		}
		if json.Unmarshal(welcome, &w) == nil && w.Limits != nil {
			r.limits = w.Limits
		}
	})
}

// drain waits until everything expected has been delivered, Drain has
// passed, or ctx is done.
func (r *runner) drain(ctx context.Context) {
	r.setPhase(PhaseDrain)
	// expected is read afresh: the refusal of a line sent last may arrive
	// after the drain begins, and takes that line out of what is expected.
	sent := r.sent.Load()
	done := func() bool { return r.totals().Delivered >= r.expected() }
	if r.cfg.drainDone != nil {
		done = func() bool { return r.cfg.drainDone(r.totals(), sent, r.expected()) }
	}
	deadline := time.NewTimer(r.cfg.Drain)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
wait:
	for ctx.Err() == nil && !done() {
		select {
		case <-ctx.Done():
		case <-deadline.C:
			break wait
		case <-tick.C:
		}
	}
	r.markEnd = r.mark()
}

// closeAll closes every connection and waits for the readers to end.
func (r *runner) closeAll() {
	r.closing.Store(true)
	deadline := time.Now().Add(closeTimeout)
	const workers = 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(r.clients); i += workers {
				if c := r.clients[i]; c != nil {
					c.raw.SetDeadline(deadline)
					c.w.close()
				}
			}
		})
	}
	wg.Wait()
	r.readers.Wait()
}

// totals sums the shards' counters.
func (r *runner) totals() (d DeliveryCounts) {
	for i := range r.shards {
		sh := &r.shards[i]
		d.Delivered += sh.delivered.Load()
		d.Duplicated += sh.duplicated.Load()
		d.OutOfOrder += sh.outOfOrder.Load()
		d.Unverified += sh.unverified.Load()
		d.Holes += sh.holes.Load()
	}
	return d
}

// mark is a reading of the resources at one moment of the run.
type mark struct {
	at        time.Time
	gen       time.Duration // this process's CPU time
	busy      uint64        // machine CPU ticks, busy
	total     uint64        // machine CPU ticks, all
	machineOK bool
	srv       []procstat.Sample // one per probe
	srvErr    []error
	redis     procstat.Sample
	redisErr  error
	delivered uint64
	wire      uint64 // wireBytes
}

func (r *runner) mark() mark {
	var m mark
	// Not the run's context: the last marks are taken after Ctrl-C too.
	m.srv, m.srvErr = make([]procstat.Sample, len(r.probes)), make([]error, len(r.probes))
	for i, p := range r.probes {
		m.srv[i], m.srvErr[i] = p.sample(context.Background())
		r.notePeak(i, m.srv[i], m.srvErr[i])
	}
	if r.redis != nil {
		m.redis, m.redisErr = r.redis.sample(context.Background())
	}
	m.at, m.gen, m.delivered = time.Now(), procstat.SelfCPU(), r.totals().Delivered
	m.wire = r.wireBytes.Load()
	m.busy, m.total, m.machineOK = procstat.MachineCPU()
	return m
}

// notePeak records sample s of probe i for the peak RSS.
func (r *runner) notePeak(i int, s procstat.Sample, err error) {
	for err == nil {
		p := r.peakRSS[i].Load()
		if s.RSS <= p || r.peakRSS[i].CompareAndSwap(p, s.RSS) {
			return
		}
	}
}
