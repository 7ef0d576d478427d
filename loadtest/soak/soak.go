package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/loadtest"
	"ringchat/loadtest/childproc"
	"ringchat/loadtest/procstat"
)

// soaker is the state of one Run.
type soaker struct {
	cfg     Config
	tgt     loadtest.Endpoint
	path    string
	runID   string
	clock   loadtest.Clock
	metrics *metricsClient
	rooms   []*room

	observers []*observer
	chatters  []*chatter

	// The behaviours, in the order of the report.
	obsStats, chatStats, slowStats, vanishStats, garbageStats, stormStats, floodStats *behaviourStats

	chaos         sync.WaitGroup // every behaviour goroutine but observers' and chatters' readers
	conns         sync.WaitGroup // observers' and chatters' readers
	closingSteady atomic.Bool    // the observers and chatters are being closed: read errors are the end
}

// room is one room of the soak and what its observers saw in it.
type room struct {
	name     string
	chatters []*chatter // fixed before sending starts

	mu     sync.Mutex
	hashes map[uint64]uint64 // event id → hash of its frame, as first seen
}

// check records the hash of event id's frame, or compares it with the one
// recorded, and reports whether they agree.
func (r *room) check(id, hash uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.hashes[id]; ok {
		return h == hash
	}
	r.hashes[id] = hash
	return true
}

// roomFor returns the room of client k of a behaviour.
func (s *soaker) roomFor(k int) *room {
	if k%2 == 0 || len(s.rooms) == 1 {
		return s.rooms[0]
	}
	return s.rooms[1+(k/2)%(len(s.rooms)-1)]
}

// newSoaker returns the state of a soak of cfg, which is valid, against
// tgt.
func newSoaker(cfg Config, tgt loadtest.Endpoint) *soaker {
	s := &soaker{
		cfg:     cfg,
		tgt:     tgt,
		path:    tgt.URL.Path,
		runID:   fmt.Sprintf("%08x", rand.Uint32()),
		clock:   loadtest.NewClock(),
		metrics: newMetricsClient(cfg.MetricsURL),
	}
	s.rooms = append(s.rooms, &room{name: "soak-big", hashes: map[uint64]uint64{}})
	for i := range cfg.SmallRooms {
		s.rooms = append(s.rooms, &room{name: "soak-" + strconv.Itoa(i), hashes: map[uint64]uint64{}})
	}
	s.obsStats = newBehaviourStats("observers", cfg.Observers)
	s.chatStats = newBehaviourStats("chatters", cfg.Chatters)
	s.slowStats = newBehaviourStats("slow readers", cfg.SlowReaders)
	s.vanishStats = newBehaviourStats("vanishers", cfg.Vanishers)
	s.garbageStats = newBehaviourStats("garbage senders", cfg.Garbage)
	s.stormStats = newBehaviourStats("reconnect storm", cfg.Storm)
	s.floodStats = newBehaviourStats("flooders", cfg.Flooders)
	return s
}

