package resp_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"ringchat/internal/redistest"
	"ringchat/internal/resp"
)

func TestTimeoutsAgainstStoppedServer(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, resp.Options{Addr: srv.Addr(), ReadTimeout: 200 * time.Millisecond, DialTimeout: 300 * time.Millisecond})
	ctx := ctxFor(t, 20*time.Second)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()

	// ReadTimeout bounds the wait on a pooled connection.
	start := time.Now()
	_, err := c.Do(ctx, "PING")
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("PING to a stopped server: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the timeout took %v", d)
	}
	if !strings.HasPrefix(err.Error(), "resp: PING: ") {
		t.Errorf("error %q does not say what timed out", err)
	}

	// A context's deadline, earlier than ReadTimeout, wins.
	slow := newClient(t, resp.Options{Addr: srv.Addr(), ReadTimeout: time.Minute, DialTimeout: time.Minute})
	short := ctxFor(t, 150*time.Millisecond)
	start = time.Now()
	if _, err := slow.Do(short, "PING"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PING with a short context: %v, want its deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the context's deadline took %v", d)
	}

	// Cancellation, with no deadline at all, ends the call too.
	cctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	never := newClient(t, resp.Options{Addr: srv.Addr(), ReadTimeout: -1, DialTimeout: -1, WriteTimeout: -1})
	if _, err := never.Do(cctx, "PING"); !errors.Is(err, context.Canceled) {
		t.Fatalf("PING cancelled: %v, want context.Canceled", err)
	}

	// WriteTimeout bounds a write that the stopped server does not take:
	// 4 MiB is more than a small send buffer and the receive buffer of a
	// process that reads nothing hold.
	smallBuffer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err == nil {
			nc.(*net.TCPConn).SetWriteBuffer(64 << 10)
		}
		return nc, err
	}
	writer := newClient(t, resp.Options{Addr: srv.Addr(), Dial: smallBuffer, WriteTimeout: 200 * time.Millisecond, ReadTimeout: time.Minute})
	start = time.Now()
	if _, err := writer.Do(ctx, "SET", "big", make([]byte, 4<<20)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a write the server does not take: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the write timeout took %v", d)
	}

	// A new connection's handshake is bounded by DialTimeout: the kernel
	// accepts it, but AUTH is never answered.
	auth := newClient(t, resp.Options{Addr: srv.Addr(), Password: "x", DialTimeout: 200 * time.Millisecond})
	start = time.Now()
	if _, err := auth.Do(ctx, "PING"); err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("handshake with a stopped server: %v after %v", err, time.Since(start))
	}

	// Once the server goes on, the timed-out connections are gone and new
	// ones work (after the dial backoff, if one failed).
	srv.Resume()
	for _, cl := range []*resp.Client{c, slow, never} {
		if err := cl.Ping(ctx); err != nil {
			t.Fatalf("PING after resume: %v", err)
		}
	}
}
