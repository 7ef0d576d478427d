package chat

import (
	"sync"
	"time"
)

// The conventional broadcaster, as in gorilla/websocket's chat example (examples/chat/hub.go
// and client.go), reduced to what a broadcast touches: one hub goroutine owning the client set,
// a buffered send channel per client, a non-blocking send to each client per message (a full
// channel gets the client dropped), and one writePump goroutine per client draining its channel.
// The socket is replaced by a byte counter, as in the ring's benchmark.

const (
	hubSendBuffer = 256                         // gorilla: make(chan []byte, 256)
	hubPingPeriod = (60 * time.Second) * 9 / 10 // gorilla: pingPeriod, (pongWait * 9) / 10
)

type hub struct {
	clients    map[*hubClient]bool
	broadcast  chan []byte
	register   chan *hubClient
	unregister chan *hubClient
	quit       chan struct{} // gorilla: ctx.Done()
}

type hubClient struct {
	hub  *hub
	send chan []byte
	conn countingConn
}

func newHub() *hub {
	return &hub{
		clients:    make(map[*hubClient]bool),
		broadcast:  make(chan []byte),
		register:   make(chan *hubClient),
		unregister: make(chan *hubClient),
		quit:       make(chan struct{}),
	}
}

func (h *hub) run() {
	for {
		select {
		case <-h.quit:
			return
		case client := <-h.register:
			h.clients[client] = true
		case client := <-h.unregister:
			if _, ok := h.clients[client]; ok {
				delete(h.clients, client)
				close(client.send)
			}
		case message := <-h.broadcast:
			for client := range h.clients {
				select {
				case client.send <- message:
				default:
					close(client.send)
					delete(h.clients, client)
				}
			}
		}
	}
}

// writePump is gorilla's, with the socket write replaced: it writes one message and the ones
// queued behind it as one batch. delivered is called with the running message count after
// each batch; dropped when the hub closed the channel.
func (c *hubClient) writePump(delivered func(count uint64), dropped func()) {
	ticker := time.NewTicker(hubPingPeriod)
	defer ticker.Stop()
	var count uint64
	for {
		select {
		case message, ok := <-c.send:
			if !ok {
				dropped()
				return
			}
			c.conn.write(message)
			n := len(c.send)
			for range n {
				c.conn.write(newlineBytes)
				c.conn.write(<-c.send)
			}
			c.conn.flush()
			count += uint64(1 + n)
			delivered(count)
		case <-ticker.C:
			c.conn.write(nil) // ping
			c.conn.flush()
		}
	}
}

var newlineBytes = []byte{'\n'}

// startHubBroadcast starts a hub with subs registered clients. publish broadcasts one event as
// a client's readPump does; stop ends the hub and every client goroutine and waits for them.
func startHubBroadcast(subs int, barrier *burstBarrier) (publish func(), stop func()) {
	h := newHub()
	var hubDone, clients sync.WaitGroup
	hubDone.Go(h.run)
	for range subs {
		c := &hubClient{hub: h, send: make(chan []byte, hubSendBuffer)}
		h.register <- c
		clients.Go(func() {
			c.writePump(barrier.consumed, barrier.fail)
		})
	}
	var seq uint64
	publish = func() {
		seq++
		h.broadcast <- encodeBenchEvent(seq)
	}
	stop = func() {
		close(h.quit)
		hubDone.Wait()
		for c := range h.clients { // the hub is gone: close what it did not drop (not a loss now)
			close(c.send)
		}
		clients.Wait()
	}
	return publish, stop
}