// Run runs the soak cfg describes against a running server and checks
// what it does. The behaviours, each a set of goroutines:
//
//   - observers (golang.org/x/net/websocket) connect first, read fast,
//     send nothing and stay to the end. Each checks every room event: ids
//     consecutive from its welcome's, each once, in order, no gap event,
//     the same bytes as every other observer of its room got for that id;
//     and every message of its room's chatters, exactly once, in order,
//     with the text sent, timing each.
//   - chatters (x/net) send at ChatRate — messages of 10 to 250 bytes of
//     mixed UTF-8, JSON-escaped characters among them, now and then /me,
//     /nick and /who — and check that their own messages come back, in
//     order.
//   - slow readers (x/net, SO_RCVBUF of RcvBuf) read one frame every
//     SlowDelay (on average), or read for a while and stop for up to
//     PauseMax; the server
//     may send them gap events, close them or drop them, and they then
//     come back with since and epoch. Their ids must still be consecutive
//     but for the jumps that gap events announce.
//   - vanishers (x/net) connect, read for 0.2 to 3 s, perhaps send a
//     message, and reset the TCP connection (SO_LINGER 0: no close frame,
//     no FIN); one in ten vanishes in the middle of its handshake.
//   - garbage senders (raw TCP after a valid handshake) go through the
//     cases of garbageCases — broken frames, lengths, opcodes, UTF-8,
//     close frames, oversized messages, ping floods, random bytes — each
//     expecting the close code RFC 6455 and CONTRACT.md name, or the
//     connection to stay open, and the TCP connection to end soon after
//     the close.
//   - storm clients connect together every StormEvery, hold for 1 to 3 s
//     and leave — with a close frame, with a bare FIN, or with a reset;
//     one in ten instead makes a bad handshake (stormCases) and expects
//     its HTTP status.
//   - flooders (raw) send messages as fast as they can and expect up to
//     the burst accepted, an error event for each line refused, then close
//     1008 once more than a burst were refused in a row; then come back.
//
// Before the clients come and after they have all left, Run reads the
// server's resting state from /metrics (quietSample); while they are
// there, it scrapes once a second, which also checks that the server keeps
// answering. After the soak, the server must return to 0 connections,
// within GoroutineSlack goroutines and HeapSlack bytes of heap objects of
// its baseline.
//
// Run returns an error wrapping loadtest.ErrInvalidConfig for a bad cfg,
// another error when the soak could not run (no server, an observer that
// could not connect), and an error wrapping ErrFailed when the server
// failed a check; the result holds every figure in each case but the
// first.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	lc := loadtest.Config{URL: cfg.URL}
	tgt, _ := lc.Endpoint()
	if cfg.MetricsURL == "" {
		cfg.MetricsURL = "http://" + tgt.HostPort + "/metrics"
	}
	if _, err := procstat.RaiseFileLimit(); err != nil {
		return Result{}, err
	}
	s := newSoaker(cfg, tgt)
	defer s.metrics.client.CloseIdleConnections()
	res := Result{Started: time.Now(), URL: cfg.URL, Machine: procstat.ReadMachine(), Config: Settings{
		DurationS: cfg.Duration.Seconds(), Rooms: len(s.rooms), ChatRate: cfg.ChatRate,
		Clients:     cfg.Observers + cfg.Chatters + cfg.SlowReaders + cfg.Vanishers + cfg.Garbage + cfg.Storm + cfg.Flooders,
		StormEveryS: cfg.StormEvery.Seconds(), RcvBuf: cfg.RcvBuf, MaxP99Ms: ms(cfg.MaxP99),
		GoroutineSlack: cfg.GoroutineSlack, HeapSlackBytes: cfg.HeapSlack, HeapPerGoroutine: cfg.HeapPerGoroutine, HeapPerSession: cfg.HeapPerSession,
		ServerRate: cfg.ServerRate, ServerBurst: cfg.ServerBurst, HandshakeTimeout: cfg.HandshakeTimeout.Seconds(),
	}}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, Budget(cfg))
	defer cancel()
	err := s.run(ctx, &res)
	res.Machine.LoadAfter = procstat.LoadAvg()
	res.ElapsedS = time.Since(res.Started).Seconds()
	switch {
	case errors.Is(parent.Err(), context.Canceled):
		res.Interrupted = true
	case ctx.Err() != nil:
		res.Failures = append(res.Failures, fmt.Sprintf("the soak did not finish within its budget (%.0f s): the server kept it waiting", res.ElapsedS))
	}
	if err != nil {
		return res, err
	}
	if len(res.Failures) > 0 {
		return res, fmt.Errorf("%w: %s", ErrFailed, strings.Join(res.Failures, "; "))
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func (s *soaker) logf(format string, args ...any) {
	if s.cfg.Log != nil {
		fmt.Fprintf(s.cfg.Log, "soak: "+format+"\n", args...)
	}
}

// run is Run's body; it fills res.
func (s *soaker) run(ctx context.Context, res *Result) error {
	cfg := s.cfg
	srv := &res.Server

	s.logf("baseline: reading the idle server's resting state")
	before, err := s.metrics.quietSample(ctx, cfg.ForceGC)
	if err != nil {
		return fmt.Errorf("loadtest: soak: the server's baseline: %w", err)
	}
	srv.Before = before

	monCtx, stopMon := context.WithCancel(ctx)
	monDone := make(chan struct{})
	go s.monitor(monCtx, srv, monDone)
	defer func() { stopMon(); <-monDone }()

	// Observers and chatters first: they must all be there before the
	// first message is sent and stay to the end.
	s.logf("connecting %d observers and %d chatters", cfg.Observers, cfg.Chatters)
	if err := s.connectSteady(ctx); err != nil {
		s.closeSteady()
		return err
	}

	// Cancelled rather than given a deadline, so that the connection
	// attempts under way end as cancelled, not as timed out.
	chaosCtx, stopChaos := context.WithCancel(ctx)
	defer stopChaos()
	chaosTimer := time.AfterFunc(cfg.Duration, stopChaos)
	defer chaosTimer.Stop()
	s.logf("soaking for %v: %d slow readers, %d vanishers, %d garbage senders, %d storm clients, %d flooders",
		cfg.Duration, cfg.SlowReaders, cfg.Vanishers, cfg.Garbage, cfg.Storm, cfg.Flooders)
	s.startChaos(chaosCtx)
	progressDone := make(chan struct{})
	go s.progress(chaosCtx, progressDone)
	<-chaosCtx.Done()
	<-progressDone

	s.logf("stopping: waiting for the behaviours' last steps")
	stopped := make(chan struct{})
	go func() { s.chaos.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(stopMax):
		// Every behaviour's step is bounded well within this: one that
		// did not end is stuck on the server.
		res.Failures = append(res.Failures, fmt.Sprintf("some clients were still waiting on the server %v after the soak ended", stopMax))
		<-stopped
	case <-ctx.Done():
		<-stopped
	}

	s.logf("draining: waiting up to %v for the observers to receive every acknowledged message", cfg.Drain)
	s.drain(ctx)
	s.closeSteady()

	s.logf("settling: waiting up to %v for 0 connections and the baseline's goroutines", cfg.Settle)
	stopMon()
	<-monDone
	s.settle(ctx, srv)
	s.logf("reading the server's resting state after the soak")
	s.releaseLedgers()
	after, err := s.metrics.quietSample(ctx, cfg.ForceGC)
	if err != nil {
		res.Failures = append(res.Failures, fmt.Sprintf("the server did not answer /metrics after the soak: %v", err))
	} else {
		srv.After = after
	}
	var closes uint64
	for code, n := range srv.After.Closes {
		closes += n - srv.Before.Closes[code]
	}
	srv.ConnectionCycles = closes
	srv.HeapAllowance = cfg.HeapSlack + cfg.HeapPerGoroutine*srv.PeakGoroutines + cfg.HeapPerSession*srv.After.Sessions

	s.collect(res)
	s.verdict(res)
	return nil
}

// releaseLedgers drops the rooms' event hashes, which are no longer
// needed, before the heap is read (a server in this process shares it).
func (s *soaker) releaseLedgers() {
	for _, r := range s.rooms {
		r.mu.Lock()
		r.hashes = nil
		r.mu.Unlock()
	}
}

// monitor scrapes /metrics once a second until ctx ends, keeping the peaks
// and checking that every scrape is answered.
func (s *soaker) monitor(ctx context.Context, srv *ServerResult, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		smp, took, err := s.metrics.sample(ctx)
		if ctx.Err() != nil {
			return
		}
		srv.Scrapes++
		srv.SlowestScrapeS = max(srv.SlowestScrapeS, took.Seconds())
		if err != nil {
			srv.ScrapeFailures++
			s.logf("scrape failed: %v", err)
			continue
		}
		srv.PeakGoroutines = max(srv.PeakGoroutines, smp.Goroutines)
		srv.PeakRSSBytes = max(srv.PeakRSSBytes, smp.RSSBytes)
		srv.PeakConnections = max(srv.PeakConnections, smp.Connections)
	}
}

