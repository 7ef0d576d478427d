package wsproto_test

// Interoperability with golang.org/x/net/websocket, an independent RFC 6455
// implementation, in both directions: our Accept with its client, its
// server with our Dial.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"ringchat/wsproto"
)

// xmsg is a message as x/net/websocket sees it: payload and frame type.
type xmsg struct {
	typ  byte // websocket.TextFrame or websocket.BinaryFrame
	data []byte
}

// typed sends and receives single frames keeping their type, which
// x/net/websocket's Message codec does not report.
var typed = websocket.Codec{
	Marshal: func(v any) ([]byte, byte, error) {
		m := v.(xmsg)
		return m.data, m.typ, nil
	},
	Unmarshal: func(data []byte, typ byte, v any) error {
		*v.(*xmsg) = xmsg{typ, data}
		return nil
	},
}

// interopSizes are the payload sizes around each length encoding of RFC
// 6455 5.2, and up to our default MaxMessageSize.
var interopSizes = []int{0, 1, 125, 126, 65535, 65536, 1 << 20}

// payloadOf returns n bytes of valid UTF-8 that vary, so a shifted or
// mis-masked byte shows.
func payloadOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i*7%26)
	}
	return b
}

// opOf maps an x/net frame type to our opcode.
func opOf(typ byte) wsproto.Opcode { return wsproto.Opcode(typ) }

