package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/chat/store"
	"ringchat/chat/store/memory"
	"ringchat/internal/netpoll"
	"ringchat/wsproto"
)

// SlowPolicy says what happens to a client that falls so far behind that the
// ring no longer holds the events it has yet to receive.
type SlowPolicy int

const (
	// SlowGap sends the client a gap event saying how many events it missed,
	// then continues with the oldest event the ring still holds.
	SlowGap SlowPolicy = iota
	// SlowDisconnect closes the connection with 1008 (policy violation).
	SlowDisconnect
)

// Options configure a Server. Zero fields take the defaults named.
type Options struct {
	Store            store.Store   // where rooms' histories live; an in-memory store with the default retention when nil
	Presence         Presence      // who is in each room across nodes sharing the store; nil: this process alone
	Node             string        // this process's name, in logs and claims; the host name when empty
	RingCapacity     int           // newest events of each open room kept in memory for the fan-out, a power of two; 1024
	MaxMessageBytes  int           // longest chat message accepted; 4096
	MaxFrameBytes    int64         // longest WebSocket message read (else 1009); max(64 KiB, 2×MaxMessageBytes)
	AnnounceLimit    int           // rooms above this size have silent joins and leaves; 100
	SlowPolicy       SlowPolicy    // what a lapped reader gets; SlowGap
	MessageRate      float64       // messages per second per connection; 10 (negative: no limit)
	MessageBurst     int           // messages a connection may send at once; 20
	MaxConnections   int           // above it, new connections get 503; 10000
	MaxConnsPerIP    int           // above it, 429; 0 means no limit
	PingInterval     time.Duration // how often an idle connection is pinged; 30 s
	PongTimeout      time.Duration // how long after a due pong a silent client is dropped; 10 s
	WriteTimeout     time.Duration // a socket that accepts nothing this long is dropped; DefaultWriteTimeout
	CloseTimeout     time.Duration // how long a close handshake may take; 2 s
	HandshakeTimeout time.Duration // bound on reading the HTTP request (slowloris) and writing the 101 response; 10 s
	MaxHeaderBytes   int           // request headers larger than this get 431; 16 KiB
	ReadBufferSize   int           // per-connection read buffer; 1024
	SendBufferBytes  int           // the kernel's send buffer per connection (SO_SNDBUF); DefaultSendBufferBytes (negative: the OS default)
	AllowedOrigins   []string      // origins besides the server's own that browsers may connect from
	AllowAnyOrigin   bool          // accept every Origin (development only)
	ReadGoroutines   bool          // read every connection on a goroutine of its own, as where there is no epoll (TLS, not Linux), instead of parking idle ones in the poller
	Web              http.Handler  // serves GET / for browsers; a short text page when nil
	Logger           *slog.Logger  // slog.Default() when nil

	// Compression takes clients' offers of permessage-deflate (RFC 7692):
	// a room event is then compressed once, for every member that took it.
	Compression          bool
	CompressionThreshold int // shortest event compressed; DefaultCompressionThreshold (negative: every one)
}

// DefaultWriteTimeout is how long a socket may accept nothing before it is
// dropped. It is longer than the longest a steady reader can seem idle to
// TCP: a client with a 4 KiB receive buffer that reads one small frame a
// second frees less than a segment a second, and its kernel reopens the
// window — the first sign, to the sender, that it read — only every 13 to
// 20 seconds (receiver-side silly-window avoidance: not before half the
// buffer is free). With 10 seconds, such readers were dropped without a
// close frame (issue 11).
const DefaultWriteTimeout = 30 * time.Second

// DefaultSendBufferBytes is the send buffer (SO_SNDBUF) a connection gets
// unless configured otherwise. Left to itself, Linux autotunes it up to
// megabytes (4 MiB on loopback, from the start): a stalled client then holds
// that much kernel memory, and one that resumes reads megabytes of old
// events before it learns of its gap. With 32 KiB (64 KiB of kernel memory:
// Linux doubles it) fast clients saw the same fan-out latency and CPU per
// delivery as with 16 or 128 KiB (issue 11), and a client 100 ms away can
// still be sent some 400 KB/s.
const DefaultSendBufferBytes = 32 << 10

