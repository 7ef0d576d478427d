package chat

import (
	"errors"
	"net"
	"sync"
	"time"

	"ringchat/internal/netpoll"
	"ringchat/wsproto"
)

// Reading without a goroutine per connection (Linux, connections that are
// not TLS).
//
// A fed connection has no goroutine while the client is silent: its socket
// is registered with the server's poller (one epoll instance and one
// goroutine for all), and when the socket has bytes the poller starts a
// goroutine that reads what is there without waiting, pushes it into
// wsproto's Feed — which handles messages, pings and the close as they
// complete and keeps a frame cut short for next time — rearms the socket
// and ends. Each wake-up reads at most feedReadsPerWake buffers before it
// rearms: a client that sends without pause is read in turns with the
// others, for a rearmed socket that is still readable is reported again
// at once, behind those already waiting.
//
// The keepalive cannot rely on a read deadline, for nothing waits in a
// read: the keepalive goroutine closes a fed connection that has been
// silent too long itself (see checkSilence). A closed connection is a
// wake-up too (wsproto's AfterClose), so that the connection ends however
// it was closed — by a failed write, a close handshake that timed out, the
// keepalive, or Shutdown.

// The states of a fed connection's reading, in conn.readState.
const (
	readParked  int32 = iota // registered with the poller, no goroutine
	readRunning              // one goroutine reads and handles
	readEnded                // the connection has ended
)

// feedReadsPerWake bounds the reads of one wake-up (feedBufferSize each).
const feedReadsPerWake = 4

// feedBufferSize is the size of the buffers a wake-up reads into.
const feedBufferSize = 16 << 10

// feedBufferPool holds the buffers wake-ups read into: a connection holds
// one only while it is being read.
var feedBufferPool = sync.Pool{New: func() any { b := make([]byte, feedBufferSize); return &b }}

// startPoller returns the server's poller, starting it and the poller of
// waiting writes on first use; nil where there is none (not Linux, or
// epoll failed), and connections read with a goroutine each.
func (s *Server) startPoller() *netpoll.Poller {
	s.pollerOnce.Do(func() {
		p, err := netpoll.New()
		if err == nil {
			if s.waits, err = netpoll.New(); err != nil {
				p.Close()
			}
		}
		if err != nil {
			if !errors.Is(err, netpoll.ErrUnsupported) {
				s.log.Warn("cannot start the poller: connections read with a goroutine each", "err", err)
			}
			return
		}
		s.poller = p
		s.pollerStarted.Store(true)
	})
	return s.poller
}

// stopPoller closes the pollers, once every connection has ended.
func (s *Server) stopPoller() {
	s.pollerOnce.Do(func() {}) // none may start after this
	if s.poller != nil {
		s.poller.Close()
		s.waits.Close()
	}
}

// prepareSocket is given each hijacked connection before it becomes a
// wsproto.Conn (AcceptOptions.WrapNetConn): it sets the send buffer and,
// for a TCP socket that will be fed, takes the socket out of package net
// (netpoll.Detach), which keeps about 0.9 KiB per socket that a fed
// connection has no use for — a runtime poll descriptor with its timers,
// a finalizer, both addresses. Such a socket's blocked writes wait on the
// server's second poller. TLS connections and sockets that cannot be
// detached (no descriptor to spare) stay as they are.
func (s *Server) prepareSocket(nc net.Conn) net.Conn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	if s.opts.SendBufferBytes > 0 {
		tc.SetWriteBuffer(s.opts.SendBufferBytes)
	}
	if !s.feeds() {
		return nc
	}
	d, err := netpoll.Detach(tc, s.waits)
	if err != nil {
		s.log.Debug("socket kept in package net", "err", err)
		return nc
	}
	return d
}

// canFeed reports whether ws can be a fed connection: it can be read
// without waiting, the server has a poller, and the options allow it.
func (s *Server) canFeed(ws *wsproto.Conn) bool {
	return ws.CanFeed() && s.feeds()
}

// feeds reports whether the server feeds the connections that can be: it
// has a poller, and the options allow it.
func (s *Server) feeds() bool {
	return !s.opts.ReadGoroutines && s.startPoller() != nil
}

// startFeeding registers the fed connection c with the poller and reads
// what came with the handshake; c is closed if it cannot be registered.
func (c *conn) startFeeding() {
	// Running from the start: the first goroutine reads what came with the
	// handshake, and a readiness reported before it has rearmed is met by
	// its reading to the end of what is there.
	c.readState.Store(readRunning)
	wake := c.wakeUp // bound once: the poller and AfterClose share it
	var err error
	if !c.ws.FD(func(fd int) bool {
		c.pollKey, err = c.srv.poller.Add(fd, wake)
		return err == nil
	}) {
		c.srv.log.Warn("cannot register a connection with the poller", "err", err)
		c.ws.CloseNow()
	}
	c.ws.AfterClose(wake)
	go c.feed()
}

// wakeUp is called when the socket is readable, or the connection closed:
// unless a goroutine is reading already, one starts. On the poller's
// goroutine, it must not wait.
func (c *conn) wakeUp() {
	if c.readState.CompareAndSwap(readParked, readRunning) {
		go c.feed()
	}
}

// feed is a wake-up's goroutine: it reads what the socket holds, up to
// feedReadsPerWake buffers, pushes it into Feed and handles what that
// completes; then it parks the connection again, or ends it.
func (c *conn) feed() {
	bp := feedBufferPool.Get().(*[]byte)
	err := c.feedSome(*bp)
	feedBufferPool.Put(bp)
	if err != nil {
		c.feedEnd(err)
		return
	}
	c.readState.Store(readParked)
	// A close that came while this goroutine was reading found it running:
	// it is met here. A rearm fails only on a closed connection.
	rearmed := !c.ws.Closed() && c.ws.FD(func(fd int) bool { return c.srv.poller.Rearm(fd, c.pollKey) == nil })
	if !rearmed && c.readState.CompareAndSwap(readParked, readRunning) {
		c.feedEnd(c.ws.FeedEnd(errors.New("the connection was closed")))
	}
}

// feedSome reads and feeds until the socket has nothing more to give now
// (nil) or the connection ends (its error).
func (c *conn) feedSome(buf []byte) error {
	for range feedReadsPerWake {
		n, err := c.ws.ReadAvailable(buf)
		switch {
		case errors.Is(err, wsproto.ErrWouldBlock):
			return nil
		case err != nil:
			return c.ws.FeedEnd(err)
		}
		if err := c.ws.Feed(buf[:n], c.handleMessage); err != nil {
			return err
		}
	}
	return nil
}

// feedEnd ends a fed connection whose reading failed with err. Only the
// goroutine in readRunning calls it, once.
func (c *conn) feedEnd(err error) {
	c.readState.Store(readEnded)
	c.srv.poller.Forget(c.pollKey)
	c.end(c.readFailed(err))
}

// checkSilence closes the fed connections that have been silent for
// longer than PingInterval and PongTimeout together — neither sent
// anything nor were seen reading (see refreshDeadline) — as a read
// deadline would a connection read by a goroutine. The keepalive
// goroutine calls it.
func (s *Server) checkSilence(conns []*conn, now time.Time) {
	idle := s.opts.PingInterval + s.opts.PongTimeout
	for _, c := range conns {
		if c.fed && c.started.Load() && now.Sub(time.Unix(0, c.deadlineSetAt.Load())) > idle {
			c.ws.CloseNow()
		}
	}
}
