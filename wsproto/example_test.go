package wsproto_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"ringchat/wsproto"
)

// An echo server: Accept in an ordinary handler, then read and write
// messages, reusing the read buffer.
func ExampleAccept() {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsproto.Accept(w, r, nil)
		if err != nil {
			return // Accept has answered the client with the reason
		}
		defer c.CloseNow()
		var buf []byte
		for {
			op, p, err := c.ReadMessage(buf)
			if err != nil {
				return // the client closed, or broke the protocol
			}
			if err := c.WriteMessage(op, p); err != nil {
				return
			}
			buf = p
		}
	})
	srv := httptest.NewServer(echo)
	defer srv.Close()

	// A client to show it working.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := wsproto.Dial(ctx, "ws://"+srv.Listener.Addr().String(), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.WriteMessage(wsproto.OpText, []byte("hello"))
	op, p, err := c.ReadMessage(nil)
	fmt.Println(op, string(p), err)
	fmt.Println(c.Close(wsproto.CloseNormal, "done"))
	// Output:
	// text hello <nil>
	// <nil>
}

// A client: Dial a ws:// URL with a subprotocol, exchange a message, and
// close the connection with the close handshake.
func ExampleDial() {
	closed := make(chan wsproto.CloseCode, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := wsproto.Accept(w, r, &wsproto.AcceptOptions{Subprotocols: []string{"chat.v1"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.WriteMessage(wsproto.OpText, []byte("welcome"))
		_, _, err = c.ReadMessage(nil)
		closed <- wsproto.CloseStatus(err)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := wsproto.Dial(ctx, "ws://"+srv.Listener.Addr().String()+"/chat", &wsproto.DialOptions{
		Subprotocols: []string{"chat.v2", "chat.v1"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, c.Subprotocol())
	_, p, _ := c.ReadMessage(nil)
	fmt.Println(string(p))
	fmt.Println(c.Close(wsproto.CloseGoingAway, "bye"))
	fmt.Println("server saw", <-closed)
	// Output:
	// 101 chat.v1
	// welcome
	// <nil>
	// server saw 1001 (going away)
}

// A broadcast: encode a message once with AppendFrame and write the same
// bytes to every subscriber with WriteFrames.
func ExampleConn_WriteFrames() {
	var subscribers []*wsproto.Conn // server connections from Accept
	frame := wsproto.AppendFrame(nil, wsproto.OpText, []byte(`{"from":"ann","text":"hi all"}`))
	for _, c := range subscribers {
		if err := c.WriteFrames([][]byte{frame}); err != nil {
			c.CloseNow()
		}
	}
}