// Check reports what NewServer would refuse in opts, without making a
// server: a main can check its flags before it opens a store.
func (o Options) Check() error {
	o.setDefaults()
	return o.check()
}

func (o *Options) check() error {
	if _, err := NewRing(o.RingCapacity, 0); err != nil {
		return err
	}
	if o.MaxMessageBytes < 1 || int64(o.MaxMessageBytes) > o.MaxFrameBytes {
		return fmt.Errorf("chat: MaxMessageBytes must be between 1 and MaxFrameBytes (%d)", o.MaxFrameBytes)
	}
	if o.MaxConnections < 1 {
		return errors.New("chat: MaxConnections must be positive")
	}
	return nil
}

func (o *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.RingCapacity, DefaultRingCapacity)
	def(&o.MaxMessageBytes, 4096)
	def(&o.AnnounceLimit, 100)
	def(&o.MessageBurst, 20)
	def(&o.MaxConnections, 10000)
	def(&o.ReadBufferSize, 1024)
	def(&o.SendBufferBytes, DefaultSendBufferBytes)
	def(&o.MaxHeaderBytes, 16<<10)
	if o.MaxFrameBytes == 0 {
		o.MaxFrameBytes = max(64<<10, 2*int64(o.MaxMessageBytes))
	}
	if o.MessageRate == 0 {
		o.MessageRate = 10
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	dur(&o.PingInterval, 30*time.Second)
	dur(&o.PongTimeout, 10*time.Second)
	dur(&o.WriteTimeout, DefaultWriteTimeout)
	dur(&o.CloseTimeout, 2*time.Second)
	dur(&o.HandshakeTimeout, 10*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Store == nil {
		o.Store = memory.New(store.Retention{})
	}
	if o.Node == "" {
		o.Node, _ = os.Hostname()
	}
}

// Server is the chat service: an http.Handler for the chat connection (at
// /ws, and at / for WebSocket upgrades), the web page (at /), /healthz and
// /metrics. Create it with NewServer; stop it with Shutdown.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics Metrics
	mux     *http.ServeMux
	accept  wsproto.AcceptOptions

	active   atomic.Int64  // connections admitted, including those still upgrading
	guestSeq atomic.Uint64 // numbers default names
	connSeq  atomic.Uint64 // numbers connections, for their presence claims

	mu    sync.Mutex
	rooms map[string]*room
	conns map[*conn]struct{}
	perIP map[string]int

	sessions sessions

	shuttingDown bool           // set once by Shutdown, under mu
	wg           sync.WaitGroup // one per admitted connection attempt

	// The poller that fed connections park in (feed.go), started by the
	// first, and the one their sockets, taken out of package net, wait on
	// when a write must wait; nil where there are none.
	pollerOnce    sync.Once
	poller        *netpoll.Poller
	waits         *netpoll.Poller
	pollerStarted atomic.Bool // poller is set

	keepaliveOnce    sync.Once
	keepaliveStarted atomic.Bool
	stopKeepalive    chan struct{}
	keepaliveDone    chan struct{}
}

// NewServer returns a server with opts, after checking them.
func NewServer(opts Options) (*Server, error) {
	opts.setDefaults()
	if err := opts.check(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:  opts,
		log:   opts.Logger,
		rooms: make(map[string]*room),
		conns: make(map[*conn]struct{}),
		perIP: make(map[string]int),

		stopKeepalive: make(chan struct{}),
		keepaliveDone: make(chan struct{}),
	}
	// Sessions outlive their connections by SessionTTL: room for twice
	// the connections, the oldest ended ones forgotten first beyond that.
	s.sessions = sessions{byTok: make(map[string]*session), max: 2 * opts.MaxConnections, kept: &s.metrics.sessions}
	s.accept = wsproto.AcceptOptions{
		Subprotocols: []string{SubprotocolV1},
		ConnOptions: wsproto.ConnOptions{
			MaxMessageSize: opts.MaxFrameBytes,
			ReadBufferSize: opts.ReadBufferSize,
			WriteTimeout:   opts.WriteTimeout,
			CloseTimeout:   opts.CloseTimeout,
		},
		OriginPatterns:          opts.AllowedOrigins,
		InsecureSkipOriginCheck: opts.AllowAnyOrigin,
		HandshakeTimeout:        opts.HandshakeTimeout,
		Compression:             opts.Compression,
	}
	s.accept.CompressionThreshold = opts.CompressionThreshold
	s.accept.WrapNetConn = s.prepareSocket
	s.metrics.deflate.Threshold = opts.CompressionThreshold
	if opts.Presence != nil {
		opts.Presence.Departed(s.departed)
	}
	s.metrics.node = opts.Node
	s.metrics.store, _ = opts.Store.(StoreMetrics)
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/ws", s.serveChat)
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	s.mux.Handle("/metrics", &s.metrics)
	s.mux.HandleFunc("/", s.serveRoot)
	return s, nil
}