// TestInteropOurServerTheirClient runs x/net/websocket's client against
// Accept: typed echo at every size, a fragmented message from our server, a
// ping from our server, and the close handshake from each side.
func TestInteropOurServerTheirClient(t *testing.T) {
	type serverEnd struct {
		err   error    // how the server's reading ended
		pongs []string // pongs the server saw
	}
	ends := make(chan serverEnd, 4)
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsproto.Accept(w, r, &wsproto.AcceptOptions{
			Subprotocols: []string{"chat"},
			ConnOptions:  wsproto.ConnOptions{WriteBufferSize: 1000},
		})
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		wg.Go(func() {
			defer c.CloseNow()
			var end serverEnd
			c.SetPongHandler(func(p []byte) error { end.pongs = append(end.pongs, string(p)); return nil })
			var buf []byte
			for {
				op, p, err := c.ReadMessage(buf)
				if err != nil {
					end.err = err
					ends <- end
					return
				}
				buf = p
				cmd, arg, _ := strings.Cut(string(p), ":")
				switch {
				case op == wsproto.OpText && cmd == "fragment":
					// Send arg bytes as a fragmented message.
					n, _ := strconv.Atoi(arg)
					w, _ := c.NextWriter(wsproto.OpBinary)
					w.Write(payloadOf(n))
					err = w.Close()
				case op == wsproto.OpText && cmd == "ping":
					err = c.WritePing([]byte(arg))
				case op == wsproto.OpText && cmd == "close":
					code, _ := strconv.Atoi(arg)
					err = c.Close(wsproto.CloseCode(code), "server done")
					end.err = err
					ends <- end
					return
				default:
					err = c.WriteMessage(op, p)
				}
				if err != nil {
					end.err = err
					ends <- end
					return
				}
			}
		})
	}))
	defer srv.Close()
	defer wg.Wait()

	dial := func(t *testing.T) *websocket.Conn {
		t.Helper()
		// Same origin as the server: allowed by the default policy.
		cfg, err := websocket.NewConfig("ws://"+srv.Listener.Addr().String()+"/ws", "http://"+srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Protocol = []string{"chat"}
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		ws, err := cfg.DialContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ws.SetDeadline(time.Now().Add(waitLong))
		if got := ws.Config().Protocol; len(got) != 1 || got[0] != "chat" {
			t.Errorf("negotiated subprotocols %q, want [chat]", got)
		}
		return ws
	}
	serverEnded := func(t *testing.T) serverEnd {
		t.Helper()
		select {
		case e := <-ends:
			return e
		case <-time.After(waitLong):
			t.Fatal("the server never finished")
		}
		panic("unreachable")
	}

	t.Run("echo, client closes with 1000", func(t *testing.T) {
		ws := dial(t)
		for _, typ := range []byte{websocket.TextFrame, websocket.BinaryFrame} {
			for _, n := range interopSizes {
				want := xmsg{typ, payloadOf(n)}
				if err := typed.Send(ws, want); err != nil {
					t.Fatal(err)
				}
				var got xmsg
				if err := typed.Receive(ws, &got); err != nil {
					t.Fatalf("%d bytes: %v", n, err)
				}
				if got.typ != typ || !bytes.Equal(got.data, want.data) {
					t.Fatalf("echo of %v %d bytes came back as %v %d bytes", opOf(typ), n, opOf(got.typ), len(got.data))
				}
			}
		}
		if err := ws.Close(); err != nil { // sends close 1000
			t.Fatal(err)
		}
		if e := serverEnded(t); wsproto.CloseStatus(e.err) != wsproto.CloseNormal {
			t.Fatalf("server ended with %v, want the client's close 1000", e.err)
		}
	})

	t.Run("fragmented message from our server", func(t *testing.T) {
		ws := dial(t)
		for _, n := range []int{999, 1000, 1001, 65536, 1 << 20} {
			if err := typed.Send(ws, xmsg{websocket.TextFrame, fmt.Appendf(nil, "fragment:%d", n)}); err != nil {
				t.Fatal(err)
			}
			// x/net's Conn.Read streams the payload across fragments.
			got := make([]byte, n)
			if _, err := io.ReadFull(ws, got); err != nil {
				t.Fatalf("%d bytes: %v", n, err)
			}
			if !bytes.Equal(got, payloadOf(n)) {
				t.Fatalf("fragmented message of %d bytes garbled", n)
			}
		}
		ws.Close()
		serverEnded(t)
	})

	t.Run("ping from our server answered by theirs", func(t *testing.T) {
		ws := dial(t)
		typed.Send(ws, xmsg{websocket.TextFrame, []byte("ping:are you there")})
		// x/net answers pings while it reads; give it something to read.
		typed.Send(ws, xmsg{websocket.TextFrame, []byte("after")})
		var got xmsg
		if err := typed.Receive(ws, &got); err != nil || string(got.data) != "after" {
			t.Fatalf("Receive = %q, %v", got.data, err)
		}
		typed.Send(ws, xmsg{websocket.TextFrame, []byte("sync")})
		typed.Receive(ws, &got)
		ws.Close()
		e := serverEnded(t)
		if len(e.pongs) != 1 || e.pongs[0] != "are you there" {
			t.Fatalf("server saw pongs %q", e.pongs)
		}
	})

	t.Run("our server closes with 4000", func(t *testing.T) {
		ws := dial(t)
		typed.Send(ws, xmsg{websocket.TextFrame, []byte("close:4000")})
		var got xmsg
		if err := typed.Receive(ws, &got); err != io.EOF {
			t.Fatalf("Receive = %v, want io.EOF at our close frame", err)
		}
		ws.Close() // x/net answers only now, with 1000
		if e := serverEnded(t); e.err != nil {
			t.Fatalf("our Close = %v, want nil: the client answered", e.err)
		}
	})
}

