// Package chattest runs a chat server on a loopback port for tests, behind
// the http.Server that cmd/server runs (chat.Server.HTTPServer), and stops
// it the way SIGTERM does when the test ends.
package chattest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"ringchat/chat"
)

// Server is a chat server serving on Addr.
type Server struct {
	*chat.Server
	Addr string // host:port

	http     *http.Server
	secure   bool
	served   chan error
	stopOnce sync.Once
	stopErr  error
}

// ReadersEnv names the environment variable that, set to "goroutine",
// makes every server these helpers start read each connection on a
// goroutine of its own (chat.Options.ReadGoroutines), as on systems
// without epoll and for TLS: make test runs the chat tests once more so,
// to keep that way of reading tested on Linux.
const ReadersEnv = "RINGCHAT_TEST_READERS"

// Start runs a chat server with opts on ln — a new loopback listener when
// ln is nil — until the test ends or Stop is called. Unless opts say
// otherwise logs are discarded; every other option is the server's default,
// the per-connection rate limit included: a test that needs another says
// why beside it.
func Start(t testing.TB, ln net.Listener, opts chat.Options) *Server {
	return start(t, ln, opts, "", "")
}

// StartTLS is Start serving https:// and wss:// with the given PEM files.
func StartTLS(t testing.TB, ln net.Listener, opts chat.Options, certFile, keyFile string) *Server {
	return start(t, ln, opts, certFile, keyFile)
}

func start(t testing.TB, ln net.Listener, opts chat.Options, certFile, keyFile string) *Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if os.Getenv(ReadersEnv) == "goroutine" {
		opts.ReadGoroutines = true
	}
	srv, err := chat.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{Server: srv, Addr: ln.Addr().String(), http: srv.HTTPServer(), secure: certFile != "", served: make(chan error, 1)}
	go func() {
		if s.secure {
			s.served <- s.http.ServeTLS(ln, certFile, keyFile)
		} else {
			s.served <- s.http.Serve(ln)
		}
	}()
	t.Cleanup(func() { s.Stop() })
	return s
}

// URL returns the chat endpoint: ws://Addr/ws, or wss:// under TLS.
func (s *Server) URL() string {
	if s.secure {
		return "wss://" + s.Addr + "/ws"
	}
	return "ws://" + s.Addr + "/ws"
}

// HTTPURL returns http://Addr, or https:// under TLS.
func (s *Server) HTTPURL() string {
	if s.secure {
		return "https://" + s.Addr
	}
	return "http://" + s.Addr
}

// Stop shuts the server down as SIGTERM does — 1001 to every client, at
// most 5 s for them to answer — and waits until it has stopped serving. It
// returns what went wrong, if anything; later calls return the same.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.http.Shutdown(ctx)
		if err := s.Server.Shutdown(ctx); err != nil {
			s.stopErr = fmt.Errorf("chat server shutdown: %w", err)
		}
		s.http.Close()
		if err := <-s.served; !errors.Is(err, http.ErrServerClosed) && s.stopErr == nil {
			s.stopErr = fmt.Errorf("serve: %w", err)
		}
	})
	return s.stopErr
}
