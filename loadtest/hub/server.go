package hub

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/wsproto"
)

// The example's constants (gorilla/websocket examples/chat/client.go).
const (
	writeWait  = 10 * time.Second    // to write a message
	pongWait   = 60 * time.Second    // to read the next frame or pong
	pingPeriod = (pongWait * 9) / 10 // must be less than pongWait
	// sendBuffer is each client's channel: make(chan []byte, 256).
	sendBuffer = 256
	// maxMessage is the longest message a client may send. The example's
	// is 512 bytes; the load generator sends up to 1 MiB.
	maxMessage = 1 << 20
)

// Server is the hub server: one hub goroutine per room and two goroutines
// and a 256-message channel per client, as in gorilla/websocket's chat
// example. Close stops it; URL is safe for concurrent use.
type Server struct {
	ln   net.Listener
	http *http.Server
	quit chan struct{} // closed by Close: hubs, readers and writers stop
	wg   sync.WaitGroup
	// writeWait is the example's constant; tests shorten it.
	writeWait time.Duration

	guests atomic.Uint64

	mu     sync.Mutex
	rooms  map[string]*room
	conns  map[*wsproto.Conn]struct{}
	closed bool
}

// room is one hub: the example's Hub, one per room.
type room struct {
	name       string
	register   chan *client
	unregister chan *client
	broadcast  chan message
}

// client is the example's Client: the connection and its send channel.
type client struct {
	conn *wsproto.Conn
	name string
	send chan []byte // framed events, for the writer
}

// message is what a reader hands its hub: who sent which text.
type message struct {
	from string
	text []byte
}

// Listen starts a Server on addr, such as "127.0.0.1:0".
func Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("loadtest: hub server: %w", err)
	}
	s := &Server{ln: ln, quit: make(chan struct{}), writeWait: writeWait, rooms: make(map[string]*room), conns: make(map[*wsproto.Conn]struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	mux.HandleFunc("/", s.serveWS)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Go(func() { s.http.Serve(ln) })
	return s, nil
}

// URL returns the ws:// URL of the server.
func (s *Server) URL() string { return "ws://" + s.ln.Addr().String() + "/ws" }

// Close stops the server: it stops accepting, stops the hubs, closes
// every connection and waits for all its goroutines.
func (s *Server) Close() error {
	err := s.http.Close() // the listener, and connections not yet hijacked
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.quit)
	}
	for c := range s.conns {
		c.CloseNow()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// serveWS is the example's serveWs and readPump: it accepts the
// connection, registers the client with its room's hub, starts its writer
// and hands every message it reads to the hub.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "hub server: closing", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1) // under mu, so that Close's Wait sees it
	s.mu.Unlock()
	defer s.wg.Done()

	conn, err := wsproto.Accept(w, r, &wsproto.AcceptOptions{ConnOptions: wsproto.ConnOptions{MaxMessageSize: maxMessage}})
	if err != nil {
		return // Accept has answered
	}
	if !s.track(conn) {
		conn.CloseNow()
		return
	}
	defer s.untrack(conn)

	q := r.URL.Query()
	name, roomName := q.Get("name"), q.Get("room")
	if name == "" {
		name = "guest-" + strconv.FormatUint(s.guests.Add(1), 10)
	}
	if roomName == "" {
		roomName = "lobby"
	}
	h := s.room(roomName)
	c := &client{conn: conn, name: name, send: make(chan []byte, sendBuffer)}
	if !s.hand(h.register, c) {
		conn.CloseNow()
		return
	}
	s.wg.Go(func() { s.writePump(c) })

	defer func() {
		s.hand(h.unregister, c)
		conn.CloseNow()
	}()
	conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func([]byte) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		op, text, err := conn.ReadMessage(nil) // the hub keeps the text
		if err != nil {
			return
		}
		conn.SetReadDeadline(time.Now().Add(pongWait))
		if op != wsproto.OpText {
			continue
		}
		select {
		case h.broadcast <- message{from: name, text: text}:
		case <-s.quit:
			return
		}
	}
}

