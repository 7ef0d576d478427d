// Command server runs the ringchat chat server.
//
//	go run ./cmd/server [-addr 127.0.0.1:8080] [flags]
//
// Run it with -h for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"ringchat/chat"
	"ringchat/chat/store"
	"ringchat/chat/store/file"
	"ringchat/chat/store/memory"
	"ringchat/chat/store/redis"
	"ringchat/chat/web"
	"ringchat/internal/resp"
)

func main() {
	// Most of the server's heap is small structures that live as long as a
	// connection. Half the default GC target keeps 10,000 idle connections
	// at about 5.4 KiB of RSS each instead of 6.0, for about 1% more CPU
	// per delivery (alternating runs, loadtest, 10,000 clients). GOGC in
	// the environment still decides when it is set.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	os.Exit(run(os.Args[1:], os.Stderr))
}

// config is what the flags set.
type config struct {
	addr           string
	tlsCert        string
	tlsKey         string
	logLevel       slog.Level
	allowOrigins   string
	shutdownWithin time.Duration
	opts           chat.Options
	slow           string
	rate           float64
	storeKind      string // file or memory
	redisURL       string // -redis: the store is Redis, shared by a cluster
	redisOpts      resp.Options
	dataDir        string
	fsync          file.SyncPolicy
	retention      store.Retention
	compression    string // -compression: on or off
	zThreshold     int    // -compression-threshold
}