// HTTPServer returns an http.Server for s with the limits a server facing
// the internet needs: a client must send its request headers within
// HandshakeTimeout (a slowloris that sends a byte at a time is cut off, and
// holds only its own goroutine meanwhile), headers larger than
// MaxHeaderBytes get 431, idle keep-alive connections are closed after a
// minute. Its error log goes to the server's logger at debug level.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.opts.HandshakeTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Metrics returns the server's counters.
func (s *Server) Metrics() *Metrics { return &s.metrics }

// serveRoot serves the web page, or the chat connection to a WebSocket
// client that dialled the bare address, as the original tutorial's does.
func (s *Server) serveRoot(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		s.serveChat(w, r)
		return
	}
	if s.opts.Web != nil {
		s.opts.Web.ServeHTTP(w, r)
		return
	}
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ringchat: connect a WebSocket client to /ws\n")
}

// chatQuery is what a client asks for in the query of its chat URL.
type chatQuery struct {
	name, room string
	since      uint64
	hasSince   bool
	epoch      string
	history    int    // how many of the newest events to send after the welcome (without since)
	session    string // the token of the session the client resumes
}

// MaxHistoryQuery is the largest history=N a client may ask for.
const MaxHistoryQuery = 1000

func parseChatQuery(r *http.Request) (chatQuery, error) {
	v := r.URL.Query()
	q := chatQuery{room: "lobby", epoch: v.Get("epoch")}
	var err error
	// The names are cloned: as substrings of the request line, they would
	// keep all of it alive as long as the connection.
	if n := v.Get("name"); n != "" {
		if q.name, err = CleanName(n); err != nil {
			return q, err
		}
		q.name = strings.Clone(q.name)
	}
	if rm := v.Get("room"); rm != "" {
		if q.room, err = CleanRoom(rm); err != nil {
			return q, err
		}
		q.room = strings.Clone(q.room)
	}
	if s := v.Get("since"); s != "" {
		if q.since, err = strconv.ParseUint(s, 10, 64); err != nil {
			return q, errors.New("chat: since must be an event id (a non-negative integer)")
		}
		q.hasSince = true
	}
	if h := v.Get("history"); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 || n > MaxHistoryQuery {
			return q, fmt.Errorf("chat: history must be a number of events from 0 to %d", MaxHistoryQuery)
		}
		q.history = n
	}
	if tok := v.Get("session"); tok != "" {
		if len(tok) > 64 || strings.ContainsFunc(tok, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) {
			return q, errors.New("chat: session must be the token of a welcome")
		}
		q.session = tok
	}
	return q, nil
}

