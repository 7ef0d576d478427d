package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"ringchat/loadtest"
	"ringchat/loadtest/childproc"
	"ringchat/loadtest/internal/humanize"
	"ringchat/loadtest/procstat"
)

// Target names the kind of server a Row runs against.
type Target string

// The targets of a Row.
const (
	TargetServer Target = "server" // the chat server, Config.Server
	TargetFloor  Target = "floor"  // the raw floor server, Config.Floor
	TargetHub    Target = "hub"    // the conventional hub server, Config.Hub
)

// Row is one run of the make bench matrix.
type Row struct {
	Target  Target  `json:"target"`
	Clients int     `json:"clients"`
	Senders int     `json:"senders"`
	Rooms   int     `json:"rooms"`
	Rate    float64 `json:"rate"` // messages per second, all senders together
	// Store, when set, is the chat server's -store for this row alone;
	// rows without it run the default (the history on disk). The store
	// region compares such a row with the default one at the same load.
	Store string `json:"store,omitempty"`
	// Flags are other server flags for this row alone, space-separated,
	// and Why says why it needs them: a row runs the server at its
	// defaults unless it says otherwise.
	Flags string `json:"flags,omitempty"`
	Why   string `json:"why,omitempty"`
	// Client is the generator's kind of client for this row (see
	// loadtest.Config.Client); empty is loadtest's default, x/net.
	Client loadtest.ClientKind `json:"client,omitempty"`
}

// rowLoad is what makes two rows the same load, whatever the server: the
// same clients (kind and number), senders, rooms and rate.
type rowLoad struct {
	client                  loadtest.ClientKind
	clients, senders, rooms int
	rate                    float64
}

func (r Row) load() rowLoad { return rowLoad{r.client(), r.Clients, r.Senders, r.Rooms, r.Rate} }

// client is the row's kind of client, with empty meaning x/net.
func (r Row) client() loadtest.ClientKind {
	if r.Client == "" {
		return loadtest.ClientXNet
	}
	return r.Client
}

// clientName is how the tables name a kind of client.
func clientName(k loadtest.ClientKind) string {
	if k == loadtest.ClientXNet || k == "" {
		return "x/net"
	}
	return string(k)
}

// String describes the row in a few words.
func (r Row) String() string {
	clients := fmt.Sprint(r.Clients)
	if r.Rooms > 1 {
		clients = fmt.Sprintf("%d rooms × %d", r.Rooms, r.Clients/r.Rooms)
	}
	flags := ""
	if r.Store != "" {
		flags = ", -store " + r.Store
	}
	if r.Flags != "" {
		flags += ", " + r.Flags
	}
	return fmt.Sprintf("%s: %s %s clients, %d sender(s), %g msg/s%s", r.Target, clients, clientName(r.Client), r.Senders, r.Rate, flags)
}

// DefaultRows is the matrix of make bench, issue 13's: the chat server at
// 1,000, 5,000, 10,000 and 19,000 clients in one room, each beside the
// floor server and the hub server at the same load, one right after the
// other so that the three see the same state of a drifting machine — all
// measured by raw clients, whose readers keep up with the socket, so that
// the figures show the servers' tails; at 5,000 the chat server also with
// its history in memory beside the default on disk (the store region);
// and last, the chat server and the floor at 10,000 with x/net's clients,
// whose slower readers hide the tail, beside the raw rows. The 19,000 row
// is issue 7's target of 19,000 simultaneous clients on one server process
// with zero loss, as close to the 20,000 file descriptors a process may
// have here as the generator's own allow. Every row runs the server at its
// defaults — no sender offers more than the 10 messages a second a
// connection may send — but where a row says why not. The x/net rows come
// last: should the budget run out, they are the ones skipped.
func DefaultRows() []Row {
	raw, xnet := loadtest.ClientRaw, loadtest.ClientXNet
	const maxConns, why = "-max-conns 19500", "19,000 clients: above the 10,000 connections the server takes by default"
	return []Row{
		{TargetServer, 1000, 2, 1, 20, "", "", "", raw},
		{TargetFloor, 1000, 2, 1, 20, "", "", "", raw},
		{TargetHub, 1000, 2, 1, 20, "", "", "", raw},
		{TargetServer, 5000, 1, 1, 10, "", "", "", raw},
		// The history in memory, beside the default on disk: what the
		// durable store costs the fan-out (the store region).
		{TargetServer, 5000, 1, 1, 10, "memory", "", "", raw},
		{TargetFloor, 5000, 1, 1, 10, "", "", "", raw},
		{TargetHub, 5000, 1, 1, 10, "", "", "", raw},
		{TargetServer, 10000, 1, 1, 5, "", "", "", raw},
		{TargetFloor, 10000, 1, 1, 5, "", "", "", raw},
		{TargetHub, 10000, 1, 1, 5, "", "", "", raw},
		{TargetServer, 19000, 1, 1, 2, "", maxConns, why, raw},
		{TargetFloor, 19000, 1, 1, 2, "", "", "", raw},
		{TargetHub, 19000, 1, 1, 2, "", "", "", raw},
		// The readers beside each other (the readers region).
		{TargetServer, 10000, 1, 1, 5, "", "", "", xnet},
		{TargetFloor, 10000, 1, 1, 5, "", "", "", xnet},
	}
}

