package resp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"ringchat/internal/redistest"
	"ringchat/internal/resp"
)

// newClient returns a Client of o, closed when the test ends.
func newClient(t *testing.T, o resp.Options) *resp.Client {
	t.Helper()
	c, err := resp.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestDo(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, resp.Options{Addr: srv.Addr()})
	ctx := ctxFor(t, 10*time.Second)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, "SET", "k", []byte("v\r\nw")); err != nil {
		t.Fatal(err)
	}
	if s, err := resp.String(c.Do(ctx, "GET", "k")); s != "v\r\nw" || err != nil {
		t.Fatalf("GET = %q, %v", s, err)
	}
	if _, err := resp.String(c.Do(ctx, "GET", "missing")); err != resp.ErrNil {
		t.Fatalf("GET of a missing key: %v, want ErrNil", err)
	}
	if n, err := resp.Int64(c.Do(ctx, "INCRBY", "n", int64(1)<<40)); n != 1<<40 || err != nil {
		t.Fatalf("INCRBY = %d, %v", n, err)
	}
	_, err := c.Do(ctx, "LPUSH", "k", "x")
	var e *resp.Error
	if !errors.As(err, &e) || e.Prefix() != "WRONGTYPE" {
		t.Fatalf("LPUSH on a string: %v, want WRONGTYPE", err)
	}
	// An error reply leaves the connection usable.
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("PING after an error reply: %v", err)
	}
	if _, err := c.Do(ctx, "SET", "k", nil); err == nil {
		t.Fatal("a nil argument was sent")
	}
}

func TestPipeline(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, resp.Options{Addr: srv.Addr(), PoolSize: 1})
	ctx := ctxFor(t, 10*time.Second)
	var p resp.Pipeline
	const n = 1000
	for range n {
		p.Add("INCR", "seq")
	}
	p.Add("SET", "s", "x")
	p.Add("INCR", "s") // refused in the middle of the pipeline
	p.Add("GET", "seq")
	replies, err := c.DoPipeline(ctx, &p)
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != n+3 {
		t.Fatalf("%d replies for %d commands", len(replies), n+3)
	}
	for i := range n {
		if replies[i].Kind != resp.KindInt || replies[i].Int != int64(i+1) {
			t.Fatalf("reply %d = %#v, want %d", i, replies[i], i+1)
		}
	}
	if err := replies[n+1].Err(); !resp.HasPrefix(err, "ERR") {
		t.Fatalf("INCR of a word: %v", err)
	}
	if s, err := resp.String(replies[n+2], nil); s != "1000" || err != nil {
		t.Fatalf("GET after the pipeline = %q, %v", s, err)
	}
	// MULTI/EXEC in a pipeline is a transaction on one connection.
	p.Reset()
	p.Add("MULTI")
	p.Add("INCR", "seq")
	p.Add("INCR", "seq")
	p.Add("EXEC")
	replies, err = c.DoPipeline(ctx, &p)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.AppendValue(nil, replies[3]); string(got) != "*2\r\n:1001\r\n:1002\r\n" {
		t.Fatalf("EXEC = %q", got)
	}
}