// progress logs a line every 10 s while the soak runs.
func (s *soaker) progress(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	if s.cfg.Log == nil {
		return
	}
	start := time.Now()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var events, msgs uint64
		for _, o := range s.observers {
			events += o.events.Load()
			msgs += o.received.Load()
		}
		var problems uint64
		for _, b := range s.behaviours() {
			problems += b.problems.Load()
		}
		s.logf("%3.0fs: observers checked %d events (%d chatter messages); connections: storm %d, vanish %d, garbage %d, flood %d, slow %d; problems %d",
			time.Since(start).Seconds(), events, msgs, s.stormStats.connected.Load(), s.vanishStats.connected.Load(),
			s.garbageStats.connected.Load(), s.floodStats.connected.Load(), s.slowStats.connected.Load(), problems)
	}
}

// settle waits until the server has no connection left and its goroutines
// are within the slack of the baseline, or Settle has passed.
func (s *soaker) settle(ctx context.Context, srv *ServerResult) {
	start := time.Now()
	deadline := start.Add(s.cfg.Settle)
	for ctx.Err() == nil {
		smp, _, err := s.metrics.sample(ctx)
		if err == nil && smp.Connections == 0 && smp.Goroutines <= srv.Before.Goroutines+s.cfg.GoroutineSlack {
			srv.Settled = true
			break
		}
		if time.Now().After(deadline) {
			break
		}
		sleepCtx(ctx, 100*time.Millisecond) // polling the server, not synchronisation
	}
	srv.SettleS = time.Since(start).Seconds()
}

