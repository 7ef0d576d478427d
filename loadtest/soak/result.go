package soak

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/loadtest"
	"ringchat/loadtest/internal/humanize"
	"ringchat/loadtest/procstat"
)

// ErrFailed is wrapped by Run's error when the server failed a check:
// the result's Failures say which.
var ErrFailed = errors.New("loadtest: soak failed")

// Result is what a soak found. Its JSON field names are stable.
type Result struct {
	Started   time.Time         `json:"started"`
	ElapsedS  float64           `json:"elapsed_s"`
	URL       string            `json:"url"`
	Config    Settings          `json:"config"`
	Behaviour []BehaviourResult `json:"behaviours"`
	Observers ObserverResult    `json:"observers"`
	Server    ServerResult      `json:"server"`
	// Failures are the checks the server failed, one sentence each; empty
	// when it passed.
	Failures []string `json:"failures"`
	// Interrupted is set when ctx ended the soak early.
	Interrupted bool `json:"interrupted"`
	// Machine, and (set by the caller) the command and the server's
	// command line, for the report.
	Machine    procstat.Machine `json:"machine"`
	Command    string           `json:"command,omitempty"`
	ServerArgs []string         `json:"server_args,omitempty"`
}

// Settings records the configuration of the soak.
type Settings struct {
	DurationS        float64 `json:"duration_s"`
	Clients          int     `json:"clients"`
	Rooms            int     `json:"rooms"`
	ChatRate         float64 `json:"chat_rate"`
	StormEveryS      float64 `json:"storm_every_s"`
	RcvBuf           int     `json:"rcvbuf"`
	MaxP99Ms         float64 `json:"max_p99_ms"`
	GoroutineSlack   int64   `json:"goroutine_slack"`
	HeapSlackBytes   int64   `json:"heap_slack_bytes"`
	HeapPerGoroutine int64   `json:"heap_per_goroutine_bytes"`
	HeapPerSession   int64   `json:"heap_per_session_bytes"`
	ServerRate       float64 `json:"server_rate"`
	ServerBurst      int     `json:"server_burst"`
	HandshakeTimeout float64 `json:"handshake_timeout_s"`
}

// BehaviourResult is what the clients of one behaviour did and met.
type BehaviourResult struct {
	Name    string `json:"name"`
	Clients int    `json:"clients"`
	// Attempts are connection attempts (handshakes begun); Connected those
	// that got their welcome.
	Attempts  int64 `json:"attempts"`
	Connected int64 `json:"connected"`
	// Outcomes tally what happened, as expected; Problems what should not
	// have (each a failure of the server).
	Outcomes []loadtest.ErrorCount `json:"outcomes"`
	Problems []loadtest.ErrorCount `json:"problems,omitempty"`
	Problem  uint64                `json:"problem_count"`
}

// ObserverResult is what the observers checked: every room event they
// received, and every message of the chatters of their room.
type ObserverResult struct {
	Observers int `json:"observers"`
	// EventsChecked are the room events received (ids checked).
	EventsChecked uint64 `json:"events_checked"`
	// IDsMissing are ids skipped, IDsRepeated ids seen again or out of
	// order; Diverged events whose bytes differed from another observer's
	// event of the same id in the same room.
	IDsMissing  uint64 `json:"ids_missing"`
	IDsRepeated uint64 `json:"ids_repeated"`
	Diverged    uint64 `json:"diverged"`
	// Messages: every chatter message its sender saw acknowledged, times
	// the observers of its room (Expected); how many arrived (Received),
	// never arrived (Lost), arrived twice (Duplicated), after a later one
	// of the same chatter (OutOfOrder), or with a text other than the one
	// sent (Corrupted).
	Expected   uint64 `json:"expected"`
	Received   uint64 `json:"received"`
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	OutOfOrder uint64 `json:"out_of_order"`
	Corrupted  uint64 `json:"corrupted"`
	// Gaps, Errors and Dropped must be 0: an observer reads fast, sends
	// nothing and never leaves.
	Gaps    uint64 `json:"gaps"`
	Errors  uint64 `json:"errors"`
	Dropped uint64 `json:"dropped"`
	// Other counts frames an observer cannot place: malformed, an unknown
	// type, an event of another room.
	Other uint64 `json:"other"`
	// Latency of the chatters' messages, from just before the chatter
	// wrote one to an observer of its room having read it.
	Latency loadtest.Latency `json:"latency"`
}