// ScaleRows returns rows with the clients multiplied by f (0 < f <= 1),
// for a quick try of the matrix: at least two clients per room and one per
// sender.
func ScaleRows(rows []Row, f float64) []Row {
	out := make([]Row, len(rows))
	for i, r := range rows {
		r.Clients = max(int(float64(r.Clients)*f), 2*r.Rooms, r.Senders)
		out[i] = r
	}
	return out
}

// Config describes a make bench run: the matrix of load runs, each
// against a freshly started server process, and the go test benchmarks.
type Config struct {
	// Server, Floor and Hub start the chat server, the floor server (see
	// floor.Server; cmd/loadtest -floor-serve) and the hub server (see
	// hub.Server; cmd/loadtest -hub-serve) as child processes.
	Server, Floor, Hub childproc.Spec
	Rows               []Row

	// Of every row, as in loadtest.Config.
	Duration       time.Duration
	Size           int
	Ramp           float64
	ConnectTimeout time.Duration
	Retries        int
	Drain          time.Duration
	// Pause between rows, for the sockets of the previous one to close.
	Pause time.Duration

	// GoBench are the go test benchmarks, run after the matrix. Its Timeout
	// is reserved for them out of Budget.
	GoBench GoBenchConfig

	// Budget bounds the whole of Run: the matrix stops (and later rows
	// are skipped) when only GoBench.Timeout is left, and the go test run
	// gets what remains.
	Budget time.Duration

	// Log receives a line at the start and end of every step, progress
	// lines while a row runs, and go test's output; nil discards them.
	Log io.Writer
}

// DefaultConfig returns the make bench configuration without the
// commands that start the servers: 5 s of sending per row, 100-byte
// messages, go test -count 5 -benchtime 200ms of ./wsproto/, ./chat/ and
// ./chat/store/file/, everything within 4m20s: about two minutes for the
// fifteen rows (a 10,000-client row takes about 8 s), the rest for go test.
func DefaultConfig() Config {
	return Config{
		Rows:           DefaultRows(),
		Duration:       5 * time.Second,
		Size:           100,
		Ramp:           5000,
		ConnectTimeout: 10 * time.Second,
		Retries:        3,
		Drain:          10 * time.Second,
		Pause:          500 * time.Millisecond,
		GoBench: GoBenchConfig{
			Packages:  []string{"./wsproto/", "./chat/", "./chat/store/file/"},
			Count:     5,
			Benchtime: "200ms",
			Timeout:   100 * time.Second,
		},
		Budget: 260 * time.Second,
	}
}

// Report is what Run measured.
type Report struct {
	Started  time.Time        `json:"started"`
	ElapsedS float64          `json:"elapsed_s"`
	Machine  procstat.Machine `json:"machine"`
	// Command is how the run was started (set by the caller).
	Command     string                `json:"command"`
	ServerArgs  []string              `json:"server_args"`
	FloorArgs   []string              `json:"floor_args"`
	HubArgs     []string              `json:"hub_args"`
	Config      loadtest.ResultConfig `json:"config"` // the settings common to every row
	Rows        []RowRun              `json:"rows"`
	GoBench     *GoBenchResult        `json:"go_bench,omitempty"`
	Interrupted bool                  `json:"interrupted"`
}

