package wsproto

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ConnOptions are the settings of a connection, shared by Accept and Dial.
// The zero value gives the defaults documented on each field.
type ConnOptions struct {
	// MaxMessageSize is the longest message, in bytes, that the read methods
	// accept. A frame that would take a message past it fails the connection
	// with CloseMessageTooBig as soon as its header arrives, before any of its
	// payload is read. 0 means DefaultMaxMessageSize; a negative value means
	// no limit.
	MaxMessageSize int64

	// ReadBufferSize is the size of the buffer frames are read through.
	// Payloads at least this long bypass it. The buffer is taken from a pool
	// shared by all connections when bytes arrive and returned when a message
	// has been read and nothing else is waiting, so an idle connection holds
	// none. 0 means 4096.
	ReadBufferSize int

	// WriteBufferSize is the size of the buffer a client masks its payloads
	// in and NextWriter collects a fragment in. It is allocated on first use,
	// so a server that writes only with WriteMessage and WriteFrames never
	// has one. 0 means 4096.
	WriteBufferSize int

	// WriteTimeout, when positive, fails a write once the peer has made no
	// progress for this long: the connection is then closed. A slow reader
	// that keeps accepting bytes is not timed out, however long the write
	// takes. Progress is the peer's TCP acknowledging bytes (on Linux, where
	// the socket says how many bytes it holds unacknowledged) or the socket
	// taking more of the write. Over TLS, where a write that timed out cannot
	// be resumed, it bounds each write as a whole. 0 means writes wait as
	// long as the deadline set with SetWriteDeadline allows.
	WriteTimeout time.Duration

	// CloseTimeout bounds the close handshake: how long Close waits for the
	// peer's close frame, and how long an endpoint that failed the connection
	// waits for the peer to go away. 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration

	// CompressionThreshold is, when permessage-deflate is in use (see
	// AcceptOptions.Compression and DialOptions.Compression), the shortest
	// payload WriteMessage compresses: shorter messages gain too little to
	// be worth the time. 0 means DefaultCompressionThreshold; a negative
	// value compresses every message. MaxMessageSize applies to a
	// compressed message's size once inflated, and to its compressed size
	// on the wire.
	CompressionThreshold int
}

// Defaults for ConnOptions.
const (
	DefaultMaxMessageSize = 1 << 20
	DefaultCloseTimeout   = 5 * time.Second
	defaultBufferSize     = 4096
	minReadBufferSize     = 128 // holds any frame header with room to spare
)

// Conn is one WebSocket connection, server or client side.
//
// Concurrency: one goroutine reads (ReadMessage, or NextReader and its
// reader) and one goroutine writes data (WriteMessage, WriteFrames,
// NextWriter) at a time; the two may run at once. Control frames — WritePing,
// WritePong, Close, and the pong or close the reading goroutine sends by
// itself — may be sent from any goroutine at any time: every frame is written
// whole under the connection's write lock, so a control frame never lands
// inside a data frame (it may fall between the fragments of a message, as
// RFC 6455 5.4 allows). CloseNow, the deadline setters and the accessors are
// safe for concurrent use.
//
// Errors are final: once a read method returns an error, the connection is
// closed and every later read returns the same error; once a write fails,
// the connection is closed.
type Conn struct {
	netConn      net.Conn
	subprotocol  string
	closeTimeout time.Duration
	writeTimeout time.Duration

	// The read side, owned by the goroutine holding readMu.
	readMu      sync.Mutex
	rbuf        []byte // rbuf[rpos:rend] is read but not yet parsed; nil between messages
	rbufp       *[]byte
	rbufSize    int
	rbufPool    *sync.Pool      // where rbuf comes from and returns to; nil: owned
	rawConn     syscall.RawConn // for waiting without a buffer; nil if netConn has no file descriptor
	rpos, rend  int
	readLimit   int64 // 0: no limit
	readErr     error // sticky
	frameLeft   int64 // payload bytes of the current data frame still to read
	frameFin    bool
	frameMasked bool
	frameKey    [4]byte
	msgOp       Opcode // OpText or OpBinary while a message is open, else 0
	msgDeflated bool   // the open message is compressed (RSV1 on its first frame)
	msgUTF8     utf8Validator
	server      bool // set once by newConn; here and below, where it fills what would be padding
	deflate     bool // permessage-deflate negotiated (RFC 7692), without context takeover both ways
	keyPos      int
	msgLen      int64 // payload bytes declared so far by the open message's frames
	msgReader   messageReader
	pingHandler func(payload []byte) error
	pongHandler func(payload []byte) error
	fs          feedState // Feed's, between its calls

	// The write side, guarded by wmu.
	wmu             sync.Mutex
	closeSent       bool
	whdr            [MaxHeaderSize]byte
	wbuf            []byte         // MaxHeaderSize of headroom, then WriteBufferSize of payload
	writeBufferSize int32          // at most maxBufferSize
	compressMin     int32          // the shortest payload WriteMessage compresses
	msgWriter       *messageWriter // made by the first NextWriter

	closeOnce     sync.Once
	closeReceived atomic.Bool // a valid close frame arrived from the peer
	doneMu        sync.Mutex
	done          chan struct{} // made by the first Done call
	afterClose    func()        // see AfterClose; under doneMu
	isClosed      atomic.Bool
	feeding       atomic.Bool // Feed has been called: the read methods are not used
	writeProgress func()      // see SetWriteProgressHandler; nil for none
}