// ServerResult is the server's side: resting state before and after,
// peaks, and whether it answered throughout.
type ServerResult struct {
	Before ServerSample `json:"before"`
	After  ServerSample `json:"after"`
	// Settled says whether, within Settle, connections reached 0 and the
	// goroutines their bound; SettleS is how long that took.
	Settled bool    `json:"settled"`
	SettleS float64 `json:"settle_s"`
	// Peaks over the scrapes once a second.
	PeakGoroutines  int64 `json:"peak_goroutines"`
	PeakRSSBytes    int64 `json:"peak_rss_bytes"`
	PeakConnections int64 `json:"peak_connections"`
	// Scrapes, ScrapeFailures and the slowest scrape: the server must
	// answer /metrics throughout, within scrapeTimeout.
	Scrapes        int     `json:"scrapes"`
	ScrapeFailures int     `json:"scrape_failures"`
	SlowestScrapeS float64 `json:"slowest_scrape_s"`
	// HeapAllowance is how many more bytes of heap objects the server may
	// hold after the soak than before: HeapSlack + HeapPerGoroutine ×
	// PeakGoroutines + HeapPerSession × the sessions it keeps after.
	HeapAllowance int64 `json:"heap_allowance_bytes"`
	// ConnectionCycles are the chat connections the server accepted
	// during the soak (from the closes it counted): a heap that grew by
	// HeapAllowance over them would be HeapAllowance/ConnectionCycles per
	// connection.
	ConnectionCycles uint64 `json:"connection_cycles"`
}

// collect fills res from the clients' counters, once every client has
// ended.
func (s *soaker) collect(res *Result) {
	for _, b := range s.behaviours() {
		res.Behaviour = append(res.Behaviour, b.result())
	}
	o := &res.Observers
	o.Observers = len(s.observers)
	lat := new(loadtest.Histogram)
	for _, ob := range s.observers {
		lat.Merge(&ob.latency)
		o.EventsChecked += ob.events.Load()
		o.IDsMissing += ob.idsMissing
		o.IDsRepeated += ob.idsRepeated
		o.Diverged += ob.diverged
		o.Received += ob.received.Load()
		o.Duplicated += ob.duplicated
		o.OutOfOrder += ob.outOfOrder
		o.Corrupted += ob.corrupted
		o.Gaps += ob.gaps
		o.Errors += ob.errors
		o.Other += ob.other
		if ob.dropped {
			o.Dropped++
		}
		want, got := ob.expected()
		o.Expected += want
		if want > got {
			o.Lost += want - got
		}
	}
	o.Latency = loadtest.NewLatency(lat)
}