// RowRun is one row's outcome.
type RowRun struct {
	Row Row `json:"row"`
	// Result is nil when the row did not run; Skipped or Error says why.
	Result  *loadtest.Result `json:"result,omitempty"`
	Skipped string           `json:"skipped,omitempty"`
	Error   string           `json:"error,omitempty"`
	// ServerStop says how stopping the server went wrong, if it did.
	ServerStop string `json:"server_stop,omitempty"`
	// FileLimit is the server process's soft RLIMIT_NOFILE.
	FileLimit uint64  `json:"file_limit"`
	ElapsedS  float64 `json:"elapsed_s"`
}

// Run runs every row of cfg against a freshly started server process,
// stopping it after the row, then the go test benchmarks. It returns when
// done, when ctx is cancelled (then Interrupted is set and the go test
// benchmarks are not run), or when the budget is spent. Every process it
// starts has ended when it returns. The error joins the problems met:
// servers that would not start or stop cleanly, failed runs and go test
// failures; the report holds whatever was measured.
func Run(ctx context.Context, cfg Config) (Report, error) {
	start := time.Now()
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	logf := func(format string, args ...any) { fmt.Fprintf(logw, "bench: "+format+"\n", args...) }
	rep := Report{
		Started:    start,
		Machine:    procstat.ReadMachine(),
		ServerArgs: cfg.Server.Args,
		FloorArgs:  cfg.Floor.Args,
		HubArgs:    cfg.Hub.Args,
		Config: loadtest.ResultConfig{
			DurationS: cfg.Duration.Seconds(), Size: cfg.Size, Ramp: cfg.Ramp, DrainS: cfg.Drain.Seconds(),
		},
	}
	deadline := start.Add(cfg.Budget)
	matrixCtx, cancel := context.WithDeadline(ctx, deadline.Add(-cfg.GoBench.Timeout))
	defer cancel()

	var errs []error
	for i, row := range cfg.Rows {
		if ctx.Err() != nil {
			rep.Interrupted = true
			break
		}
		label := fmt.Sprintf("row %d/%d (%s)", i+1, len(cfg.Rows), row)
		run := RowRun{Row: row}
		if left, need := time.Until(deadline.Add(-cfg.GoBench.Timeout)), estimateRow(cfg, row); left < need {
			run.Skipped = fmt.Sprintf("time budget: %.0fs left for the matrix, the row needs about %.0fs", left.Seconds(), need.Seconds())
			logf("%s skipped: %s", label, run.Skipped)
			rep.Rows = append(rep.Rows, run)
			continue
		}
		if i > 0 && cfg.Pause > 0 {
			select {
			case <-matrixCtx.Done():
			case <-time.After(cfg.Pause):
			}
		}
		logf("%s starting", label)
		err := runRow(matrixCtx, cfg, &run, logw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		}
		if ctx.Err() != nil {
			rep.Interrupted = true
		}
		if res := run.Result; res != nil {
			logf("%s done in %.1fs: delivered %d of %d, lost %d, p99 %s%s", label, run.ElapsedS,
				res.Messages.Delivered, res.Messages.Expected, res.Messages.Lost, humanize.Ms(res.Latency.P99Ms), limitNote(res))
		} else {
			logf("%s failed: %s", label, run.Error)
		}
		rep.Rows = append(rep.Rows, run)
	}

	if !rep.Interrupted && len(cfg.GoBench.Packages) > 0 {
		gb := cfg.GoBench
		gb.Timeout = time.Until(deadline)
		logf("go test benchmarks (%s left)", gb.Timeout.Round(time.Second))
		if gb.Timeout < 5*time.Second {
			res := GoBenchResult{Command: "(not run)", Failures: []string{"no time left in the budget for go test"}}
			rep.GoBench = &res
		} else {
			res, err := RunGoBench(ctx, gb, logw)
			rep.GoBench = &res
			if err != nil {
				errs = append(errs, err)
			}
		}
		if ctx.Err() != nil {
			rep.Interrupted = true
		}
	}
	rep.Machine.LoadAfter = procstat.LoadAvg()
	rep.ElapsedS = time.Since(start).Seconds()
	return rep, errors.Join(errs...)
}

