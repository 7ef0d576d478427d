package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"ringchat/internal/resp"
	"ringchat/loadtest"
	"ringchat/loadtest/childproc"
	"ringchat/loadtest/internal/humanize"
	"ringchat/loadtest/procstat"
)

// ClusterRow is one kind of run of make bench-cluster: Clients spread
// over Nodes chat servers — sharing one fresh redis-server when Nodes is
// more than one, at their defaults (the history on disk) when it is one —
// and a generator of Parts processes (one when Parts is 0 or 1: this one).
type ClusterRow struct {
	Name    string  `json:"name"`
	Clients int     `json:"clients"`
	Nodes   int     `json:"nodes"`
	Parts   int     `json:"parts"`
	Rate    float64 `json:"rate"` // messages per second of the one sender
	// Duration is how long the sender sends.
	Duration time.Duration `json:"duration"`
}

// ClusterConfig describes a make bench-cluster run: Rounds rounds of the
// fan-out comparison (Single, then Cluster: the same clients on one node
// and spread over several, one right after the other so that both see the
// same state of a drifting machine), then Most, the most clients the
// machine holds.
type ClusterConfig struct {
	// Server starts a chat server; -redis, -node and -max-conns are added.
	Server childproc.Spec
	// Redis starts a redis-server on {port}.
	Redis childproc.Spec
	// Loadtest is the loadtest binary, whose processes are the parts of
	// a run too big for this one.
	Loadtest string

	Rounds          int
	Single, Cluster ClusterRow
	Most            ClusterRow

	Size           int
	Ramp           float64 // connections per second of each generator process
	ConnectTimeout time.Duration
	Retries        int
	Drain          time.Duration
	// SourceAddrs are the loopback addresses the clients connect from.
	SourceAddrs []string
	// IdleWindow is how long Redis's CPU is measured with every client
	// connected and nothing sent: the cost of the nodes' presence
	// refreshes alone.
	IdleWindow time.Duration
	// Budget bounds the whole run; rows that no longer fit are skipped.
	Budget time.Duration
	// Log receives a line per step and progress lines; nil discards them.
	Log io.Writer
}

// DefaultClusterConfig is make bench-cluster without the commands: five
// rounds of 15,000 clients on one node beside 3 × 5,000 on three, one
// sender at 4 messages a second for 5 s; then 90,000 clients over five
// nodes (18,000 each, under the 20,000 files a process may open here)
// from six generator processes of 15,000, one message every 2 s for 20 s.
// Everything within 7 minutes; about 5 when all goes well.
func DefaultClusterConfig() ClusterConfig {
	return ClusterConfig{
		Rounds:  5,
		Single:  ClusterRow{Name: "1 node", Clients: 15000, Nodes: 1, Rate: 4, Duration: 5 * time.Second},
		Cluster: ClusterRow{Name: "3 nodes", Clients: 15000, Nodes: 3, Rate: 4, Duration: 5 * time.Second},
		// One message every 2 s: fanning one out to 90,000 clients keeps
		// both cores busy for about a second, and at one a second the
		// messages queued behind each other (p99 1.6 s, the machine 100%
		// busy, Redis starved into timeouts).
		Most: ClusterRow{Name: "5 nodes, most clients", Clients: 90000, Nodes: 5, Parts: 6, Rate: 0.5, Duration: 20 * time.Second},

		Size:           100,
		Ramp:           1500,
		ConnectTimeout: 15 * time.Second,
		Retries:        3,
		Drain:          15 * time.Second,
		SourceAddrs:    []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"},
		IdleWindow:     5 * time.Second, // a whole presence refresh period
		Budget:         7 * time.Minute,
	}
}

// ClusterReport is what RunCluster measured.
type ClusterReport struct {
	Started     time.Time        `json:"started"`
	ElapsedS    float64          `json:"elapsed_s"`
	Machine     procstat.Machine `json:"machine"`
	Command     string           `json:"command"` // set by the caller
	ServerArgs  []string         `json:"server_args"`
	RedisArgs   []string         `json:"redis_args"`
	Size        int              `json:"size"`
	Ramp        float64          `json:"ramp"`
	Runs        []ClusterRun     `json:"runs"`
	Interrupted bool             `json:"interrupted"`
}