// verdict lists every check the server failed.
func (s *soaker) verdict(res *Result) {
	fail := func(format string, args ...any) { res.Failures = append(res.Failures, fmt.Sprintf(format, args...)) }
	o, srv, cfg := res.Observers, res.Server, s.cfg
	if n := o.IDsMissing + o.IDsRepeated + o.Diverged; n > 0 {
		fail("observers: %d event ids missing, %d repeated or out of order, %d events differing between observers", o.IDsMissing, o.IDsRepeated, o.Diverged)
	}
	if o.Lost+o.Duplicated+o.OutOfOrder+o.Corrupted > 0 {
		fail("observers: of %d chatter messages, %d lost, %d duplicated, %d out of order, %d with a changed text", o.Expected, o.Lost, o.Duplicated, o.OutOfOrder, o.Corrupted)
	}
	if o.Gaps+o.Errors+o.Dropped > 0 {
		fail("observers: %d gap events, %d error events, %d dropped by the server", o.Gaps, o.Errors, o.Dropped)
	}
	if o.Other > 0 {
		fail("observers: %d frames that were not events of their room", o.Other)
	}
	if o.Latency.Count == 0 {
		fail("observers: no chatter message arrived")
	} else if o.Latency.P99Ms > ms(cfg.MaxP99) {
		fail("observers: p99 latency %s, above the bound of %s", humanize.Ms(o.Latency.P99Ms), humanize.Ms(ms(cfg.MaxP99)))
	}
	for _, b := range res.Behaviour {
		if b.Problem > 0 {
			var l []string
			for _, p := range b.Problems {
				l = append(l, fmt.Sprintf("%s (%d)", p.Error, p.Count))
			}
			fail("%s: %d problems: %s", b.Name, b.Problem, strings.Join(l, ", "))
		}
	}
	if srv.ScrapeFailures > 0 {
		fail("server: %d of %d scrapes of /metrics failed or took over %v", srv.ScrapeFailures, srv.Scrapes, scrapeTimeout)
	}
	if srv.After.Connections != 0 {
		fail("server: %d connections left %.0f s after every client had gone", srv.After.Connections, srv.SettleS)
	}
	if g := srv.After.Goroutines - srv.Before.Goroutines; g > cfg.GoroutineSlack {
		fail("server: %d goroutines after the soak, %d before: %d more than the slack of %d allows", srv.After.Goroutines, srv.Before.Goroutines, g-cfg.GoroutineSlack, cfg.GoroutineSlack)
	}
	if h := srv.After.HeapObjectsBytes - srv.Before.HeapObjectsBytes; h > srv.HeapAllowance {
		fail("server: heap objects %s after the soak, %s before: more than the allowance of %s", humanize.Bytes(float64(srv.After.HeapObjectsBytes)),
			humanize.Bytes(float64(srv.Before.HeapObjectsBytes)), humanize.Bytes(float64(srv.HeapAllowance)))
	}
}

// behaviourStats are one behaviour's counters, shared by its goroutines.
type behaviourStats struct {
	name      string
	clients   int
	attempts  atomic.Int64
	connected atomic.Int64 // welcomes received
	problems  atomic.Uint64
	outcomes  outcomeTally
	problemTx outcomeTally
}

func newBehaviourStats(name string, clients int) *behaviourStats {
	return &behaviourStats{name: name, clients: clients}
}

// outcome counts something that happened, as it may.
func (b *behaviourStats) outcome(what string) { b.outcomes.add(what) }

// problem counts something the server should not have done.
func (b *behaviourStats) problem(what string) {
	b.problems.Add(1)
	b.problemTx.add(what)
}

func (b *behaviourStats) result() BehaviourResult {
	return BehaviourResult{
		Name: b.name, Clients: b.clients, Attempts: b.attempts.Load(), Connected: b.connected.Load(),
		Outcomes: b.outcomes.list(), Problems: b.problemTx.list(), Problem: b.problems.Load(),
	}
}

// outcomeTally counts distinct descriptions, keeping at most 64.
type outcomeTally struct {
	mu    sync.Mutex
	count map[string]uint64
	other uint64
}

func (t *outcomeTally) add(what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.count == nil {
		t.count = make(map[string]uint64)
	}
	if _, ok := t.count[what]; ok || len(t.count) < 64 {
		t.count[what]++
	} else {
		t.other++
	}
}

// list returns the descriptions in name order, so that a table is stable
// from run to run.
func (t *outcomeTally) list() []loadtest.ErrorCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := make([]loadtest.ErrorCount, 0, len(t.count)+1)
	for w, n := range t.count {
		l = append(l, loadtest.ErrorCount{Error: w, Count: n})
	}
	slices.SortFunc(l, func(a, b loadtest.ErrorCount) int { return strings.Compare(a.Error, b.Error) })
	if t.other > 0 {
		l = append(l, loadtest.ErrorCount{Error: "(other)", Count: t.other})
	}
	return l
}

// jitter returns a random duration in [lo, hi).
func jitter(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo)
}
