package loadtest

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
	"ringchat/loadtest/procstat"
	"ringchat/wsproto"
)

// benchEvent is a message event as the chat server sends it for a
// 100-byte message.
var benchEvent = []byte(`{"type":"message","id":123456,"room":"loadtest-0","from":"lt-0","text":"lt 0a1b2c3d 0 99 1700000000000000000 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","time":"2026-01-01T00:00:00.000Z"}`)

// benchWire connects a client of kind to a bare server on loopback TCP and
// returns the client's wire and the server's side of the connection.
func benchWire(b *testing.B, kind ClientKind) (wire, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			c.Close()
			accepted <- nil
			return
		}
		c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			acceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"))
		accepted <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	u := &url.URL{Scheme: "ws", Host: ln.Addr().String(), Path: "/ws"}
	var w wire
	switch kind {
	case ClientRaw:
		rc, err := dialRaw(nc, u, "http://"+u.Host, 64<<10, false)
		if err != nil {
			b.Fatal(err)
		}
		w = rc
	default:
		ws, err := websocket.NewClient(&websocket.Config{Location: u, Origin: &url.URL{Scheme: "http", Host: u.Host}, Version: websocket.ProtocolVersionHybi13}, nc)
		if err != nil {
			b.Fatal(err)
		}
		w = &xnetWire{ws: ws}
	}
	srv := <-accepted
	if srv == nil {
		b.Fatal("the server side did not accept")
	}
	b.Cleanup(func() { srv.Close(); nc.Close() })
	return w, srv
}

// BenchmarkClientRead measures what a client costs per event it receives
// and scans, x/net's beside the raw client's: burst=1 sends each event
// when the reader has handled the last one, so that every event is a read
// of its own after a wait (a server keeping up at a low rate); burst=64
// writes 64 events at once (a reader that has fallen behind and reads
// many per system call). The time per op is the whole client side: read
// system calls, the poller's wake-up, framing, ScanEvent; cpu-ns/op is the
// CPU time of the process (the server side's writes included, the same
// for both) per event.
func BenchmarkClientRead(b *testing.B) {
	frame := wsproto.AppendFrame(nil, wsproto.OpText, benchEvent)
	for _, burst := range []int{1, 64} {
		for _, kind := range []ClientKind{ClientXNet, ClientRaw} {
			b.Run("client="+string(kind)+"/burst="+strconv.Itoa(burst), func(b *testing.B) {
				w, srv := benchWire(b, kind)
				burstBytes := make([]byte, 0, burst*len(frame))
				for range burst {
					burstBytes = append(burstBytes, frame...)
				}
				handled := make(chan struct{}, 1)
				var readErr error
				var wg sync.WaitGroup
				n := 0
				wg.Go(func() {
					readErr = w.each(func(m []byte) {
						if _, err := ScanEvent(m); err != nil {
							b.Error(err)
						}
						if n++; n%burst == 0 {
							handled <- struct{}{}
						}
					})
				})
				b.SetBytes(int64(len(frame)))
				b.ResetTimer()
				cpu0 := procstat.SelfCPU()
				for i := 0; i < b.N; i += burst {
					if _, err := srv.Write(burstBytes); err != nil {
						b.Fatal(err)
					}
					select {
					case <-handled:
					case <-time.After(10 * time.Second):
						b.Fatal("the reader did not handle the events")
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(procstat.SelfCPU()-cpu0)/float64(b.N), "cpu-ns/op")
				srv.Close()
				wg.Wait()
				_ = readErr
			})
		}
	}
}