// parseFlags reads the command line. Errors are one line, for stderr.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &cfg.opts
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "`host:port` to listen on")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM): serve https:// and wss://")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "TLS private key `file` (PEM), with -tls-cert")
	fs.StringVar(&cfg.storeKind, "store", "file", "where rooms' history lives: `file` (a durable log in -data) or memory (lost when the server stops)")
	fs.StringVar(&cfg.dataDir, "data", "data", "the `directory` of the history log (-store file); created if missing")
	fs.StringVar(&cfg.redisURL, "redis", "", "redis://[user:password@]host:port[/db] (rediss:// for TLS): keep history and presence in Redis, shared by every server pointed at it (a cluster)")
	fs.StringVar(&o.Node, "node", "", "this server's `name` in a cluster, in logs and presence (default: host name and port)")
	fsync := fs.String("fsync", "everysec", "when history is synced to disk: `always` (before anyone sees an event), everysec (a power loss loses about a second at most), or no (the OS decides)")
	fs.IntVar(&cfg.retention.Events, "history", store.DefaultHistory, "the newest `events` of each room kept for replay")
	fs.DurationVar(&cfg.retention.Age, "history-age", store.DefaultHistoryAge, "events older than this are dropped from history")
	fs.IntVar(&o.RingCapacity, "ring", chat.DefaultRingCapacity, "newest events of each room kept in memory for the fan-out (a power of two); older ones are read from the history")
	fs.IntVar(&o.MaxMessageBytes, "max-message", 4096, "longest chat message in `bytes`; longer ones get an error event")
	fs.Int64Var(&o.MaxFrameBytes, "max-frame", 0, "longest WebSocket message in `bytes` before close 1009 (0: max(64 KiB, 2×max-message))")
	fs.IntVar(&o.AnnounceLimit, "announce-limit", 100, "rooms with more `members` have silent joins and leaves")
	fs.StringVar(&cfg.slow, "slow", "gap", "what a client that falls behind the ring gets: `gap` (a gap event, then the oldest retained) or disconnect (close 1008)")
	fs.Float64Var(&cfg.rate, "rate", 10, "messages per second a connection may send (0: no limit)")
	fs.IntVar(&o.MessageBurst, "burst", 20, "messages a connection may send in a burst")
	fs.IntVar(&o.MaxConnections, "max-conns", 10000, "simultaneous connections; more get 503")
	fs.IntVar(&o.MaxConnsPerIP, "max-conns-per-ip", 0, "simultaneous connections from one IP address; more get 429 (0: no limit)")
	fs.DurationVar(&o.PingInterval, "ping-interval", 30*time.Second, "how often an idle connection is pinged")
	fs.DurationVar(&o.PongTimeout, "pong-timeout", 10*time.Second, "how long a client may stay silent after a ping was due")
	fs.DurationVar(&o.HandshakeTimeout, "handshake-timeout", 10*time.Second, "a client must send its request within this (a slowloris is cut off)")
	fs.DurationVar(&o.WriteTimeout, "write-timeout", chat.DefaultWriteTimeout, "a client that accepts no bytes for this long is dropped")
	fs.IntVar(&o.SendBufferBytes, "sndbuf", chat.DefaultSendBufferBytes, "kernel send buffer per connection in `bytes` (SO_SNDBUF), bounding what a stalled client holds in the kernel (0: the OS default, autotuned to megabytes)")
	fs.StringVar(&cfg.compression, "compression", "on", "permessage-deflate (RFC 7692) for clients that offer it, as browsers do: `on` (each room event compressed once for all of them) or off")
	fs.IntVar(&cfg.zThreshold, "compression-threshold", chat.DefaultCompressionThreshold, "shortest room event in `bytes` that is compressed; shorter ones go plain (0: every one)")
	fs.StringVar(&cfg.allowOrigins, "allow-origin", "", "comma-separated `origins` besides the server's own that browsers may connect from (e.g. https://chat.example,*.example.org)")
	fs.BoolVar(&o.AllowAnyOrigin, "insecure-any-origin", false, "let pages from any site connect (development only: allows cross-site WebSocket hijacking)")
	fs.DurationVar(&cfg.shutdownWithin, "shutdown-timeout", 5*time.Second, "on SIGINT or SIGTERM, how long clients get to answer the 1001 close")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintf(stderr, "Usage: server [flags]\n\nRuns the ringchat chat server: the chat at ws://ADDR/ws, the web page at http://ADDR/.\n\n")
			fs.PrintDefaults()
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		return nil, fmt.Errorf("invalid -addr %q: want host:port", cfg.addr)
	}
	switch cfg.storeKind {
	case "file", "memory":
	default:
		return nil, fmt.Errorf("invalid -store %q: want file or memory", cfg.storeKind)
	}
	var err error
	if cfg.fsync, err = file.ParseSyncPolicy(*fsync); err != nil {
		return nil, fmt.Errorf("invalid -fsync %q: want always, everysec or no", *fsync)
	}
	if cfg.retention.Events <= 0 {
		return nil, fmt.Errorf("invalid -history %d: must be positive", cfg.retention.Events)
	}
	if cfg.retention.Age <= 0 {
		return nil, fmt.Errorf("invalid -history-age %v: must be positive", cfg.retention.Age)
	}
	if cfg.redisURL != "" {
		explicit := false
		fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "store" })
		if explicit {
			return nil, errors.New("-redis and -store go apart: with -redis the store is Redis")
		}
		if cfg.redisOpts, err = resp.ParseURL(cfg.redisURL); err != nil {
			return nil, fmt.Errorf("invalid -redis: %v", err)
		}
		cfg.storeKind = "redis"
	}
	if o.Node == "" {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(cfg.addr)
		o.Node = host + ":" + port
	}
	if cfg.storeKind == "file" && cfg.dataDir == "" {
		return nil, errors.New("invalid -data \"\": name a directory")
	}
	switch cfg.slow {
	case "gap":
		o.SlowPolicy = chat.SlowGap
	case "disconnect":
		o.SlowPolicy = chat.SlowDisconnect
	default:
		return nil, fmt.Errorf("invalid -slow %q: want gap or disconnect", cfg.slow)
	}
	switch {
	case cfg.rate < 0:
		return nil, fmt.Errorf("invalid -rate %g: must not be negative", cfg.rate)
	case cfg.rate == 0:
		o.MessageRate = -1
	default:
		o.MessageRate = cfg.rate
	}
	switch {
	case o.SendBufferBytes < 0:
		return nil, fmt.Errorf("invalid -sndbuf %d: must not be negative", o.SendBufferBytes)
	case o.SendBufferBytes == 0:
		o.SendBufferBytes = -1 // the OS default
	}
	switch cfg.compression {
	case "on":
		o.Compression = true
	case "off":
	default:
		return nil, fmt.Errorf("invalid -compression %q: want on or off", cfg.compression)
	}
	switch {
	case cfg.zThreshold < 0:
		return nil, fmt.Errorf("invalid -compression-threshold %d: must not be negative", cfg.zThreshold)
	case cfg.zThreshold == 0:
		o.CompressionThreshold = -1 // every event
	default:
		o.CompressionThreshold = cfg.zThreshold
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, errors.New("-tls-cert and -tls-key go together")
	}
	if cfg.allowOrigins != "" {
		for _, p := range strings.Split(cfg.allowOrigins, ",") {
			if p = strings.TrimSpace(p); p != "" {
				o.AllowedOrigins = append(o.AllowedOrigins, p)
			}
		}
	}
	for name, v := range map[string]int{"-ring": o.RingCapacity, "-max-message": o.MaxMessageBytes, "-announce-limit": o.AnnounceLimit, "-burst": o.MessageBurst, "-max-conns": o.MaxConnections} {
		if v <= 0 {
			return nil, fmt.Errorf("invalid %s %d: must be positive", name, v)
		}
	}
	for name, v := range map[string]time.Duration{"-handshake-timeout": o.HandshakeTimeout, "-ping-interval": o.PingInterval, "-pong-timeout": o.PongTimeout, "-write-timeout": o.WriteTimeout, "-shutdown-timeout": cfg.shutdownWithin} {
		if v <= 0 {
			return nil, fmt.Errorf("invalid %s %v: must be positive", name, v)
		}
	}
	return cfg, nil
}

