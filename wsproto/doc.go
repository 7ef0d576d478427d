// Package wsproto implements the WebSocket protocol of RFC 6455, server and
// client, with the standard library only.
//
// # Opening a connection
//
// A server accepts connections from an ordinary http.Handler, so WebSocket
// endpoints share a net/http server with the rest of a site:
//
//	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
//		c, err := wsproto.Accept(w, r, nil)
//		if err != nil {
//			return // Accept has answered the client with the reason
//		}
//		defer c.CloseNow()
//		// read and write messages
//	})
//
// Accept checks the request against RFC 6455 section 4.2.1, takes over the
// TCP connection with http.Hijacker and answers 101. It refuses a bad
// request with the status the RFC names and a one-line explanation. By
// default a browser may connect only from the server's own origin; see
// AcceptOptions for other origins and subprotocols. The time a client may
// take to send its request is bounded by http.Server's ReadHeaderTimeout,
// which every server facing the internet should set.
//
// A client dials a ws:// or wss:// URL:
//
//	c, _, err := wsproto.Dial(ctx, "ws://127.0.0.1:8080/ws", nil)
//
// # Data messages
//
// ReadMessage returns the next whole message, reusing the caller's buffer, so
// a loop that feeds each result back in reads without allocating.
// NextReader streams a message that is too large to hold whole. Both
// reassemble fragments, answer pings, enforce ConnOptions.MaxMessageSize
// before reading a payload, and check text messages to be UTF-8 as their
// bytes arrive, failing as soon as a prefix can no longer be valid.
//
// WriteMessage sends one message in one frame; NextWriter sends a message in
// fragments. A server can encode a frame once with AppendFrame and send the
// same bytes to any number of connections with WriteFrames, several frames in
// one writev: this is how a broadcast avoids encoding per receiver.
//
// # Control messages
//
// A ping is answered with a pong carrying the same payload, from the reading
// goroutine, unless SetPingHandler replaces that. Pongs are reported to the
// function given to SetPongHandler. Close performs the close handshake;
// CloseNow drops the connection without one.
//
// # Errors
//
// A peer that breaks a rule of RFC 6455 fails the connection (RFC 6455
// 7.1.7): the read method sends a close frame with the code the rule calls
// for — 1002 for protocol errors, 1007 for invalid UTF-8, 1009 for a message
// over the limit — closes the connection and returns a *ProtocolError, one of
// the Err sentinels such as ErrControlTooLong. A close frame from the peer is
// answered with the same code and returned as a *CloseError; CloseStatus
// extracts its code. A connection that ends without a close frame gives a
// *CloseError with CloseAbnormal (1006). Every error is final: the connection
// is closed when a method returns one.
//
// # Concurrency
//
// A Conn supports one reading goroutine and one writing goroutine at a time.
// Control frames may be sent from any goroutine: each frame is written whole
// under a lock, so a pong sent by the reader never lands inside a data frame
// the writer is sending. See Conn for the details.
//
// # Buffers and memory
//
// Each connection reads through a buffer of ConnOptions.ReadBufferSize that
// it takes from a shared pool when bytes arrive and gives back once a
// message is read and nothing else is waiting; payloads at least that long
// are read straight into the caller's buffer. WaitReadable parks a reading
// goroutine until the peer sends something without holding any buffer, so
// an idle connection costs little more than its goroutine. A server that
// writes with WriteMessage or WriteFrames needs no write buffer. A client,
// which must mask a copy of every payload, allocates one on first write.
//
// # Serving many connections from few goroutines
//
// TryWriteFrames writes without ever waiting (on Linux): a broadcaster can
// run through thousands of connections from one goroutine, writing to every
// socket that has room, and hand only the ones that are full to goroutines
// that wait in WriteFrames.
//
// Reading can do without a goroutine per connection too (on Linux, for
// connections that are not TLS): a server that learns from a poller (such
// as epoll) that a socket has bytes reads them with ReadAvailable, which
// never waits, and pushes them into Feed, which decodes frames under the
// same rules as ReadMessage and stops wherever the bytes end — inside a
// header or a payload — to resume with the next call. Between calls an
// idle connection holds no buffer and no goroutine. AfterClose tells such a
// server when a connection it is not reading has been closed.
//
// # Compression
//
// AcceptOptions.Compression and DialOptions.Compression negotiate
// permessage-deflate (RFC 7692), the one extension implemented; Compression
// reports whether a connection uses it. Both directions run without
// context takeover: every compressed message stands alone, so compressors
// and decompressors come from pools for one message at a time (an idle
// connection holds none), and a server can compress a message once with
// AppendCompressedFrame and write the frame to every connection that uses
// the extension. WriteMessage compresses payloads of at least
// ConnOptions.CompressionThreshold bytes. The read methods and Feed inflate
// compressed messages within MaxMessageSize, applied to the inflated size
// as it grows (CloseMessageTooBig), check text once inflated
// (CloseInvalidPayload), and fail data that is not DEFLATE with
// CloseInvalidPayload and RSV1 anywhere but on a message's first frame with
// CloseProtocolError.
//
// # Not implemented
//
// Other extensions (RFC 6455 9): a frame with a reserved bit they would
// define fails the connection. Context takeover and windows below 32 KiB
// for permessage-deflate. WebSockets over HTTP/2 (RFC 8441).
package wsproto