// serveChat admits, upgrades and runs one chat connection.
func (s *Server) serveChat(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, reason, msg string) {
		s.metrics.countRefusal(reason)
		http.Error(w, msg, status)
	}
	q, err := parseChatQuery(r)
	if err != nil {
		refuse(http.StatusBadRequest, "bad_query", err.Error())
		return
	}
	if n := s.active.Add(1); n > int64(s.opts.MaxConnections) {
		s.active.Add(-1)
		refuse(http.StatusServiceUnavailable, "server_full", fmt.Sprintf("server full: %d connections", s.opts.MaxConnections))
		return
	}
	ip := clientIP(r)
	switch s.admit(ip) {
	case admitShuttingDown:
		s.active.Add(-1)
		refuse(http.StatusServiceUnavailable, "shutting_down", "server shutting down")
		return
	case admitPerIPLimit:
		s.active.Add(-1)
		refuse(http.StatusTooManyRequests, "per_ip_limit", fmt.Sprintf("too many connections from %s (limit %d)", ip, s.opts.MaxConnsPerIP))
		return
	}
	ws, err := wsproto.Accept(w, r, &s.accept)
	if err != nil {
		s.release(ip)
		var he *wsproto.HandshakeError
		reason := "handshake"
		if errors.As(err, &he) {
			reason = refusalReason(he.Status)
		}
		s.metrics.countRefusal(reason)
		s.log.Debug("handshake refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	c := newConn(s, ws, ip)
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.metrics.connections.Add(1)
	s.metrics.connectionsTotal.Add(1)
	if err := c.start(q); err != nil {
		ws.Close(wsproto.CloseInternalError, "cannot open the room")
		s.ended(c)
		return
	}
	// Reading goes on without this handler, which returns: net/http's
	// goroutine, with its grown stack, request and buffers, is then freed
	// instead of living as long as the connection. A connection that can
	// is parked in the poller, and has a goroutine only while the client
	// sends; the others get a reading goroutine of their own.
	if c.fed {
		c.startFeeding()
	} else {
		go c.read()
	}
}

// ended forgets a connection that has ended.
func (s *Server) ended(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.metrics.connections.Add(-1)
	s.release(c.ip)
}

// release undoes admit once a connection attempt is over.
func (s *Server) release(ip string) {
	s.releaseIP(ip)
	s.active.Add(-1)
	s.wg.Done()
}

// refusalReason names a handshake refusal by its status, for /metrics.
func refusalReason(status int) string {
	switch status {
	case http.StatusMethodNotAllowed:
		return "method"
	case http.StatusUpgradeRequired:
		return "version"
	case http.StatusForbidden:
		return "origin"
	case http.StatusBadRequest:
		return "bad_handshake"
	}
	return "handshake"
}

// clientIP returns the host part of the request's remote address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type admission int

const (
	admitted admission = iota
	admitShuttingDown
	admitPerIPLimit
)

// admit registers a connection attempt from ip with the shutdown wait group
// and the per-IP count, unless the server is shutting down or ip is at its
// limit. Registering under mu, where Shutdown sets shuttingDown, orders every
// wg.Add before Shutdown's wg.Wait.
func (s *Server) admit(ip string) admission {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown {
		return admitShuttingDown
	}
	if s.opts.MaxConnsPerIP > 0 {
		if s.perIP[ip] >= s.opts.MaxConnsPerIP {
			return admitPerIPLimit
		}
		s.perIP[ip]++
	}
	s.wg.Add(1)
	return admitted
}

func (s *Server) releaseIP(ip string) {
	if s.opts.MaxConnsPerIP <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// Shutdown closes every chat connection with 1001 (going away) and waits for
// them to end, or for ctx; then it drops whatever is left. New connections
// are refused with 503 from the moment it is called.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.shuttingDown {
		close(s.stopKeepalive)
	}
	s.shuttingDown = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.goAway()
	}
	if s.keepaliveStarted.Load() {
		<-s.keepaliveDone
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); s.stopPoller(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.ws.CloseNow()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// startKeepalive starts the keepalive sweep, once: every PingInterval it
// makes every connection's writer send a ping. One goroutine and one ticker
// for the whole server, rather than a timer per connection: an idle
// connection costs nothing for its keepalive but its share of a sweep.
func (s *Server) startKeepalive() {
	s.keepaliveOnce.Do(func() {
		s.keepaliveStarted.Store(true)
		go s.keepalive()
	})
}

func (s *Server) keepalive() {
	defer close(s.keepaliveDone)
	t := time.NewTicker(s.opts.PingInterval)
	defer t.Stop()
	// Fed connections have no read deadline: their silence is checked
	// here, as often as refreshDeadline moves a deadline at most.
	silence := time.NewTicker(min(time.Second, (s.opts.PingInterval+s.opts.PongTimeout)/8))
	defer silence.Stop()
	var conns []*conn
	snapshot := func() {
		s.mu.Lock()
		conns = conns[:0]
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
	}
	for {
		select {
		case <-t.C:
		case now := <-silence.C:
			if s.pollerStarted.Load() {
				snapshot()
				s.checkSilence(conns, now)
				clear(conns)
			}
			continue
		case <-s.stopKeepalive:
			return
		}
		snapshot()
		for _, c := range conns {
			if !c.started.Load() {
				continue // its welcome is not queued yet, and must go first
			}
			c.post(func() { c.pingDue = true })
			c.notify()
		}
		clear(conns)
		s.sessions.sweep(time.Now())
	}
}

// enter adds c to the room called name under the display name it wants, made
// unique in the room, and announces it when the room is small. It returns
// the room and the id from which c reads it: the first event after entering.
func (s *Server) enter(c *conn, roomName, want string) (*room, uint64, error) {
	claimed, resumed := false, false
	if s.opts.Presence != nil {
		want, resumed = s.claimName(roomName, want, c)
		claimed = true
	}
	s.mu.Lock()
	r := s.rooms[roomName]
	if r == nil {
		var err error
		if r, err = openRoom(s.opts.Store, roomName, s.opts.RingCapacity); err != nil {
			s.mu.Unlock()
			s.log.Error("cannot open a room", "room", roomName, "err", err)
			return nil, 0, err
		}
		s.rooms[roomName] = r
		s.metrics.rooms.Add(1)
	}
	// A connection of the same session that holds the name — the one this
	// connection replaces, on its way out — hands it over, silently.
	handover := false
	if other, taken := r.names[nameKey(want)]; taken && other.sess == c.sess && other != c {
		handover = true
	}
	name := want
	if !handover {
		name = uniqueName(r, want)
	}
	r.members[c] = struct{}{}
	r.names[nameKey(name)] = c
	r.addMember(c)
	c.name, c.room = name, r
	start := r.latest() + 1
	local := len(r.members)
	s.mu.Unlock()
	if claimed && name != want { // taken here after all, while unclaimed: claim what it got
		s.opts.Presence.Claim(roomName, nameKey(name), name, c.sess.token, c.claimID)
	}
	// A session back on this node or another takes its name over
	// silently: nobody saw it leave.
	announce := !handover && !resumed && s.memberCount(r, local) <= s.opts.AnnounceLimit
	if announce {
		s.publish(r, &Event{Type: TypeJoin, Room: r.name, From: name})
	}
	return r, start, nil
}

// leave takes c out of its room, announcing it when the room is small, and
// closes the room when it is left empty: its history stays in the store.
func (s *Server) leave(c *conn) {
	r := c.room
	if r == nil {
		return
	}
	key := nameKey(c.name)
	s.mu.Lock()
	local := len(r.members) // c among them
	holds := r.names[key] == c
	delete(r.members, c)
	r.removeMember(c)
	if holds {
		delete(r.names, key)
	}
	if len(r.members) == 0 {
		// Closed under mu, so that a member arriving next opens the room
		// afresh only after this one is closed.
		delete(s.rooms, r.name)
		s.metrics.rooms.Add(-1)
		if err := r.log.Close(); err != nil {
			s.log.Warn("closing a room", "room", r.name, "err", err)
		}
	}
	c.room = nil
	s.mu.Unlock()
	// Across nodes: the departure is the room's only if this connection
	// still held its name — not if its session came back elsewhere. The
	// presence still counts c until the release, which comes after c has
	// left here: as a join claims before it adds, this node does not count
	// more members than the presence does (memberCount relies on it).
	if c.replaced.Load() {
		return
	}
	count, left := s.memberCount(r, local), true
	if p := s.opts.Presence; p != nil && holds {
		left = p.Release(r.name, key, c.claimID)
	}
	if left && count <= s.opts.AnnounceLimit && count > 1 {
		s.publish(r, &Event{Type: TypeLeave, Room: r.name, From: c.name})
	}
}

// rename gives c a new display name, if no one else in its room has it, and
// announces the change; it returns the id of the nick event.
func (s *Server) rename(c *conn, want string) (uint64, error) {
	name, err := CleanName(want)
	if err != nil {
		return 0, err
	}
	r, old := c.room, c.name
	key := nameKey(name)
	taken := func() error { return fmt.Errorf("chat: the name %s is taken in #%s", name, r.name) }
	p := s.opts.Presence
	if p != nil && key != nameKey(old) {
		if held, _, err := p.Claim(r.name, key, name, c.sess.token, c.claimID); err == nil && !held {
			return 0, taken()
		}
	}
	s.mu.Lock()
	if other, ok := r.names[key]; ok && other != c {
		s.mu.Unlock()
		return 0, taken()
	}
	delete(r.names, nameKey(old))
	r.names[key] = c
	c.name = name
	s.mu.Unlock()
	if p != nil && key != nameKey(old) {
		p.Release(r.name, nameKey(old), c.claimID)
	}
	return s.publish(r, &Event{Type: TypeNick, Room: r.name, From: old, Name: name})
}

// limits returns what a connection may send, as the welcome advertises it.
func (s *Server) limits() *Limits {
	l := &Limits{MaxMessage: s.opts.MaxMessageBytes}
	if s.opts.MessageRate > 0 {
		l.Rate, l.Burst = s.opts.MessageRate, s.opts.MessageBurst
	}
	return l
}

// who describes c's room: its member count and the first names, sorted.
func (s *Server) who(c *conn) *Event {
	const maxNames = 100
	if p := s.opts.Presence; p != nil {
		if names, count, err := p.Members(c.room.name, maxNames); err == nil {
			return &Event{Type: TypeWho, Room: c.room.name, Names: names, Count: count}
		}
	}
	s.mu.Lock()
	r := c.room
	names := make([]string, 0, min(len(r.members), 1024))
	for m := range r.members {
		names = append(names, m.name)
	}
	count := len(r.members)
	s.mu.Unlock()
	slices.Sort(names)
	if len(names) > maxNames {
		names = names[:maxNames]
	}
	return &Event{Type: TypeWho, Room: r.name, Names: names, Count: count}
}

// publish stamps a room event with the time and appends it to r's log,
// which delivers it to every member. It returns the event's id, or an error
// that says, for the client, why the event was not stored.
func (s *Server) publish(r *room, e *Event) (uint64, error) {
	now := time.Now()
	e.Time = FormatTime(now)
	id, err := r.publish(e, now)
	if err != nil {
		s.metrics.storeErrors.Add(1)
		s.log.Warn("an event was not stored", "room", r.name, "type", e.Type, "err", err)
		if errors.Is(err, store.ErrReset) {
			s.resetRoom(r)
		}
		return 0, errStoreUnavailable
	}
	s.metrics.eventsPublished.Add(1)
	return id, nil
}

// resetRoom closes every member's connection of a room whose history was
// reset under it (store.ErrReset), with 1012: its clients come back, and
// the room, opened afresh, tells them of its new epoch.
func (s *Server) resetRoom(r *room) {
	s.mu.Lock()
	members := make([]*conn, 0, len(r.members))
	for c := range r.members {
		members = append(members, c)
	}
	s.mu.Unlock()
	s.log.Warn("a room's history was reset in the store; its members reconnect", "room", r.name, "members", len(members))
	for _, c := range members {
		c.closeWith(wsproto.CloseServiceRestart, "the room's history was reset; reconnect")
	}
}

// errStoreUnavailable is what a client is told when its event could not be
// stored, and so was not sent to anyone.
var errStoreUnavailable = errors.New("chat: the history store is unavailable; not sent")

// uniqueName returns want, or want with the smallest suffix "-2", "-3", …
// that no member of r has. The caller holds Server.mu.
func uniqueName(r *room, want string) string {
	if _, taken := r.names[nameKey(want)]; !taken {
		return want
	}
	for i := 2; ; i++ {
		suffix := "-" + strconv.Itoa(i)
		base := []rune(want)
		if len(base)+len(suffix) > MaxNameRunes {
			base = base[:MaxNameRunes-len(suffix)]
		}
		cand := string(base) + suffix
		if _, taken := r.names[nameKey(cand)]; !taken {
			return cand
		}
	}
}
