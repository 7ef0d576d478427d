// Package redistest starts real redis-server processes for tests: each on a
// free loopback port, in the test's own temporary directory, stopped when the
// test ends. Helpers stop, kill, pause, resume and restart it, so tests can
// fail Redis the ways production does.
//
//	srv := redistest.Start(t)
//	c, _ := resp.NewClient(resp.Options{Addr: srv.Addr()})
//
// redis-server must be installed (scripts/install-redis.sh installs Debian's
// package; `make test` runs it). Without it every test that calls Start
// fails, naming the command that installs it: Redis tests are never skipped.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InstallHint is the command that installs redis-server, as the failure of a
// test without it says.
const InstallHint = "bash scripts/install-redis.sh (or: sudo apt-get install redis-server)"

// ReadyTimeout bounds how long Start and Restart wait for the server to answer
// PING.
const ReadyTimeout = 15 * time.Second

// Config describes the server to start. The zero Config is a plain server
// with no persistence.
type Config struct {
	// AppendOnly turns on the append-only file (appendonly yes), kept in
	// the server's directory across Restart.
	AppendOnly bool
	// AppendFsync is appendfsync (always, everysec, no); empty leaves
	// Redis's default (everysec).
	AppendFsync string
	// Args are further redis-server arguments, for example
	// {"--requirepass", "secret"} or {"--user", "alice", "on", ">pw", "~*", "&*", "+@all"}.
	Args []string
}

// Server is one redis-server process started by Start. Its methods may be
// called from any goroutine, but not concurrently with one another.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	args []string

	mu     sync.Mutex // guards cmd, exited, paused
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	paused bool
	log    *os.File
}

// Start starts a plain redis-server for t (see StartConfig).
func Start(t testing.TB) *Server {
	t.Helper()
	return StartConfig(t, Config{})
}

// StartConfig starts a redis-server configured by cfg on a free port of
// 127.0.0.1, with its working directory in t.TempDir(), waits until it
// answers PING and stops it when t ends. It fails t if redis-server is not
// installed or does not come up.
func StartConfig(t testing.TB, cfg Config) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatalf("%v", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	logf, err := os.Create(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s.log = logf
	t.Cleanup(func() {
		s.shutdown()
		logf.Close()
	})
	// A port found free may be taken before redis-server binds it; try
	// another then.
	for attempt := 0; ; attempt++ {
		s.port = freePort(t)
		s.args = s.arguments(cfg)
		if err = s.start(); err == nil {
			return s
		}
		if attempt == 4 {
			t.Fatalf("redistest: redis-server did not start: %v\n%s", err, s.Log())
		}
	}
}

// Binary returns the path of redis-server: $REDIS_SERVER if set, else the
// one on the PATH. Its error names the command that installs it.
func Binary() (string, error) {
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("redistest: REDIS_SERVER=%s: %v", p, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redistest: redis-server is not installed; install it with: %s", InstallHint)
	}
	return p, nil
}

func (s *Server) arguments(cfg Config) []string {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--daemonize", "no",
		"--logfile", "",
		"--appendonly", map[bool]string{true: "yes", false: "no"}[cfg.AppendOnly],
	}
	if cfg.AppendFsync != "" {
		args = append(args, "--appendfsync", cfg.AppendFsync)
	}
	return append(args, cfg.Args...)
}

// start runs the process and waits until it answers PING; on failure the
// process is gone when it returns.
func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited, s.paused = cmd, exited, false
	s.mu.Unlock()
	if err := s.waitReady(exited); err != nil {
		s.signal(syscall.SIGKILL)
		<-exited
		return err
	}
	return nil
}

// waitReady polls the port until the server answers PING: +PONG, or an
// authentication error from a password-protected server.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(ReadyTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("redis-server exited")
		default:
		}
		if last = ping(s.Addr()); last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond) // polling: nothing tells when a server is ready
	}
	return fmt.Errorf("no answer to PING within %v: %v", ReadyTimeout, last)
}

// ping sends one inline PING. It speaks the protocol by hand so that this
// package depends on nothing it is used to test.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(line, "+PONG"),
		strings.HasPrefix(line, "-NOAUTH"),
		strings.HasPrefix(line, "-ERR") && strings.Contains(line, "auth"):
		return nil
	}
	return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
}

// FreePort returns a loopback port that was free a moment ago, for a
// second listener of the server (a --tls-port, say).
func FreePort(t testing.TB) int {
	t.Helper()
	return freePort(t)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the server's TCP port; it stays the same across Restart.
func (s *Server) Port() int { return s.port }

// Dir returns the server's working directory (where an AOF is kept).
func (s *Server) Dir() string { return s.dir }

// URL returns redis://host:port for the server.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Log returns what the server has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(sig)
	}
}

// stop sends sig (after SIGCONT to a paused server, so it can act on it)
// and waits for the process to end, for at most d before SIGKILL.
func (s *Server) stop(sig syscall.Signal, d time.Duration) {
	s.mu.Lock()
	cmd, exited, paused := s.cmd, s.exited, s.paused
	s.paused = false
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	if paused && sig != syscall.SIGKILL {
		cmd.Process.Signal(syscall.SIGCONT)
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(d):
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

// Stop ends the server with SIGTERM, as an operator would, and waits until
// it has exited (a server with an AOF flushes it first).
func (s *Server) Stop() {
	s.t.Helper()
	s.stop(syscall.SIGTERM, 10*time.Second)
}

// Kill ends the server with SIGKILL, as a crash would, and waits until it
// has exited.
func (s *Server) Kill() {
	s.t.Helper()
	s.stop(syscall.SIGKILL, 10*time.Second)
}

// Pause stops the server with SIGSTOP: its connections stay open but
// nothing answers, as with a server stuck or a network cut.
func (s *Server) Pause() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.paused {
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("redistest: SIGSTOP: %v", err)
	}
	s.paused = true
}

// Resume lets a paused server go on with SIGCONT.
func (s *Server) Resume() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || !s.paused {
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatalf("redistest: SIGCONT: %v", err)
	}
	s.paused = false
}

// Restart stops the server with SIGTERM if it still runs, then starts it
// again with the same port, directory and arguments (so an AOF is read
// back), and waits until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	// The port was ours a moment ago; a client's reconnect cannot take it
	// (clients do not bind), so the first try normally succeeds.
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v\n%s", err, s.Log())
}

// shutdown ends the process when the test ends.
func (s *Server) shutdown() {
	s.stop(syscall.SIGTERM, 5*time.Second)
}
