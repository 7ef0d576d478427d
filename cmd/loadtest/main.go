// Command loadtest measures a ringchat server: it opens many WebSocket
// connections with golang.org/x/net/websocket (or, with -client raw, its
// own minimal client), sends chat messages at a set rate, checks every
// delivery and reports loss, duplicates, order, fan-out latency and the
// resources used on both sides. See package ringchat/loadtest for what each
// figure means.
//
// Usage:
//
//	loadtest [flags]                    one run against -url
//	loadtest -capacity 250ms [flags]    the most clients within a p99 target
//	loadtest -floor [flags]             one run against a minimal raw server
//	loadtest -hub [flags]               one run against a gorilla-style hub server
//	loadtest -floor-serve ADDR          only serve the floor server on ADDR
//	loadtest -hub-serve ADDR            only serve the hub server on ADDR
//
// Run loadtest -h for the flags. The exit status is 0 when the run
// completed (whatever it found; see the warnings and the -json output), 1
// when it could not run, and 2 for invalid flags.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ringchat/loadtest"
	"ringchat/loadtest/procstat"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the flags that are not fields of loadtest.Config.
type options struct {
	jsonFile   string
	progress   bool
	capacity   time.Duration
	steps      string
	floor      bool
	floorServe string
	hub        bool
	hubServe   string
	cpuProfile string
	readyStdin bool
	combine    bool
	files      []string // -combine's arguments
}

// run is the whole command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWithStdin(ctx, args, os.Stdin, stdout, stderr)
}

// runWithStdin is run with stdin given, for -ready-stdin.
func runWithStdin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, opt, code := parseFlags(args, stdout, stderr)
	if code >= 0 {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, err)
		if errors.Is(err, loadtest.ErrInvalidConfig) {
			return 2
		}
		return 1
	}
	switch {
	case opt.floorServe != "":
		return serveComparison(ctx, "floor-serve", opt.floorServe, stdout, stderr)
	case opt.hubServe != "":
		return serveComparison(ctx, "hub-serve", opt.hubServe, stdout, stderr)
	case opt.floor, opt.hub:
		flag := "floor-serve"
		if opt.hub {
			flag = "hub-serve"
		}
		url, pid, stop, err := startComparisonProcess(flag)
		if err != nil {
			return fail(err)
		}
		defer stop()
		cfg.URL, cfg.ServerPID, cfg.ServerMetrics = url, pid, ""
	}
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	if opt.combine {
		return combineFiles(opt, stdout, stderr)
	}
	if opt.readyStdin {
		cfg.Ready = readyHandshake(stdin, stdout)
	}
	if opt.progress {
		cfg.Progress = loadtest.NewProgressPrinter(stderr, isTerminal(stderr))
	}
	if opt.cpuProfile != "" {
		f, err := os.Create(opt.cpuProfile)
		if err != nil {
			return fail(fmt.Errorf("loadtest: -cpuprofile: %w", err))
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(fmt.Errorf("loadtest: -cpuprofile: %w", err))
		}
		defer pprof.StopCPUProfile()
	}

	if opt.capacity > 0 {
		steps, err := parseSteps(opt.steps, cfg.Clients)
		if err != nil {
			return fail(err)
		}
		cr, err := loadtest.Capacity(ctx, cfg, opt.capacity, steps, func(st loadtest.CapacityStep) {
			fmt.Fprintln(stderr, st)
		})
		if errors.Is(err, loadtest.ErrInvalidConfig) {
			return fail(err)
		}
		code := output(stdout, stderr, opt.jsonFile, cr.WriteText, cr.WriteJSON)
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = 1
		}
		return code
	}

	res, err := loadtest.Run(ctx, cfg)
	if errors.Is(err, loadtest.ErrInvalidConfig) {
		return fail(err)
	}
	code = output(stdout, stderr, opt.jsonFile, res.WriteText, res.WriteJSON)
	if err != nil {
		fmt.Fprintln(stderr, err)
		code = 1
	}
	if res.Generator.Bottleneck {
		fmt.Fprintf(stderr, "\n*** the load generator was the bottleneck: see the warning above ***\n")
	}
	return code
}