// ClusterRun is one run's outcome.
type ClusterRun struct {
	Row   ClusterRow `json:"row"`
	Round int        `json:"round"` // of the comparison; 0 for Most
	// Result is nil when the run did not happen; Error or Skipped says why.
	Result  *loadtest.Result `json:"result,omitempty"`
	Error   string           `json:"error,omitempty"`
	Skipped string           `json:"skipped,omitempty"`
	// RedisIdleCores is Redis's CPU with every client connected and
	// nothing sent, in cores; -1 when not measured.
	RedisIdleCores float64 `json:"redis_idle_cores"`
	// Outages are the times a node found Redis unreachable, and
	// LongestOutageS the longest (from the nodes' logs).
	Outages        int     `json:"outages"`
	LongestOutageS float64 `json:"longest_outage_s"`
	// OutagesSending are those of Outages that began after SendStarted,
	// when every client had connected, Redis's idle CPU had been
	// measured, and the sender was about to send: outages while sending,
	// draining and disconnecting, not while connecting.
	OutagesSending int       `json:"outages_sending"`
	SendStarted    time.Time `json:"send_started"`
	// RedisLog are the nodes' first log lines about Redis's outages, for
	// the saved JSON.
	RedisLog []string `json:"redis_log,omitempty"`
	// SlowLog are Redis's slowest commands of the run (SLOWLOG, over 10
	// ms), slowest first; Commands, its command statistics, the most CPU
	// first.
	SlowLog  []SlowCommand `json:"slow_log,omitempty"`
	Commands []CommandStat `json:"commands,omitempty"`
	ElapsedS float64       `json:"elapsed_s"`
}

// SlowCommand is one SLOWLOG entry.
type SlowCommand struct {
	Micros  int64  `json:"micros"`
	Command string `json:"command"` // the name and first arguments
}

// CommandStat is one line of INFO commandstats.
type CommandStat struct {
	Name        string  `json:"name"`
	Calls       int64   `json:"calls"`
	Usec        int64   `json:"usec"`
	UsecPerCall float64 `json:"usec_per_call"`
}

// RunCluster runs cfg's rows, each against fresh servers (and a fresh
// Redis), stopping them after it. Every process it starts has ended when
// it returns. The error joins the problems met; the report holds whatever
// was measured.
func RunCluster(ctx context.Context, cfg ClusterConfig) (ClusterReport, error) {
	start := time.Now()
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	logf := func(format string, args ...any) { fmt.Fprintf(logw, "bench-cluster: "+format+"\n", args...) }
	rep := ClusterReport{
		Started: start, Machine: procstat.ReadMachine(),
		ServerArgs: cfg.Server.Args, RedisArgs: cfg.Redis.Args, Size: cfg.Size, Ramp: cfg.Ramp,
	}
	deadline := start.Add(cfg.Budget)
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var rows []ClusterRun
	for round := 1; round <= cfg.Rounds; round++ {
		rows = append(rows, ClusterRun{Row: cfg.Single, Round: round}, ClusterRun{Row: cfg.Cluster, Round: round})
	}
	if cfg.Most.Clients > 0 {
		rows = append(rows, ClusterRun{Row: cfg.Most})
	}
	var errs []error
	for i := range rows {
		run := &rows[i]
		run.RedisIdleCores = -1
		label := fmt.Sprintf("run %d/%d (%s, %s clients, round %d)", i+1, len(rows), run.Row.Name, humanize.Thousands(float64(run.Row.Clients)), run.Round)
		if ctx.Err() != nil {
			rep.Interrupted = true
			break
		}
		if need := estimateCluster(cfg, run.Row); time.Until(deadline) < need {
			run.Skipped = fmt.Sprintf("time budget: %.0fs left, the run needs about %.0fs", time.Until(deadline).Seconds(), need.Seconds())
			logf("%s skipped: %s", label, run.Skipped)
			continue
		}
		logf("%s starting", label)
		began := time.Now()
		err := runClusterRow(runCtx, cfg, run, logw)
		run.ElapsedS = time.Since(began).Seconds()
		if err != nil {
			run.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		}
		if res := run.Result; res != nil {
			cross := ""
			if res.CrossNode != nil {
				cross = ", cross-node p99 " + humanize.Ms(res.CrossNode.P99Ms)
			}
			logf("%s done in %.0fs: delivered %d of %d, lost %d, p99 %s%s", label, run.ElapsedS,
				res.Messages.Delivered, res.Messages.Expected, res.Messages.Lost, humanize.Ms(res.Latency.P99Ms), cross)
		} else {
			logf("%s failed: %s", label, run.Error)
		}
		if ctx.Err() != nil {
			rep.Interrupted = true
		}
	}
	rep.Runs = rows
	rep.Machine.LoadAfter = procstat.LoadAvg()
	rep.ElapsedS = time.Since(start).Seconds()
	return rep, errors.Join(errs...)
}

