package floor

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
)

// Server is the least a chat server can do: it accepts WebSocket
// connections, sends the welcome, and writes each chat message, encoded
// and framed once, to every member of the room with one plain write per
// member. The writes are shared by GOMAXPROCS writer goroutines per room,
// each serving the members dealt to it as they joined, so that the floor
// uses the machine's cores as a server would. Measuring it with the same
// clients as the real server shows the floor that the kernel, loopback TCP
// and the generator itself impose. It has no commands, join or leave
// events, limits or slow-client policy: a member that stops reading stalls
// its writer, and in time its room.
//
// Close stops it; the other methods are safe for concurrent use.
type Server struct {
	ln    net.Listener
	quit  chan struct{} // closed by Close: the writers stop
	wg    sync.WaitGroup
	mu    sync.Mutex
	rooms map[string]*floorRoom
	conns map[net.Conn]struct{}
	done  bool
}

type floorRoom struct {
	mu      sync.Mutex // held while handing an event to the writers, for id order
	name    string
	lastID  uint64
	writers []*floorWriter
	deal    int // the writer the next member goes to
}

// floorWriter is one of a room's writer goroutines. Everything for its
// members — who joins, who leaves, the frames to write — arrives in order
// on ops.
type floorWriter struct {
	ops chan floorOp
}

// floorOp is a join (conn with its welcome frame), a leave (conn alone) or
// a frame for every member (frame alone).
type floorOp struct {
	conn  net.Conn
	frame []byte
}

// floorQueue is how many operations a writer may have waiting before the
// room's reader waits for it.
const floorQueue = 256

// Listen starts a Server on addr, such as "127.0.0.1:0".
func Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("loadtest: floor server: %w", err)
	}
	s := &Server{ln: ln, quit: make(chan struct{}), rooms: make(map[string]*floorRoom), conns: make(map[net.Conn]struct{})}
	s.wg.Go(s.accept)
	return s, nil
}

// URL returns the ws:// URL of the server.
func (s *Server) URL() string { return "ws://" + s.ln.Addr().String() + "/ws" }

// Close stops the server, closes every connection and waits for its
// goroutines.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	if !s.done {
		close(s.quit)
	}
	s.done = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		})
	}
}

// send hands op to w, unless the server is closing; it reports whether it
// did.
func (s *Server) send(w *floorWriter, op floorOp) bool {
	select {
	case w.ops <- op:
		return true
	case <-s.quit:
		return false
	}
}

// write is a writer goroutine: it keeps its members and writes every frame
// to each of them, one write per member, in the order the frames came.
func (s *Server) write(w *floorWriter) {
	members := make(map[net.Conn]struct{})
	for {
		var op floorOp
		select {
		case op = <-w.ops:
		case <-s.quit:
			return
		}
		switch {
		case op.conn != nil && op.frame != nil: // join: the welcome first
			if _, err := op.conn.Write(op.frame); err == nil {
				members[op.conn] = struct{}{}
			}
		case op.conn != nil: // leave
			delete(members, op.conn)
		default:
			for m := range members {
				m.Write(op.frame) // a failed member leaves when its reader notices
			}
		}
	}
}

// websocketGUID is the key suffix of RFC 6455 section 1.3.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func (s *Server) serve(c net.Conn) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	if key == "" || req.Header.Get("Upgrade") == "" {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nnot a WebSocket handshake\n")
		return
	}
	sum := sha1.Sum([]byte(key + websocketGUID))
	_, err = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
		base64.StdEncoding.EncodeToString(sum[:])+"\r\n\r\n")
	if err != nil {
		return
	}
	q := req.URL.Query()
	name, room := q.Get("name"), s.room(q.Get("room"))

	room.mu.Lock()
	w := room.writers[room.deal%len(room.writers)]
	room.deal++
	welcome := fmt.Sprintf(`{"type":"welcome","name":%s,"room":%s,"id":%d,"epoch":"floor"}`, jsonString(name), jsonString(room.name), room.lastID)
	joined := s.send(w, floorOp{conn: c, frame: textFrame([]byte(welcome))})
	room.mu.Unlock()
	if !joined {
		return
	}
	defer s.send(w, floorOp{conn: c})

	prefix := `,"room":` + jsonString(room.name) + `,"from":` + jsonString(name) + `,"text":`
	for {
		op, payload, err := readFrame(br)
		if err != nil || op == 0x8 { // close
			return
		}
		if op != 0x1 { // only text frames are chat messages
			continue
		}
		room.mu.Lock()
		room.lastID++
		ev := `{"type":"message","id":` + strconv.FormatUint(room.lastID, 10) + prefix + jsonString(string(payload)) + `}`
		frame := textFrame([]byte(ev))
		for _, w := range room.writers {
			s.send(w, floorOp{frame: frame})
		}
		room.mu.Unlock()
	}
}

func (s *Server) room(name string) *floorRoom {
	if name == "" {
		name = "lobby"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil {
		r = &floorRoom{name: name, writers: make([]*floorWriter, runtime.GOMAXPROCS(0))}
		for i := range r.writers {
			w := &floorWriter{ops: make(chan floorOp, floorQueue)}
			r.writers[i] = w
			s.wg.Go(func() { s.write(w) })
		}
		s.rooms[name] = r
	}
	return r
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // cannot fail for a string
	return string(b)
}