// maxBufferSize bounds the sizes a Conn keeps in 32 bits: a write buffer
// or compression threshold past 1 GiB means nothing more than 1 GiB does.
const maxBufferSize = 1 << 30

// newConn wraps netConn after a successful handshake. buffered holds bytes
// the handshake reader had already taken from netConn past the handshake: the
// peer's first frames may arrive in the same packet.
func newConn(netConn net.Conn, server bool, buffered []byte, subprotocol string, opts *ConnOptions) *Conn {
	if opts == nil {
		opts = &ConnOptions{}
	}
	c := &Conn{
		netConn:         netConn,
		server:          server,
		subprotocol:     subprotocol,
		closeTimeout:    opts.CloseTimeout,
		writeTimeout:    opts.WriteTimeout,
		readLimit:       opts.MaxMessageSize,
		writeBufferSize: int32(min(opts.WriteBufferSize, maxBufferSize)),
	}
	if c.closeTimeout <= 0 {
		c.closeTimeout = DefaultCloseTimeout
	}
	switch {
	case c.readLimit == 0:
		c.readLimit = DefaultMaxMessageSize
	case c.readLimit < 0:
		c.readLimit = 0
	}
	if c.writeBufferSize <= 0 {
		c.writeBufferSize = defaultBufferSize
	}
	switch t := opts.CompressionThreshold; {
	case t == 0:
		c.compressMin = DefaultCompressionThreshold
	case t < 0:
		c.compressMin = 0
	default:
		c.compressMin = int32(min(t, maxBufferSize))
	}
	size := opts.ReadBufferSize
	if size <= 0 {
		size = defaultBufferSize
	}
	c.rbufSize = max(size, minReadBufferSize)
	c.rbufPool = readBufferPool(c.rbufSize)
	if len(buffered) > 0 {
		if len(buffered) > c.rbufSize {
			c.rbufPool = nil // an odd size: this connection keeps its own buffer
			c.rbufSize = len(buffered)
		}
		c.acquireReadBuffer()
		c.rend = copy(c.rbuf, buffered)
	}
	if sc, ok := netConn.(syscall.Conn); ok {
		c.rawConn, _ = sc.SyscallConn()
	}
	c.msgReader.c = c
	return c
}

// Subprotocol returns the subprotocol agreed in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// NetConn returns the underlying connection. Reading from or writing to it
// directly corrupts the WebSocket stream; it is meant for socket options and
// addresses.
func (c *Conn) NetConn() net.Conn { return c.netConn }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.netConn.RemoteAddr() }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.netConn.LocalAddr() }

// SetReadDeadline sets the deadline for the read methods; a read that hits it
// fails and closes the connection. The zero time means no deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.netConn.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for writes; a write that hits it fails
// and closes the connection. The zero time means no deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.netConn.SetWriteDeadline(t) }