// runRow starts the row's server, runs the load against it and stops it.
func runRow(ctx context.Context, cfg Config, run *RowRun, logw io.Writer) error {
	began := time.Now()
	defer func() { run.ElapsedS = time.Since(began).Seconds() }()
	// What the previous row left behind is collected now, not while this
	// row measures the generator's CPU.
	runtime.GC()
	debug.FreeOSMemory()

	spec := cfg.Server
	switch run.Row.Target {
	case TargetFloor:
		spec = cfg.Floor
	case TargetHub:
		spec = cfg.Hub
	}
	if run.Row.Store != "" {
		spec.Args = append(slices.Clone(spec.Args), "-store", run.Row.Store)
	}
	if run.Row.Flags != "" {
		spec.Args = append(slices.Clone(spec.Args), strings.Fields(run.Row.Flags)...)
	}
	p, err := childproc.Start(ctx, spec)
	if err != nil {
		run.Error = err.Error()
		return err
	}
	defer func() {
		if err := p.Stop(); err != nil {
			run.ServerStop = err.Error()
		}
	}()
	run.FileLimit, _ = p.FileLimit()

	lc := loadtest.DefaultConfig()
	lc.URL = p.URL
	lc.ServerPID = p.Pid()
	lc.Client = run.Row.client()
	lc.Clients, lc.Senders, lc.Rooms, lc.Rate = run.Row.Clients, run.Row.Senders, run.Row.Rooms, run.Row.Rate
	lc.Duration, lc.Size, lc.Ramp = cfg.Duration, cfg.Size, cfg.Ramp
	lc.ConnectTimeout, lc.Retries, lc.Drain = cfg.ConnectTimeout, cfg.Retries, cfg.Drain
	if logw != io.Discard {
		prefix := fmt.Sprintf("  %-6s %-5s %6d ", run.Row.Target, clientName(run.Row.Client), run.Row.Clients)
		lc.Progress = func(pr loadtest.Progress) { fmt.Fprintln(logw, prefix+pr.String()) }
	}
	if run.FileLimit != 0 && uint64(lc.Clients)+64 > run.FileLimit {
		err := fmt.Errorf("the server's open-file limit %d is too low for %d clients", run.FileLimit, lc.Clients)
		run.Error = err.Error()
		return err
	}
	res, err := loadtest.Run(ctx, lc)
	if err != nil && errors.Is(err, loadtest.ErrInvalidConfig) {
		run.Error = err.Error()
		return err
	}
	run.Result = &res
	if err != nil {
		run.Error = err.Error()
	}
	if stopErr := p.Stop(); stopErr != nil {
		run.ServerStop = stopErr.Error()
		err = errors.Join(err, stopErr)
	}
	return err
}

// estimateRow is about how long a row takes when all goes well: connecting
// at the ramp rate (at most about 4,000 handshakes a second here), sending,
// and two seconds for the drain, closing, and starting and stopping the
// server. A row is skipped when less than this is left of the matrix's
// share of the budget.
func estimateRow(cfg Config, row Row) time.Duration {
	rate := min(cfg.Ramp, 4000)
	connect := time.Duration(float64(row.Clients) / rate * float64(time.Second))
	return connect + cfg.Duration + cfg.Pause + 2*time.Second
}

// limitNote says, for a log line, what other than the server limited res.
func limitNote(res *loadtest.Result) string {
	var notes []string
	if res.Generator.Bottleneck {
		notes = append(notes, "GENERATOR BOTTLENECK")
	}
	if res.Generator.MachineBusySend >= 0.9 {
		notes = append(notes, fmt.Sprintf("machine %.0f%% busy", 100*res.Generator.MachineBusySend))
	}
	if len(notes) == 0 {
		return ""
	}
	return " [" + strings.Join(notes, ", ") + "]"
}