// estimateCluster is about how long a row takes when all goes well: the
// connections at about 2,500 a second (what this machine's two cores
// manage), sending, and 15 s for the rest.
func estimateCluster(cfg ClusterConfig, row ClusterRow) time.Duration {
	connect := time.Duration(float64(row.Clients) / 2500 * float64(time.Second))
	return connect + row.Duration + 15*time.Second
}

// runClusterRow starts the row's Redis and nodes, runs the load and stops
// them.
func runClusterRow(ctx context.Context, cfg ClusterConfig, run *ClusterRun, logw io.Writer) (err error) {
	row := run.Row
	var stops []func() error
	defer func() {
		for _, stop := range slices.Backward(stops) {
			if serr := stop(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	var redisAddr string
	var redisPID int
	var redisProc *childproc.Process
	if row.Nodes > 1 {
		p, err := childproc.Start(ctx, cfg.Redis)
		if err != nil {
			return err
		}
		stops = append(stops, p.Stop)
		redisProc, redisAddr, redisPID = p, p.Addr, p.Pid()
		if err := redisDo(ctx, redisAddr, [][]any{
			{"CONFIG", "SET", "slowlog-log-slower-than", "10000"},
			{"CONFIG", "SET", "slowlog-max-len", "1024"},
			{"SLOWLOG", "RESET"},
			{"CONFIG", "RESETSTAT"},
		}, nil); err != nil {
			return err
		}
	}
	perNode := (row.Clients + row.Nodes - 1) / row.Nodes
	var nodes []*childproc.Process
	for n := range row.Nodes {
		spec := cfg.Server
		spec.Args = append(slices.Clone(spec.Args), "-max-conns", strconv.Itoa(perNode+500))
		if redisAddr != "" {
			spec.Args = append(spec.Args, "-redis", "redis://"+redisAddr, "-node", fmt.Sprintf("node%d", n+1))
		}
		p, err := childproc.Start(ctx, spec)
		if err != nil {
			return err
		}
		nodes = append(nodes, p)
		stops = append(stops, p.Stop)
	}
	defer func() {
		// Read after the nodes stopped: their last words are in.
		for k, p := range nodes {
			p.Stop()
			for line := range strings.Lines(p.Output()) {
				if (strings.Contains(line, "Redis is unreachable") || strings.Contains(line, "Redis answers again")) && len(run.RedisLog) < 40 {
					run.RedisLog = append(run.RedisLog, fmt.Sprintf("node%d: %s", k+1, strings.TrimSpace(line)))
				}
			}
			began, longest := outages(p.Output())
			run.Outages += len(began)
			run.LongestOutageS = max(run.LongestOutageS, longest)
			for _, t := range began {
				if !run.SendStarted.IsZero() && t.After(run.SendStarted) {
					run.OutagesSending++
				}
			}
		}
	}()

	lc := loadtest.DefaultConfig()
	lc.Client = loadtest.ClientRaw
	for _, p := range nodes {
		lc.URLs = append(lc.URLs, p.URL)
		lc.ServerPIDs = append(lc.ServerPIDs, p.Pid())
	}
	lc.URL = lc.URLs[0]
	if len(lc.URLs) == 1 {
		lc.URLs, lc.ServerPID, lc.ServerPIDs = nil, lc.ServerPIDs[0], nil
	}
	lc.RedisPID = redisPID
	lc.Clients, lc.Senders, lc.Rooms, lc.Rate = row.Clients, 1, 1, row.Rate
	lc.Duration, lc.Size, lc.Ramp = row.Duration, cfg.Size, cfg.Ramp
	lc.ConnectTimeout, lc.Retries, lc.Drain = cfg.ConnectTimeout, cfg.Retries, cfg.Drain
	lc.SourceAddrs = cfg.SourceAddrs
	idle := func(ctx context.Context) {
		if redisPID == 0 {
			return
		}
		if c, err := cpuOver(ctx, redisPID, cfg.IdleWindow); err == nil {
			run.RedisIdleCores = c
		}
	}

	var res loadtest.Result
	if row.Parts <= 1 {
		lc.Ready = func(ctx context.Context, _ int) error {
			idle(ctx)
			run.SendStarted = time.Now()
			return nil
		}
		if logw != io.Discard {
			prefix := fmt.Sprintf("  %-22s ", row.Name)
			lc.Progress = func(pr loadtest.Progress) { fmt.Fprintln(logw, prefix+pr.String()) }
		}
		res, err = loadtest.Run(ctx, lc)
	} else {
		res, err = runParts(ctx, cfg, lc, row.Parts, func(ctx context.Context) {
			idle(ctx)
			run.SendStarted = time.Now()
		}, logw)
	}
	if err != nil && res.Connections.Target == 0 {
		return err
	}
	run.Result = &res
	if redisProc != nil {
		run.SlowLog, run.Commands = redisFigures(ctx, redisAddr)
	}
	return err
}

// cpuOver measures the CPU process pid uses over d, in cores.
func cpuOver(ctx context.Context, pid int, d time.Duration) (float64, error) {
	tick := procstat.ClockTick()
	a, err := procstat.ReadProcess("/proc", pid, tick)
	if err != nil {
		return 0, err
	}
	began := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-t.C:
	}
	b, err := procstat.ReadProcess("/proc", pid, tick)
	if err != nil {
		return 0, err
	}
	return (b.CPU - a.CPU).Seconds() / time.Since(began).Seconds(), nil
}

// part is one generator process of a run in parts.
type part struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ready  chan error // the "ready N" line, or why it did not come
	out    *childproc.Tail
	json   string
	exited chan struct{}
	err    error // of Wait, set before exited is closed
}

// runParts runs lc in parts processes of the loadtest binary, each with
// an equal share of the clients; the first also measures the servers and
// Redis. Once all are ready, idle runs, and then all start sending.
func runParts(ctx context.Context, cfg ClusterConfig, lc loadtest.Config, parts int, idle func(context.Context), logw io.Writer) (loadtest.Result, error) {
	dir, err := os.MkdirTemp("", "ringchat-parts-")
	if err != nil {
		return loadtest.Result{}, err
	}
	defer os.RemoveAll(dir)
	runID := fmt.Sprintf("c%07x", time.Now().UnixNano()&0xfffffff)
	share := (lc.Clients + parts - 1) / parts
	var ps []*part
	defer func() {
		for _, p := range ps {
			select {
			case <-p.exited:
			default:
				childproc.KillGroup(p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.exited
			}
		}
	}()
	for k := range parts {
		first := k * share
		n := min(share, lc.Clients-first)
		jsonFile := filepath.Join(dir, fmt.Sprintf("part%d.json", k))
		args := []string{
			"-url", strings.Join(lc.URLs, ","), "-client", string(lc.Client),
			"-clients", strconv.Itoa(n), "-first-client", strconv.Itoa(first), "-all-clients", strconv.Itoa(lc.Clients),
			"-run-id", runID, "-ready-stdin", "-progress=false",
			"-senders", strconv.Itoa(lc.Senders), "-rate", fmt.Sprint(lc.Rate), "-duration", lc.Duration.String(),
			"-size", strconv.Itoa(lc.Size), "-ramp", fmt.Sprint(lc.Ramp), "-connect-timeout", lc.ConnectTimeout.String(),
			"-retries", strconv.Itoa(lc.Retries), "-drain", lc.Drain.String(),
			"-source-addr", strings.Join(lc.SourceAddrs, ","),
			"-json", jsonFile,
		}
		if k == 0 {
			pids := make([]string, len(lc.ServerPIDs))
			for i, pid := range lc.ServerPIDs {
				pids[i] = strconv.Itoa(pid)
			}
			args = append(args, "-server-pid", strings.Join(pids, ","))
			if lc.RedisPID != 0 {
				args = append(args, "-redis-pid", strconv.Itoa(lc.RedisPID))
			}
		}
		p, err := startPart(cfg.Loadtest, args)
		if err != nil {
			return loadtest.Result{}, err
		}
		p.json = jsonFile
		ps = append(ps, p)
	}
	fmt.Fprintf(logw, "  %d generator processes of %s clients each connecting\n", parts, humanize.Thousands(float64(share)))
	// Connecting is bounded by the parts' own budget; this bounds the
	// wait should one hang.
	readyWait := time.Duration(float64(share)/lc.Ramp*float64(time.Second)) + time.Duration(lc.Retries+1)*lc.ConnectTimeout + 30*time.Second
	timer := time.NewTimer(readyWait)
	defer timer.Stop()
	began := time.Now()
	for k, p := range ps {
		select {
		case err := <-p.ready:
			if err != nil {
				return loadtest.Result{}, fmt.Errorf("generator part %d: %w: %s", k, err, childproc.LastLines(p.out.String(), 3))
			}
		case <-timer.C:
			return loadtest.Result{}, fmt.Errorf("generator part %d not ready after %v", k, readyWait)
		case <-ctx.Done():
			return loadtest.Result{}, ctx.Err()
		}
	}
	fmt.Fprintf(logw, "  every part connected after %.0fs; measuring Redis idle, then sending\n", time.Since(began).Seconds())
	idle(ctx)
	for _, p := range ps {
		io.WriteString(p.stdin, "go\n")
		p.stdin.Close()
	}
	finish := time.NewTimer(lc.Duration + lc.Drain + 30*time.Second)
	defer finish.Stop()
	var results []loadtest.Result
	var errs []error
	for k, p := range ps {
		select {
		case <-p.exited:
		case <-finish.C:
			return loadtest.Result{}, fmt.Errorf("generator part %d did not finish", k)
		case <-ctx.Done():
			return loadtest.Result{}, ctx.Err()
		}
		b, err := os.ReadFile(p.json)
		if err != nil {
			return loadtest.Result{}, fmt.Errorf("generator part %d (%v): %w: %s", k, p.err, err, childproc.LastLines(p.out.String(), 3))
		}
		var r loadtest.Result
		if err := json.Unmarshal(b, &r); err != nil {
			return loadtest.Result{}, fmt.Errorf("generator part %d: %w", k, err)
		}
		if p.err != nil {
			errs = append(errs, fmt.Errorf("generator part %d: %v: %s", k, p.err, childproc.LastLines(p.out.String(), 3)))
		}
		results = append(results, r)
	}
	res, err := loadtest.Combine(results)
	if err != nil {
		return loadtest.Result{}, err
	}
	return res, errors.Join(errs...)
}

// startPart starts one generator process: its stdout's first line is
// "ready N", and a line on its stdin starts its sending.
func startPart(bin string, args []string) (*part, error) {
	cmd := exec.Command(bin, args...)
	p := &part{cmd: cmd, ready: make(chan error, 1), out: new(childproc.Tail), exited: make(chan struct{})}
	cmd.Stderr = p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", bin, err)
	}
	var read sync.WaitGroup
	read.Go(func() {
		br := bufio.NewReader(stdout)
		line, err := br.ReadString('\n')
		switch {
		case err != nil:
			p.ready <- fmt.Errorf("no ready line: %w", err)
		case !strings.HasPrefix(line, "ready "):
			p.ready <- fmt.Errorf("first line %q, want ready N", line)
		default:
			p.ready <- nil
		}
		io.Copy(p.out, br) // the text table, for errors
	})
	go func() {
		read.Wait()
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// outageRE matches the chat server's log line when Redis answers again;
// timeRE, the time of a log line (slog's text format).
var (
	outageRE = regexp.MustCompile(`Redis answers again.*after=([0-9.]+[a-zµ]+)`)
	timeRE   = regexp.MustCompile(`^time=(\S+)`)
)

// outages returns when a node's log says it found Redis unreachable (the
// zero time for a line without a time), and the longest it says an outage
// lasted.
func outages(log string) (began []time.Time, longestS float64) {
	for line := range strings.Lines(log) {
		switch {
		case strings.Contains(line, "Redis is unreachable"):
			var t time.Time
			if m := timeRE.FindStringSubmatch(line); m != nil {
				t, _ = time.Parse(time.RFC3339Nano, m[1])
			}
			began = append(began, t)
		case strings.Contains(line, "Redis answers again"):
			if m := outageRE.FindStringSubmatch(line); m != nil {
				if d, err := time.ParseDuration(m[1]); err == nil {
					longestS = max(longestS, d.Seconds())
				}
			}
		}
	}
	return began, longestS
}

// redisDo sends each command to the Redis at addr, calling each (when not
// nil) with the replies.
func redisDo(ctx context.Context, addr string, cmds [][]any, each func(i int, v resp.Value)) error {
	c, err := resp.NewClient(resp.Options{Addr: addr})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for i, cmd := range cmds {
		v, err := c.Do(ctx, cmd...)
		if err == nil {
			err = v.Err()
		}
		if err != nil {
			return fmt.Errorf("bench: redis %v: %w", cmd[0], err)
		}
		if each != nil {
			each(i, v)
		}
	}
	return nil
}

// redisFigures reads Redis's slow log and command statistics.
func redisFigures(ctx context.Context, addr string) ([]SlowCommand, []CommandStat) {
	var slow []SlowCommand
	var stats []CommandStat
	redisDo(ctx, addr, [][]any{{"SLOWLOG", "GET", "1024"}, {"INFO", "commandstats"}}, func(i int, v resp.Value) {
		if i == 0 {
			for _, e := range v.Elems {
				if len(e.Elems) < 4 {
					continue
				}
				slow = append(slow, SlowCommand{Micros: e.Elems[2].Int, Command: slowCommand(e.Elems[3].Elems)})
			}
			return
		}
		stats = parseCommandStats(v.Str)
	})
	sort.Slice(slow, func(i, j int) bool { return slow[i].Micros > slow[j].Micros })
	return slow, stats
}

// parseCommandStats reads INFO commandstats: lines such as
// cmdstat_evalsha:calls=12,usec=3456,usec_per_call=288.00,...
func parseCommandStats(info string) []CommandStat {
	var stats []CommandStat
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isStat := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isStat {
			continue
		}
		st := CommandStat{Name: name}
		for kv := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				st.Calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				st.Usec, _ = strconv.ParseInt(v, 10, 64)
			case "usec_per_call":
				st.UsecPerCall, _ = strconv.ParseFloat(v, 64)
			}
		}
		stats = append(stats, st)
	}
	sort.Slice(stats, func(i, j int) bool { return stats[i].Usec > stats[j].Usec })
	return stats
}

// slowCommand names a slow-log entry's command: its name, for a script
// its first key (which tells the scripts apart), and how many arguments
// it had.
func slowCommand(args []resp.Value) string {
	if len(args) == 0 {
		return "?"
	}
	s := args[0].Str
	if name := strings.ToUpper(s); (name == "EVALSHA" || name == "EVAL") && len(args) > 3 {
		s += " " + args[3].Str
	}
	n := len(args)
	if last := args[len(args)-1].Str; strings.HasPrefix(last, "... (") {
		// Redis keeps 32 arguments of an entry and counts the others.
		var more int
		fmt.Sscanf(last, "... (%d more arguments)", &more)
		n += more - 1
	}
	return fmt.Sprintf("%s (%d arguments)", s, n)
}