func TestPoolConcurrency(t *testing.T) {
	srv := redistest.Start(t)
	const size = 4
	c := newClient(t, resp.Options{Addr: srv.Addr(), PoolSize: size, ClientName: "pooltest"})
	ctx := ctxFor(t, 30*time.Second)
	const workers, each = 32, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if w%2 == 0 {
					if _, err := c.Do(ctx, "INCR", "total"); err != nil {
						errs <- err
						return
					}
					continue
				}
				var p resp.Pipeline
				p.Add("INCR", "total")
				p.Add("RPUSH", fmt.Sprintf("list:%d", w), i)
				if _, err := c.DoPipeline(ctx, &p); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, err := resp.Int64(c.Do(ctx, "GET", "total")); n != workers*each || err != nil {
		t.Fatalf("total = %d, %v; want %d", n, err, workers*each)
	}
	// Each worker's list holds its own pushes in order.
	items, err := resp.Strings(c.Do(ctx, "LRANGE", "list:1", 0, -1))
	if err != nil || len(items) != each || items[0] != "0" || items[each-1] != fmt.Sprint(each-1) {
		t.Fatalf("list:1 = %d items, %v", len(items), err)
	}
	list, err := resp.String(c.Do(ctx, "CLIENT", "LIST"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(list, "name=pooltest"); n < 1 || n > size {
		t.Fatalf("%d pool connections open, want 1 to %d:\n%s", n, size, list)
	}
}

func TestPoolWaitsForContext(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, resp.Options{Addr: srv.Addr(), PoolSize: 1, ReadTimeout: -1})
	ctx := ctxFor(t, 10*time.Second)
	// One call holds the only connection in a blocking command...
	held := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, "BLPOP", "nothing", 1)
		held <- err
	}()
	time.Sleep(100 * time.Millisecond) // let it take the connection
	// ...so another waits for it, as long as its context allows.
	short := ctxFor(t, 100*time.Millisecond)
	if _, err := c.Do(short, "PING"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PING without a free connection: %v, want the context's deadline", err)
	}
	if err := <-held; err != nil {
		t.Fatalf("BLPOP: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSelect(t *testing.T) {
	srv := redistest.Start(t)
	o3, err := resp.ParseURL(srv.URL() + "/3")
	if err != nil {
		t.Fatal(err)
	}
	db3 := newClient(t, o3)
	db0 := newClient(t, resp.Options{Addr: srv.Addr()})
	ctx := ctxFor(t, 10*time.Second)
	if _, err := db3.Do(ctx, "SET", "where", "three"); err != nil {
		t.Fatal(err)
	}
	if _, err := resp.String(db0.Do(ctx, "GET", "where")); err != resp.ErrNil {
		t.Fatalf("db 0 sees db 3's key: %v", err)
	}
	info, err := resp.String(db3.Do(ctx, "CLIENT", "INFO"))
	if err != nil || !strings.Contains(info, " db=3 ") {
		t.Fatalf("CLIENT INFO = %q, %v", info, err)
	}
	if _, err := newClient(t, resp.Options{Addr: srv.Addr(), DB: 99}).Do(ctx, "PING"); !resp.HasPrefix(err, "ERR") {
		t.Fatalf("SELECT 99: %v, want ERR", err)
	}
}

func TestAuth(t *testing.T) {
	srv := redistest.StartConfig(t, redistest.Config{Args: []string{
		"--requirepass", "hunter2",
		"--user", "alice", "on", ">wonderland", "~*", "&*", "+@all",
	}})
	ctx := ctxFor(t, 10*time.Second)
	for _, tc := range []struct {
		name, url, prefix string // prefix "" means success
	}{
		{"password only", "redis://:hunter2@" + srv.Addr(), ""},
		{"password without colon", "redis://hunter2@" + srv.Addr(), ""},
		{"ACL user", "redis://alice:wonderland@" + srv.Addr() + "/1", ""},
		{"default user by name", "redis://default:hunter2@" + srv.Addr(), ""},
		{"no password", "redis://" + srv.Addr(), "NOAUTH"},
		{"wrong password", "redis://:nope@" + srv.Addr(), "WRONGPASS"},
		{"wrong user", "redis://bob:wonderland@" + srv.Addr(), "WRONGPASS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := resp.ParseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(t, o)
			user, err := resp.String(c.Do(ctx, "ACL", "WHOAMI"))
			if tc.prefix == "" {
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]string{true: o.Username, false: "default"}[o.Username != ""]; user != want {
					t.Fatalf("ACL WHOAMI = %q, want %q", user, want)
				}
				return
			}
			if !resp.HasPrefix(err, tc.prefix) {
				t.Fatalf("got %v, want %s", err, tc.prefix)
			}
			if strings.Contains(fmt.Sprint(err), "nope") || strings.Contains(fmt.Sprint(err), "wonderland") {
				t.Fatalf("error %q quotes the password", err)
			}
		})
	}
}