// TestInteropTheirServerOurClient runs Dial against x/net/websocket's
// server: typed echo at every size, our fragmented messages read by its
// streaming Read, a ping answered by it, and the close handshake.
func TestInteropTheirServerOurClient(t *testing.T) {
	xsrv := websocket.Server{
		// x/net checks Origin by default; our client sends none.
		Handshake: func(cfg *websocket.Config, r *http.Request) error {
			for _, p := range cfg.Protocol {
				if p == "chat" {
					cfg.Protocol = []string{"chat"}
					return nil
				}
			}
			cfg.Protocol = nil
			return nil
		},
		Handler: func(ws *websocket.Conn) {
			defer ws.Close() // sends close 1000
			ws.SetDeadline(time.Now().Add(waitLong))
			switch ws.Request().URL.Path {
			case "/echo":
				for {
					var m xmsg
					if err := typed.Receive(ws, &m); err != nil {
						return
					}
					if err := typed.Send(ws, m); err != nil {
						return
					}
				}
			case "/stream":
				// Read a message of n bytes, in whatever fragments, and
				// answer with one binary frame.
				n, _ := strconv.Atoi(ws.Request().URL.Query().Get("n"))
				buf := make([]byte, n)
				if _, err := io.ReadFull(ws, buf); err != nil {
					return
				}
				typed.Send(ws, xmsg{websocket.BinaryFrame, buf})
				var m xmsg
				typed.Receive(ws, &m) // until our close
			case "/bye":
				// Close right away: x/net sends 1000 and drops TCP.
			}
		},
	}
	srv := httptest.NewServer(xsrv)
	defer srv.Close()
	base := "ws://" + srv.Listener.Addr().String()
	dial := func(t *testing.T, path string) *wsproto.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		c, _, err := wsproto.Dial(ctx, base+path, &wsproto.DialOptions{
			Subprotocols: []string{"chat"},
			ConnOptions:  wsproto.ConnOptions{WriteBufferSize: 1000, CloseTimeout: 2 * time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		c.SetReadDeadline(time.Now().Add(waitLong))
		if c.Subprotocol() != "chat" {
			t.Errorf("subprotocol %q, want chat", c.Subprotocol())
		}
		return c
	}

	t.Run("echo, our client closes", func(t *testing.T) {
		c := dial(t, "/echo")
		var pongs []string
		c.SetPongHandler(func(p []byte) error { pongs = append(pongs, string(p)); return nil })
		for _, op := range []wsproto.Opcode{wsproto.OpText, wsproto.OpBinary} {
			for _, n := range interopSizes {
				want := payloadOf(n)
				if err := c.WriteMessage(op, want); err != nil {
					t.Fatal(err)
				}
				gotOp, got, err := c.ReadMessage(nil)
				if err != nil || gotOp != op || !bytes.Equal(got, want) {
					t.Fatalf("echo of %v %d bytes: %v %d bytes, %v", op, n, gotOp, len(got), err)
				}
			}
		}
		if err := c.WritePing([]byte("hello x/net")); err != nil {
			t.Fatal(err)
		}
		c.WriteMessage(wsproto.OpText, []byte("sync"))
		if _, p, err := c.ReadMessage(nil); err != nil || string(p) != "sync" {
			t.Fatalf("ReadMessage = %q, %v", p, err)
		}
		if len(pongs) != 1 || pongs[0] != "hello x/net" {
			t.Errorf("pongs %q, want the answer to our ping", pongs)
		}
		// x/net does not echo our close frame, but ends its handler with
		// its own close 1000: the close handshake completes.
		if err := c.Close(wsproto.CloseNormal, "bye"); err != nil {
			t.Fatalf("Close = %v", err)
		}
	})

	t.Run("our fragmented messages", func(t *testing.T) {
		for _, n := range []int{1, 999, 1000, 1001, 65536, 1 << 20} {
			c := dial(t, fmt.Sprintf("/stream?n=%d", n))
			w, err := c.NextWriter(wsproto.OpBinary)
			if err != nil {
				t.Fatal(err)
			}
			want := payloadOf(n)
			for p := want; len(p) > 0; {
				k := min(len(p), 333)
				w.Write(p[:k])
				p = p[k:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, got, err := c.ReadMessage(nil)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%d bytes: got %d bytes, %v", n, len(got), err)
			}
			if err := c.Close(wsproto.CloseNormal, ""); err != nil {
				t.Fatalf("Close = %v", err)
			}
		}
	})

	t.Run("their server closes with 1000", func(t *testing.T) {
		c := dial(t, "/bye")
		_, _, err := c.ReadMessage(nil)
		var ce *wsproto.CloseError
		if !errors.As(err, &ce) || ce.Code != wsproto.CloseNormal {
			t.Fatalf("ReadMessage = %v, want x/net's close 1000", err)
		}
	})
}
