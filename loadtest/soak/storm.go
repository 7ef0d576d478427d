package soak

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"ringchat/loadtest"
)

// storm is one storm client: at every storm, a burst of connections
// within a second of each other, it makes one attempt — a connection held
// for 1 to 3 s and left three ways, or, one time in ten, a bad handshake.
func (s *soaker) storm(ctx context.Context, k int) {
	room := s.roomFor(k)
	b := s.stormStats
	first := time.Now().Add(s.cfg.StormEvery / 3)
	for n := 0; ; n++ {
		at := first.Add(time.Duration(n)*s.cfg.StormEvery + jitter(0, time.Second))
		sleepCtx(ctx, time.Until(at))
		if ctx.Err() != nil {
			return
		}
		if (k+n)%10 == 0 {
			cases := stormCases()
			sc := cases[(k/10+n)%len(cases)]
			s.stormBad(ctx, sc, room)
			continue
		}
		c, err := s.dialWS(ctx, b, "storm-"+strconv.Itoa(k), room, 0, 0, "", (k+n)%5 == 2)
		if err != nil {
			if ctx.Err() == nil {
				b.problem("could not connect: " + loadtest.ErrorKind(err))
			}
			continue
		}
		done := make(chan struct{})
		go func() { discard(c.ws); close(done) }()
		sleepCtx(ctx, jitter(time.Second, 3*time.Second))
		switch (k + n) % 3 {
		case 0:
			c.tcp.SetDeadline(time.Now().Add(closeWait))
			c.ws.Close()
			b.outcome("left with a close frame")
		case 1:
			c.tcp.Close()
			b.outcome("left with a FIN, no close frame")
		default:
			reset(c.tcp)
			b.outcome("left with a reset")
		}
		<-done
	}
}

// stormCase is a bad handshake and the answer it must get.
type stormCase struct {
	name   string
	edit   func(req *handshakeRequest) // changes a valid handshake; nil for raw
	raw    string                      // bytes to send instead of a handshake
	status int                         // the status expected; 0: the server just closes
	// hold, for a slowloris: send part of the request, then nothing, and
	// expect the server to close within its handshake timeout.
	hold bool
}

// stormCases are the bad handshakes of the reconnect storms, with the
// status RFC 6455 (4.2.1, 4.4) and CONTRACT.md name for each.
func stormCases() []stormCase {
	return []stormCase{
		{name: "no Sec-WebSocket-Key", edit: func(r *handshakeRequest) { r.set("Sec-WebSocket-Key", "") }, status: 400},
		{name: "Sec-WebSocket-Key not 16 bytes", edit: func(r *handshakeRequest) { r.set("Sec-WebSocket-Key", "c2hvcnQ=") }, status: 400},
		{name: "Sec-WebSocket-Version 8", edit: func(r *handshakeRequest) { r.set("Sec-WebSocket-Version", "8") }, status: 426},
		{name: "POST", edit: func(r *handshakeRequest) { r.Method = "POST" }, status: 405},
		{name: "foreign Origin", edit: func(r *handshakeRequest) { r.set("Origin", "http://evil.example") }, status: 403},
		{name: "no Upgrade header", edit: func(r *handshakeRequest) { r.set("Upgrade", "") }, status: 400},
		{name: "HTTP/1.0", edit: func(r *handshakeRequest) { r.Proto = "HTTP/1.0" }, status: 400},
		{name: "invalid room name", edit: func(r *handshakeRequest) {
			r.Target = strings.Replace(r.Target, "room=", "room=no+spaces+allowed&was=", 1)
		}, status: 400},
		{name: "name too long", edit: func(r *handshakeRequest) { r.Target += "&name=" + strings.Repeat("n", 40) }, status: 400},
		{name: "not HTTP", raw: "HELLO WEBSOCKET\r\n\r\n", status: 400},
		{name: "slowloris (headers never finished)", raw: "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n", hold: true},
	}
}

// stormBad makes one bad handshake and checks the answer.
func (s *soaker) stormBad(parent context.Context, sc stormCase, room *room) {
	b := s.stormStats
	wait := closeWait
	if sc.hold {
		wait += s.cfg.HandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(parent, wait)
	defer cancel()
	c, err := dialTCP(ctx, s.tgt.HostPort, 0)
	if err != nil {
		if ctx.Err() == nil {
			b.problem("could not connect: " + loadtest.ErrorKind(err))
		}
		return
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if sc.raw != "" {
		if _, err := c.Write([]byte(sc.raw)); err != nil {
			b.problem(sc.name + ": write failed: " + loadtest.ErrorKind(err))
			return
		}
		if sc.hold {
			start := time.Now()
			var one [1]byte
			_, err := c.Read(one[:])
			switch {
			case parent.Err() != nil:
				// The soak ended first.
			case err == nil:
				b.outcome(sc.name + ": answered")
			case ctx.Err() != nil:
				b.problem(fmt.Sprintf("%s: still open after %v", sc.name, time.Since(start).Round(time.Second)))
			default:
				b.outcome(sc.name + ": closed by the server")
			}
			return
		}
		resp, err := readResponse(c)
		s.checkStatus(parent, sc, resp, err)
		return
	}
	req, key := newHandshake(s.tgt.HostPort, chatTarget(s.path, url.Values{"room": {room.name}}))
	sc.edit(&req)
	rc, resp, err := rawHandshake(ctx, c, req, key)
	if rc != nil {
		b.problem(sc.name + ": accepted")
		return
	}
	s.checkStatus(parent, sc, resp, err)
}

// checkStatus checks the answer to a bad handshake; parent is the soak's
// context, which may have ended during the attempt.
func (s *soaker) checkStatus(parent context.Context, sc stormCase, resp *http.Response, err error) {
	b := s.stormStats
	switch {
	case err != nil && parent.Err() != nil:
		// The soak ended during the attempt.
	case err != nil:
		b.problem(sc.name + ": no answer: " + loadtest.ErrorKind(err))
	case resp.StatusCode != sc.status:
		b.problem(fmt.Sprintf("%s: status %d, want %d", sc.name, resp.StatusCode, sc.status))
	case sc.status == 426 && resp.Header.Get("Sec-WebSocket-Version") != "13":
		b.problem(sc.name + ": 426 without Sec-WebSocket-Version: 13")
	default:
		b.outcome(fmt.Sprintf("%s: %d", sc.name, resp.StatusCode))
	}
}

// readResponse reads an HTTP response from c.
func readResponse(c net.Conn) (*http.Response, error) {
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}