// SetPingHandler replaces what happens when a ping arrives. By default the
// connection answers with a pong carrying the same payload (RFC 6455 5.5.2).
// The handler runs on the reading goroutine; payload is valid only during the
// call. An error from it ends the connection and is returned by the read
// method. Set it before reading starts.
func (c *Conn) SetPingHandler(h func(payload []byte) error) { c.pingHandler = h }

// SetWriteProgressHandler sets a function that a write which has to wait
// (WriteFrames, WriteMessage and the like; not TryWriteFrames) calls when
// it sees the peer make progress: the write ends, or takes bytes, or the
// peer acknowledges bytes sent — with a WriteTimeout it looks every quarter
// of it. A peer that makes progress is reading, and so alive, even when
// what it should answer (a pong) is queued behind what it has still to
// read. The handler runs on the writing goroutine, with the write lock
// held: it must be quick and must not write. Set it before the connection
// is used.
func (c *Conn) SetWriteProgressHandler(h func()) { c.writeProgress = h }

// SetPongHandler sets a function called with the payload of each pong that
// arrives, on the reading goroutine, for keepalive accounting. payload is
// valid only during the call. An error from it ends the connection and is
// returned by the read method. Set it before reading starts.
func (c *Conn) SetPongHandler(h func(payload []byte) error) { c.pongHandler = h }

// Done returns a channel that is closed when the underlying connection has
// been closed, by either side, for any reason. (The channel is made on the
// first call: a connection nobody waits on does not carry one.)
func (c *Conn) Done() <-chan struct{} {
	c.doneMu.Lock()
	defer c.doneMu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.isClosed.Load() {
			close(c.done)
		}
	}
	return c.done
}

// AfterClose sets a function called once the underlying connection has been
// closed, by either side, for any reason: on the goroutine that closed it,
// or at once on the caller's if it is closed already. It is for a reader
// that has no goroutine waiting on the connection (see Feed), which would
// otherwise not learn that a write failed or a Close timed out. f must not
// block. Set it once.
func (c *Conn) AfterClose(f func()) {
	c.doneMu.Lock()
	if !c.isClosed.Load() {
		c.afterClose = f
		c.doneMu.Unlock()
		return
	}
	c.doneMu.Unlock()
	f()
}

// Closed reports whether the underlying connection has been closed.
func (c *Conn) Closed() bool { return c.isClosed.Load() }

// CloseNow closes the underlying connection at once, without a close
// handshake. It is safe to call more than once and from any goroutine.
func (c *Conn) CloseNow() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.netConn.Close()
		c.doneMu.Lock()
		c.isClosed.Store(true)
		if c.done != nil {
			close(c.done)
		}
		f := c.afterClose
		c.afterClose = nil
		c.doneMu.Unlock()
		if f != nil {
			f()
		}
	})
	return err
}

// readBufferPools holds a pool of read buffers per buffer size.
var readBufferPools sync.Map // int → *sync.Pool

func readBufferPool(size int) *sync.Pool {
	if p, ok := readBufferPools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := readBufferPools.LoadOrStore(size, &sync.Pool{New: func() any {
		b := make([]byte, size)
		return &b
	}})
	return p.(*sync.Pool)
}

// acquireReadBuffer makes sure rbuf is there. The reading goroutine holds
// readMu.
func (c *Conn) acquireReadBuffer() {
	if c.rbuf != nil {
		return
	}
	if c.rbufPool == nil {
		c.rbuf = make([]byte, c.rbufSize)
		return
	}
	c.rbufp = c.rbufPool.Get().(*[]byte)
	c.rbuf = *c.rbufp
}

// releaseReadBuffer returns rbuf to its pool when it holds nothing unread.
// The reading goroutine holds readMu.
func (c *Conn) releaseReadBuffer() {
	if c.rbuf == nil || c.rpos < c.rend || c.rbufPool == nil {
		return
	}
	c.rbufPool.Put(c.rbufp)
	c.rbuf, c.rbufp = nil, nil
	c.rpos, c.rend = 0, 0
}

// controlBuffer holds one control frame: its header and up to 125 bytes.
type controlBuffer [MaxHeaderSize + maxControlPayload]byte

// controlPool holds the buffers control frames are read, built and written
// in, and that a discarded payload passes through: a connection needs one
// only for a moment, now and then.
var controlPool = sync.Pool{New: func() any { return new(controlBuffer) }}