func parseFlags(args []string, stdout, stderr io.Writer) (loadtest.Config, options, int) {
	cfg := loadtest.DefaultConfig()
	opt := options{progress: true}
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	urlList := fs.String("url", cfg.URL, "chat `endpoint` (ws:// or wss://), or several, comma-separated, the nodes of a cluster: the clients are spread over them round-robin, and latency is also reported cross-node (sender on the first node, receivers on others); name and room are added as query parameters")
	sources := fs.String("source-addr", "", "comma-separated local `addresses` the clients connect from, in turn (127.0.0.2,127.0.0.3: more loopback ports than one source address has); default the system's choice")
	pids := fs.String("server-pid", "", "`pid` of a local server, or comma-separated pids of the nodes in -url's order: report their CPU and memory from /proc (default none)")
	fs.IntVar(&cfg.RedisPID, "redis-pid", 0, "`pid` of the cluster's redis-server: report its CPU per message from /proc (0: none)")
	fs.IntVar(&cfg.FirstClient, "first-client", 0, "with -all-clients: this process's first client of all (the run is split over several processes)")
	fs.IntVar(&cfg.AllClients, "all-clients", 0, "the clients of the whole run when this process holds only -clients of them from -first-client (0: -clients; see -combine)")
	fs.StringVar(&cfg.RunID, "run-id", "", "the run's `id` in every message, the same for every part (default random)")
	fs.BoolVar(&opt.readyStdin, "ready-stdin", false, "once connected, print \"ready N\" on stdout and wait for a line on stdin before sending, so that the parts of a run send together")
	fs.BoolVar(&opt.combine, "combine", false, "only combine the -json results of the parts of one run, named as arguments, into one (printed as -json says)")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a -url or -server-metrics host that is not a loopback address")
	fs.StringVar((*string)(&cfg.Client), "client", string(cfg.Client), "the clients' WebSocket `implementation`: xnet (golang.org/x/net/websocket, independent of the server's code) or raw (the generator's own minimal client: far less CPU per delivery, so it shows the server's tail)")
	fs.BoolVar(&cfg.Compression, "compression", false, "raw clients offer permessage-deflate (RFC 7692) and read the server's compressed events (needs -client raw)")
	fs.BoolVar(&cfg.Prose, "prose", false, "pad message texts with English words instead of x, so that they compress as chat does")
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "number of connections")
	fs.IntVar(&cfg.Senders, "senders", cfg.Senders, "how many of the clients send (0: only connect and hold); by default at most -clients")
	fs.IntVar(&cfg.Rooms, "rooms", cfg.Rooms, "spread the clients and senders round-robin over this many rooms")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "messages per second, all senders together")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to send")
	fs.IntVar(&cfg.Size, "size", cfg.Size, fmt.Sprintf("message text length in bytes, %d to %d", loadtest.MinSize, loadtest.MaxSize))
	fs.Float64Var(&cfg.Ramp, "ramp", cfg.Ramp, "new connections per second while connecting")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", cfg.ConnectTimeout, "limit for one connection attempt, dial to welcome")
	fs.IntVar(&cfg.Retries, "retries", cfg.Retries, "retries of a failed connection attempt")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "after sending, wait at most this long for deliveries in flight")
	fs.StringVar(&cfg.ServerMetrics, "server-metrics", "", "`URL` of the server's /metrics, read for its CPU and memory when -server-pid is 0 (default none)")
	fs.StringVar(&opt.jsonFile, "json", "", "also write the results as JSON to this `file`; \"-\": to stdout instead of the table (default none)")
	fs.BoolVar(&opt.progress, "progress", opt.progress, "print a progress line on stderr every second")
	fs.DurationVar(&opt.capacity, "capacity", 0, "capacity search: the most clients whose fan-out `p99` stays within this (0: off)")
	fs.StringVar(&opt.steps, "steps", "", "capacity search: comma-separated client counts (default 1-2-5 series from -clients to the file limit)")
	fs.BoolVar(&opt.floor, "floor", false, "measure the floor: run against a minimal raw server started as a child process, instead of -url")
	fs.StringVar(&opt.floorServe, "floor-serve", "", "only run the minimal raw server on this loopback `address` until interrupted, printing its URL (default off)")
	fs.StringVar(&opt.cpuProfile, "cpuprofile", "", "write the generator's own CPU profile to this `file` (go tool pprof), to see what the clients cost (default none)")
	fs.BoolVar(&opt.hub, "hub", false, "measure the conventional design: run against a hub server like gorilla/websocket's chat example, started as a child process, instead of -url")
	fs.StringVar(&opt.hubServe, "hub-serve", "", "only run the hub server on this loopback `address` until interrupted, printing its URL (default off)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: loadtest [flags]\n\n"+
			"Load-tests a ringchat server on this machine and checks every delivery.\n"+
			"It ends by itself after connecting, -duration and -drain; Ctrl-C prints the results so far.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.SetOutput(io.Discard) // errors are reported below, in one line
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return cfg, opt, 0
		}
		fmt.Fprintf(stderr, "loadtest: %v (see -h)\n", err)
		return cfg, opt, 2
	}
	if opt.combine {
		if fs.NArg() == 0 {
			fmt.Fprintln(stderr, "loadtest: -combine needs the parts' JSON files as arguments (see -h)")
			return cfg, opt, 2
		}
		opt.files = fs.Args()
		return cfg, opt, -1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadtest: unexpected argument %q (see -h)\n", fs.Arg(0))
		return cfg, opt, 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if l := loadtest.ParseList(*urlList); len(l) == 1 {
		cfg.URL = l[0]
	} else if len(l) > 1 {
		cfg.URL, cfg.URLs = l[0], l
	}
	cfg.SourceAddrs = loadtest.ParseList(*sources)
	pidList, err := parsePIDs(*pids)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v (see -h)\n", err)
		return cfg, opt, 2
	}
	if len(pidList) == 1 {
		cfg.ServerPID = pidList[0]
	} else {
		cfg.ServerPIDs = pidList
	}
	if !set["senders"] {
		cfg.Senders = min(cfg.Senders, cfg.Clients) // the default suits -clients 10 and up
	}
	var exclusive []string
	for _, name := range []string{"url", "floor", "hub", "floor-serve", "hub-serve"} {
		if set[name] {
			exclusive = append(exclusive, "-"+name)
		}
	}
	if len(exclusive) > 1 {
		fmt.Fprintf(stderr, "loadtest: %s exclude each other (see -h)\n", strings.Join(exclusive, " and "))
		return cfg, opt, 2
	}
	if opt.capacity < 0 {
		fmt.Fprintln(stderr, "loadtest: -capacity must not be negative (see -h)")
		return cfg, opt, 2
	}
	return cfg, opt, -1
}

