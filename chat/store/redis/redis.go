package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/chat/store"
	"ringchat/internal/resp"
)

// Options configure a Store. Zero fields take the defaults named.
type Options struct {
	// Redis says which server to use and how (resp.ParseURL makes it
	// from a redis:// URL). Its timeouts bound connecting and the
	// pub/sub connection's health checks; Timeout below bounds calls.
	Redis resp.Options

	// Retention is how much of each room's history is kept:
	// store.Retention's defaults.
	Retention store.Retention

	// Prefix begins every key and channel name: DefaultPrefix. Stores
	// with different prefixes on one server are independent (tests,
	// tenants).
	Prefix string

	// Timeout bounds each call to Redis that a caller waits for: Append,
	// Read, Oldest, Open. An Append that reaches Redis later than half
	// of it is refused by Redis itself, so that a timed-out Append is
	// never stored. 1 second.
	Timeout time.Duration

	// TrimInterval is how often the housekeeping goroutine removes the
	// open rooms' events past Retention.Age from Redis: 1 minute.
	// Reads never return such events, trimmed or not.
	TrimInterval time.Duration

	// Logger gets what goes wrong and comes right again: slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	o.Retention = o.Retention.WithDefaults()
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.TrimInterval <= 0 {
		o.TrimInterval = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// ErrReset is wrapped by the errors of a log whose room was given a new
// epoch in Redis while it was open (Redis lost the room's data and another
// process opened it afresh). The log cannot follow: close it and open the
// room again. It wraps store.ErrUnavailable.
var ErrReset = fmt.Errorf("store/redis: the room's history was reset in Redis; reopen it: %w: %w", store.ErrReset, store.ErrUnavailable)

// Store is a store.Store in Redis, shared by every process that uses the
// same server, database and prefix. Create it with New.
type Store struct {
	o      Options
	log    *slog.Logger
	db     *resp.Client
	sub    *resp.Subscriber
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the housekeeping, subscription and catch-up goroutines

	mu     sync.Mutex
	rooms  map[string]*roomLog // open rooms by channel
	closed bool

	// gen counts the pub/sub connection's ups and downs, so that a room
	// being opened learns that messages may have been lost meanwhile.
	gen atomic.Uint64

	presenceOnce sync.Once
	presence     *Presence // made by Presence, stopped by Close

	health health
	clock  clock
	subs   subscriptions
	stats  struct{ catchUps, fetched, lost atomic.Uint64 }
}

// Stats counts what the Store's rooms had to do beyond the usual.
type Stats struct {
	CatchUps uint64 // fetches from a stream after pub/sub lost messages
	Fetched  uint64 // events those fetches delivered
	Lost     uint64 // events delivered as lost: the stream no longer held them
}

// WriteMetrics writes the Store's figures in the Prometheus text format, for
// the chat server's /metrics.
func (s *Store) WriteMetrics(w io.Writer) {
	st := s.Stats()
	up := 1
	if s.health.isDown() {
		up = 0
	}
	fmt.Fprintf(w, "# HELP ringchat_redis_up Whether Redis answers (1) or the store refuses events until it does (0).\n# TYPE ringchat_redis_up gauge\nringchat_redis_up %d\n", up)
	for _, c := range []struct {
		name, help string
		v          uint64
	}{
		{"ringchat_redis_catch_ups_total", "Fetches from a room's stream after pub/sub lost messages.", st.CatchUps},
		{"ringchat_redis_fetched_total", "Events those fetches delivered.", st.Fetched},
		{"ringchat_redis_lost_total", "Events delivered as lost: the stream no longer held them.", st.Lost},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", c.name, c.help, c.name, c.name, c.v)
	}
}

// Stats returns the counts since New.
func (s *Store) Stats() Stats {
	return Stats{s.stats.catchUps.Load(), s.stats.fetched.Load(), s.stats.lost.Load()}
}

// New returns a Store for the server o.Redis names. It checks that the
// server answers (an error wrapping store.ErrUnavailable if it does not
// within Timeout), measures the offset between the clocks, and starts the
// pub/sub connection and the housekeeping goroutine.
func New(o Options) (*Store, error) {
	o.setDefaults()
	db, err := resp.NewClient(o.Redis)
	if err != nil {
		return nil, fmt.Errorf("store/redis: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		o:      o,
		log:    o.Logger,
		db:     db,
		ctx:    ctx,
		cancel: cancel,
		rooms:  make(map[string]*roomLog),
	}
	s.health.init()
	s.clock.init()
	s.subs.init()
	if err := s.clock.sync(ctx, db, o.Timeout); err != nil {
		cancel()
		db.Close()
		return nil, fmt.Errorf("store/redis: %s: %w: %v", o.Redis, store.ErrUnavailable, err)
	}
	lctx, lcancel := context.WithTimeout(ctx, o.Timeout)
	for _, sc := range []*resp.Script{appendScript, syncScript} {
		if err := sc.Load(lctx, db); err != nil {
			s.log.Warn("store/redis: cannot load a script; it will be sent with its first use", "err", err)
		}
	}
	lcancel()
	if s.sub, err = resp.NewSubscriber(o.Redis, s.handle); err != nil {
		cancel()
		db.Close()
		return nil, fmt.Errorf("store/redis: %w", err)
	}
	s.wg.Add(2)
	go s.subs.run(s)
	go s.housekeep()
	return s, nil
}

// Close implements store.Store: it closes every open room and releases
// the connections. Everything appended before is in Redis already.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*roomLog, 0, len(s.rooms))
	for _, l := range s.rooms {
		rooms = append(rooms, l)
	}
	clear(s.rooms)
	s.mu.Unlock()
	for _, l := range rooms {
		l.shut()
	}
	s.cancel()
	s.sub.Close()
	s.wg.Wait()
	return s.db.Close()
}

// Client returns the Store's connection pool, for other uses of the same
// server (presence, say). It is closed with the Store.
func (s *Store) Client() *resp.Client { return s.db }

// Open implements store.Store. It subscribes to the room's channel, then
// learns the room's epoch and newest id (creating the epoch if the room
// has none): events after that id reach the sink.
func (s *Store) Open(room string, sink store.Sink) (store.Log, error) {
	if !validRoom(room) {
		return nil, fmt.Errorf("store/redis: room name %q cannot be a key", room)
	}
	k := keysFor(s.o.Prefix, room, s.o.Redis.DB)
	l := &roomLog{s: s, room: room, k: k, sink: sink, done: make(chan struct{})}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return nil, store.ErrClosed
	case s.rooms[k.channel] != nil:
		s.mu.Unlock()
		return nil, store.ErrOpen
	}
	s.rooms[k.channel] = l
	s.mu.Unlock()

	epoch, last, gen, err := s.openRoom(l)
	if err != nil {
		s.mu.Lock()
		if s.rooms[k.channel] == l {
			delete(s.rooms, k.channel)
			if !s.closed {
				s.subs.request(k.channel, false, nil)
			}
		}
		s.mu.Unlock()
		l.shut()
		return nil, err
	}
	l.epoch = epoch
	l.mu.Lock()
	if l.closed.Load() { // the store closed meanwhile
		l.mu.Unlock()
		return nil, store.ErrClosed
	}
	l.last.Store(last)
	l.open = true
	// Messages that came while opening, or a pub/sub connection lost
	// meanwhile, may leave events after last undelivered: catch up.
	if s.gen.Load() != gen {
		l.resync = true
	}
	if l.resync || l.target > last {
		l.kickLocked()
	}
	l.mu.Unlock()
	return l, nil
}

// openRoom subscribes to l's channel and reads the room's epoch and newest
// id. gen is the pub/sub connection's generation once subscribed.
func (s *Store) openRoom(l *roomLog) (epoch string, last, gen uint64, err error) {
	if err := s.health.check(); err != nil {
		return "", 0, 0, err
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
	defer cancel()
	done := make(chan error, 1)
	s.subs.request(l.k.channel, true, done)
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return "", 0, 0, s.fail("subscribing to room "+l.room, err)
	}
	gen = s.gen.Load()
	epoch, last, err = s.syncRoom(ctx, l, store.NewEpoch(), 0)
	if err != nil {
		return "", 0, 0, s.fail("opening room "+l.room, err)
	}
	return epoch, last, gen, nil
}

// syncRoom runs syncScript for l's room.
func (s *Store) syncRoom(ctx context.Context, l *roomLog, epoch string, floor uint64) (string, uint64, error) {
	v, err := syncScript.Run(ctx, s.db, l.k.keys, epoch, floor)
	if err != nil {
		return "", 0, err
	}
	if v.Kind != resp.KindArray || len(v.Elems) != 2 {
		return "", 0, fmt.Errorf("store/redis: unexpected reply %v to the sync script", v.Kind)
	}
	got, err := resp.String(v.Elems[0], nil)
	if err != nil || !validEpoch(got) {
		return "", 0, fmt.Errorf("store/redis: room %q has a malformed epoch %q in Redis", l.room, got)
	}
	seq, err := resp.Int64(v.Elems[1], nil)
	if err != nil || seq < 0 {
		return "", 0, fmt.Errorf("store/redis: room %q has a malformed id in Redis", l.room)
	}
	return got, uint64(seq), nil
}

// handle is the Subscriber's handler.
func (s *Store) handle(ev resp.Event) {
	switch ev.Kind {
	case resp.EventMessage:
		s.mu.Lock()
		l := s.rooms[ev.Channel]
		s.mu.Unlock()
		if l == nil {
			return // a room just closed, or another store's channel
		}
		id, epoch, body, err := parseMessage(ev.Payload)
		if err != nil {
			s.log.Warn("store/redis: ignoring a malformed message", "channel", ev.Channel, "err", err)
			return
		}
		l.receive(id, epoch, body)
	case resp.EventConnected:
		s.gen.Add(1)
		s.health.up(s)
		s.mu.Lock()
		rooms := make([]*roomLog, 0, len(s.rooms))
		for _, l := range s.rooms {
			rooms = append(rooms, l)
		}
		s.mu.Unlock()
		for _, l := range rooms {
			l.requestResync()
		}
	case resp.EventDisconnected:
		s.gen.Add(1)
		s.log.Warn("store/redis: pub/sub connection lost; open rooms catch up when it is back", "err", ev.Err)
	}
}

// track counts one more background goroutine, unless the store is closed.
func (s *Store) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// fail turns an error of a call to Redis into the one a caller gets, and
// marks Redis unreachable when the error says it is.
func (s *Store) fail(op string, err error) error {
	switch {
	case errors.Is(err, resp.ErrClosed), s.ctx.Err() != nil:
		return store.ErrClosed
	case unreachable(err):
		s.health.down(s, err)
	}
	return fmt.Errorf("store/redis: %s: %w: %v", op, store.ErrUnavailable, err)
}

// unreachable reports whether err means that Redis cannot serve calls now,
// rather than that it refused one.
func unreachable(err error) bool {
	if errors.Is(err, resp.ErrPoolBusy) {
		// The node's own queue for its connections, not Redis: at 90,000
		// clients leaving at once, the releases of their names waited
		// for a connection past Timeout, and the node refused every
		// append for up to 5 s while Redis answered all along.
		return false
	}
	var re *resp.Error
	if !errors.As(err, &re) {
		return true // the connection failed or timed out
	}
	switch re.Prefix() {
	case "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN":
		return true
	}
	return false
}

// subscriptions passes the rooms' SUBSCRIBE and UNSUBSCRIBE to the
// Subscriber one at a time, in the order asked: a room closed and opened
// again ends up subscribed, and closing a room never waits for Redis.
type subscriptions struct {
	mu    sync.Mutex
	queue []subRequest
	wake  chan struct{} // buffered 1
}

type subRequest struct {
	channel   string
	subscribe bool
	done      chan<- error // buffered; nil when nobody waits
}

func (q *subscriptions) init() { q.wake = make(chan struct{}, 1) }

// request queues a change of the subscription.
func (q *subscriptions) request(channel string, subscribe bool, done chan<- error) {
	q.mu.Lock()
	q.queue = append(q.queue, subRequest{channel, subscribe, done})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *subscriptions) run(s *Store) {
	defer s.wg.Done()
	for {
		q.mu.Lock()
		var r subRequest
		ok := len(q.queue) > 0
		if ok {
			r = q.queue[0]
			q.queue[0] = subRequest{}
			q.queue = q.queue[1:]
		}
		q.mu.Unlock()
		if !ok {
			select {
			case <-q.wake:
				continue
			case <-s.ctx.Done():
				q.failPending()
				return
			}
		}
		var err error
		if s.ctx.Err() != nil {
			err = store.ErrClosed
		} else if r.subscribe {
			// Subscribe waits for a connection that is down; the
			// caller waits at most Timeout and then gives up, which
			// queues an unsubscribe after this one.
			err = s.sub.Subscribe(s.ctx, r.channel)
		} else {
			ctx, cancel := context.WithTimeout(s.ctx, s.o.Timeout)
			err = s.sub.Unsubscribe(ctx, r.channel)
			cancel()
		}
		if r.done != nil {
			r.done <- err
		}
	}
}

// failPending answers the requests left when the store closes.
func (q *subscriptions) failPending() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, r := range q.queue {
		if r.done != nil {
			r.done <- store.ErrClosed
		}
	}
	q.queue = nil
}