func TestServerRestart(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, resp.Options{Addr: srv.Addr(), PoolSize: 2, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	ctx := ctxFor(t, 20*time.Second)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	_, err := c.Do(ctx, "PING")
	if err == nil {
		t.Fatal("PING to a stopped server succeeded")
	}
	// The failed dial makes the next calls fail at once, naming the cause.
	start := time.Now()
	if _, err := c.Do(ctx, "PING"); err == nil || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("second PING: %v after %v, want a fast failure", err, time.Since(start))
	}
	srv.Restart()
	// The idle connection the server closed is not reused: the first
	// command after the backoff succeeds.
	time.Sleep(60 * time.Millisecond)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("PING after restart: %v", err)
	}
}

// fakeServer answers the commands of its n-th connection with the n-th
// list of raw replies, one per read, then waits for the client to close.
func fakeServer(t *testing.T, script ...[]string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for _, replies := range script {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer nc.Close()
				buf := make([]byte, 4096)
				for _, r := range replies {
					if _, err := nc.Read(buf); err != nil {
						return
					}
					nc.Write([]byte(r))
				}
				for {
					if _, err := nc.Read(buf); err != nil {
						return
					}
				}
			})
		}
	})
	return l.Addr().String()
}

// A reply that breaks the protocol fails the call with ErrProtocol and the
// connection is not reused.
func TestProtocolViolation(t *testing.T) {
	addr := fakeServer(t, []string{"+OK\r\n", "%1\r\n+a\r\n+b\r\n"}, []string{"+PONG\r\n"})
	c := newClient(t, resp.Options{Addr: addr, PoolSize: 1})
	ctx := ctxFor(t, 10*time.Second)
	if s, err := resp.String(c.Do(ctx, "PING")); s != "OK" || err != nil {
		t.Fatalf("first reply %q, %v", s, err)
	}
	if _, err := c.Do(ctx, "PING"); !errors.Is(err, resp.ErrProtocol) {
		t.Fatalf("RESP3 map reply: %v, want ErrProtocol", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("PING on a new connection: %v", err)
	}
	c.Close()
	if _, err := c.Do(ctx, "PING"); err != resp.ErrClosed {
		t.Fatalf("Do after Close: %v", err)
	}
}

// A call that cannot get a connection in time because every one of the
// pool's is busy fails with ErrPoolBusy (and its context's error): the
// client's congestion, told apart from the server's silence.
func TestPoolBusy(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, resp.Options{Addr: srv.Addr(), PoolSize: 1})
	other := newClient(t, resp.Options{Addr: srv.Addr()})
	blocked := make(chan error, 1)
	go func() {
		_, err := c.Do(ctxFor(t, 10*time.Second), "BLPOP", "pool-busy", 10)
		blocked <- err
	}()
	// Until BLPOP holds the only connection, a PING may take it first.
	var err error
	for range 1000 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err = c.Do(ctx, "PING")
		cancel()
		if err != nil {
			break
		}
	}
	if !errors.Is(err, resp.ErrPoolBusy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a call behind a busy pool: %v, want ErrPoolBusy and the deadline", err)
	}
	if _, err := other.Do(ctxFor(t, 5*time.Second), "LPUSH", "pool-busy", "x"); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; err != nil {
		t.Errorf("BLPOP: %v", err)
	}
	// A call that times out on the server's side is not ErrPoolBusy.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Do(ctx, "BLPOP", "pool-busy", 1); err == nil || errors.Is(err, resp.ErrPoolBusy) {
		t.Errorf("a call the server did not answer in time: %v, want a timeout, not ErrPoolBusy", err)
	}
}