// parseSteps reads -steps, or makes the default series.
func parseSteps(s string, start int) ([]int, error) {
	if s == "" {
		limit, err := procstat.RaiseFileLimit()
		if err != nil {
			return nil, err
		}
		return loadtest.CapacitySteps(start, int(min(limit-64, loadtest.MaxClients))), nil
	}
	var steps []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("loadtest: %w: -steps %q: %v", loadtest.ErrInvalidConfig, s, err)
		}
		steps = append(steps, n)
	}
	return steps, nil
}

// output writes the results: the table on stdout, and JSON to the -json
// file, or JSON alone on stdout with -json -. It returns the exit status.
func output(stdout, stderr io.Writer, jsonFile string, text, json func(io.Writer) error) int {
	if jsonFile == "-" {
		if err := json(stdout); err != nil {
			fmt.Fprintf(stderr, "loadtest: writing results: %v\n", err)
			return 1
		}
		return 0
	}
	text(stdout)
	if jsonFile == "" {
		return 0
	}
	f, err := os.Create(jsonFile)
	if err == nil {
		err = json(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: writing results: %v\n", err)
		return 1
	}
	return 0
}

// isTerminal reports whether w is a terminal, where progress lines can
// overwrite each other.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// parsePIDs reads -server-pid: one pid or a comma-separated list.
func parsePIDs(s string) ([]int, error) {
	var pids []int
	for _, f := range loadtest.ParseList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-server-pid %q: want positive process ids, comma-separated", s)
		}
		pids = append(pids, n)
	}
	return pids, nil
}

// readyHandshake is -ready-stdin's Config.Ready: it prints "ready N" (the
// clients connected) on stdout and waits for a line on stdin.
func readyHandshake(stdin io.Reader, stdout io.Writer) func(context.Context, int) error {
	return func(ctx context.Context, connected int) error {
		if _, err := fmt.Fprintf(stdout, "ready %d\n", connected); err != nil {
			return err
		}
		line := make(chan error, 1)
		go func() {
			_, err := bufio.NewReader(stdin).ReadString('\n')
			line <- err
		}()
		select {
		case err := <-line:
			if err != nil {
				return fmt.Errorf("waiting for the go-ahead on stdin: %w", err)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// combineFiles is -combine: the parts' JSON results, named as arguments,
// combined into one.
func combineFiles(opt options, stdout, stderr io.Writer) int {
	var parts []loadtest.Result
	for _, name := range opt.files {
		b, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(stderr, "loadtest: -combine: %v\n", err)
			return 1
		}
		var res loadtest.Result
		if err := json.Unmarshal(b, &res); err != nil {
			fmt.Fprintf(stderr, "loadtest: -combine: %s: %v\n", name, err)
			return 1
		}
		parts = append(parts, res)
	}
	res, err := loadtest.Combine(parts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return output(stdout, stderr, opt.jsonFile, res.WriteText, res.WriteJSON)
}