// run is main without the exit: 0 after a clean shutdown, 1 on a failure
// while running, 2 for bad flags.
func run(args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	cfg.opts.Logger = log
	cfg.opts.Web = web.Handler()
	if err := cfg.opts.Check(); err != nil { // before the data directory is touched
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 2
	}
	st, err := openStore(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing the history store", "err", err)
		}
	}()
	cfg.opts.Store = st
	if rs, ok := st.(*redis.Store); ok {
		cfg.opts.Presence = rs.Presence()
	}
	srv, err := chat.NewServer(cfg.opts)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	httpSrv := srv.HTTPServer()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	scheme, wsScheme := "http", "ws"
	go func() {
		if cfg.tlsCert != "" {
			served <- httpSrv.ServeTLS(ln, cfg.tlsCert, cfg.tlsKey)
		} else {
			served <- httpSrv.Serve(ln)
		}
	}()
	if cfg.tlsCert != "" {
		scheme, wsScheme = "https", "wss"
	}
	addr := ln.Addr().String()
	switch cfg.storeKind {
	case "redis":
		log.Info("history and presence kept in Redis, shared with every server there", "redis", cfg.redisOpts.String(), "node", cfg.opts.Node)
	case "file":
		log.Info("history kept on disk", "data", cfg.dataDir, "fsync", cfg.fsync.String(), "history", cfg.retention.Events, "history_age", cfg.retention.Age)
	default:
		log.Info("history kept in memory only: lost when the server stops", "history", cfg.retention.Events, "history_age", cfg.retention.Age)
	}
	log.Info("ringchat listening", "web", scheme+"://"+addr+"/", "chat", wsScheme+"://"+addr+"/ws")

	select {
	case err := <-served:
		log.Error("server stopped", "err", err)
		return 1
	case <-ctx.Done():
	}
	stop()
	log.Info("shutting down: closing every connection with 1001", "within", cfg.shutdownWithin)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownWithin)
	defer cancel()
	go httpSrv.Shutdown(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("some clients did not answer the close in time; dropped them", "err", err)
	}
	httpSrv.Close()
	log.Info("stopped")
	return 0
}

// openStore opens the history store the flags ask for. A damaged data
// directory is an error of one line that names what is wrong.
func openStore(cfg *config, log *slog.Logger) (store.Store, error) {
	switch cfg.storeKind {
	case "memory":
		return memory.New(cfg.retention), nil
	case "redis":
		cfg.redisOpts.ClientName = "ringchat-" + strings.NewReplacer(" ", "_", "\r", "_", "\n", "_").Replace(cfg.opts.Node)
		st, err := redis.New(redis.Options{Redis: cfg.redisOpts, Retention: cfg.retention, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("redis %s: %w", cfg.redisOpts.String(), err)
		}
		return st, nil
	}
	st, err := file.Open(file.Options{Dir: cfg.dataDir, Sync: cfg.fsync, Retention: cfg.retention, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.dataDir, err)
	}
	return st, nil
}