// hand sends c on ch to a hub, unless the server is closing; it reports
// whether it did.
func (s *Server) hand(ch chan<- *client, c *client) bool {
	select {
	case ch <- c:
		return true
	case <-s.quit:
		return false
	}
}

func (s *Server) track(c *wsproto.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *wsproto.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// room returns the hub of the room name, starting it if need be.
func (s *Server) room(name string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.rooms[name]
	if h == nil {
		h = &room{name: name, register: make(chan *client), unregister: make(chan *client), broadcast: make(chan message)}
		s.rooms[name] = h
		s.wg.Go(func() { h.run(s.quit) })
	}
	return h
}

// run is the example's Hub.run, with the event ids and the encoding that
// ringchat's contract asks for: a new client gets the welcome before any
// message, and every message is encoded and framed once, here, and sent
// to every client's channel — or, where the channel is full, the client is
// dropped.
func (h *room) run(quit <-chan struct{}) {
	clients := make(map[*client]bool)
	var lastID uint64
	for {
		select {
		case <-quit:
			return
		case c := <-h.register:
			c.send <- welcomeFrame(c.name, h.name, lastID) // the channel is empty
			clients[c] = true
		case c := <-h.unregister:
			if clients[c] {
				delete(clients, c)
				close(c.send)
			}
		case m := <-h.broadcast:
			lastID++
			frame := messageFrame(lastID, h.name, m.from, m.text)
			for c := range clients {
				select {
				case c.send <- frame:
				default:
					close(c.send)
					delete(clients, c)
				}
			}
		}
	}
}

// writePump is the example's: it writes what the hub queues for c, every
// message queued at the time in one go, and pings c every pingPeriod. When
// the hub closes the channel (c was too slow, or has gone), it sends a
// close frame and ends the connection.
func (s *Server) writePump(c *client) {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		c.conn.CloseNow()
	}()
	frames := make([][]byte, 0, 16)
	for {
		select {
		case f, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(s.writeWait))
			if !ok {
				c.conn.Close(wsproto.ClosePolicyViolation, "too slow")
				return
			}
			frames = append(frames[:0], f)
			for range len(c.send) {
				f, ok := <-c.send
				if !ok {
					break
				}
				frames = append(frames, f)
			}
			if err := c.conn.WriteFrames(frames); err != nil {
				return
			}
			clear(frames) // let the events go
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(s.writeWait))
			if err := c.conn.WritePing(nil); err != nil {
				return
			}
		case <-s.quit:
			return
		}
	}
}

// welcomeFrame is the welcome event of CONTRACT.md, framed.
func welcomeFrame(name, room string, lastID uint64) []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":"welcome","name":`)
	writeJSONString(&b, name)
	b.WriteString(`,"room":`)
	writeJSONString(&b, room)
	b.WriteString(`,"id":`)
	b.WriteString(strconv.FormatUint(lastID, 10))
	b.WriteString(`,"epoch":"hub"}`)
	return wsproto.AppendFrame(nil, wsproto.OpText, b.Bytes())
}

// messageFrame is the message event of CONTRACT.md, framed.
func messageFrame(id uint64, room, from string, text []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":"message","id":`)
	b.WriteString(strconv.FormatUint(id, 10))
	b.WriteString(`,"room":`)
	writeJSONString(&b, room)
	b.WriteString(`,"from":`)
	writeJSONString(&b, from)
	b.WriteString(`,"text":`)
	writeJSONString(&b, string(text))
	b.WriteString(`}`)
	return wsproto.AppendFrame(nil, wsproto.OpText, b.Bytes())
}

// writeJSONString writes s as a JSON string, escaped by JSON's own rules
// only (no HTML escapes), as CONTRACT.md asks of text.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // cannot fail for a string
	b.Truncate(b.Len() - 1) // Encode's newline
}