func (s *soaker) behaviours() []*behaviourStats {
	return []*behaviourStats{s.obsStats, s.chatStats, s.slowStats, s.vanishStats, s.garbageStats, s.stormStats, s.floodStats}
}

// ServerRun is a soak against a server process that RunServer starts.
type ServerRun struct {
	// Server starts the chat server (its URL path is the chat endpoint).
	Server childproc.Spec
	// Soak is the soak's configuration; its URL is set by RunServer.
	Soak Config
	// Budget bounds all of RunServer, starting and stopping the server
	// included; when zero, Budget(Soak) and a little.
	Budget time.Duration
}

// stopReserve is the part of a ServerRun's budget kept for stopping the
// server.
const stopReserve = 10 * time.Second

// RunServer starts the server run.Server describes on a free loopback port,
// soaks it, and stops it with SIGTERM. Besides the soak's own checks, the
// server must still be running at the end, exit cleanly, and never have
// written "panic" or "DATA RACE"; the result's Failures say otherwise.
// Every process it starts has ended when it returns.
func RunServer(ctx context.Context, run ServerRun) (Result, error) {
	budget := run.Budget
	if budget <= 0 {
		budget = Budget(run.Soak) + childproc.StartTimeout + stopReserve
	}
	deadline := time.Now().Add(budget)
	startCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if run.Server.StopTimeout <= 0 || run.Server.StopTimeout > stopReserve-2*time.Second {
		run.Server.StopTimeout = stopReserve - 2*time.Second
	}
	p, err := childproc.Start(startCtx, run.Server)
	if err != nil {
		return Result{}, err
	}
	cfg := run.Soak
	cfg.URL = p.URL
	soakCtx, cancelSoak := context.WithDeadline(ctx, deadline.Add(-stopReserve))
	defer cancelSoak()
	res, err := Run(soakCtx, cfg)
	res.ServerArgs = run.Server.Args
	if errors.Is(err, loadtest.ErrInvalidConfig) {
		p.Stop()
		return res, err
	}
	if stopErr := p.Stop(); stopErr != nil {
		res.Failures = append(res.Failures, "server: "+stopErr.Error())
	}
	out := p.Output()
	for _, bad := range []string{"panic", "DATA RACE", "fatal error"} {
		if strings.Contains(out, bad) {
			res.Failures = append(res.Failures, fmt.Sprintf("server: its output mentions %q: %s", bad, childproc.LastLines(out, 5)))
		}
	}
	if (err == nil || errors.Is(err, ErrFailed)) && len(res.Failures) > 0 {
		err = fmt.Errorf("%w: %s", ErrFailed, strings.Join(res.Failures, "; "))
	}
	return res, err
}

// sleepCtx waits for d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
