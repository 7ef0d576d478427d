package redistest_test

import (
	"bufio"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"ringchat/internal/leakcheck"
	"ringchat/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }

// do sends one inline command and returns the first line of the answer.
func do(t *testing.T, addr, cmd string, timeout time.Duration) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func mustDo(t *testing.T, addr, cmd, want string) {
	t.Helper()
	got, err := do(t, addr, cmd, 2*time.Second)
	if err != nil || got != want {
		t.Fatalf("%s: got %q, %v; want %q", cmd, got, err, want)
	}
}

func TestStartStop(t *testing.T) {
	srv := redistest.Start(t)
	mustDo(t, srv.Addr(), "PING", "+PONG")
	mustDo(t, srv.Addr(), "CONFIG GET bind", "*2")
	if !strings.HasPrefix(srv.URL(), "redis://127.0.0.1:") {
		t.Errorf("URL %q", srv.URL())
	}
	srv.Stop()
	if _, err := do(t, srv.Addr(), "PING", time.Second); err == nil {
		t.Fatal("server answers after Stop")
	}
}

func TestPauseResume(t *testing.T) {
	srv := redistest.Start(t)
	srv.Pause()
	if got, err := do(t, srv.Addr(), "PING", 300*time.Millisecond); err == nil {
		t.Fatalf("paused server answered %q", got)
	}
	srv.Resume()
	mustDo(t, srv.Addr(), "PING", "+PONG")
}

func TestKillRestartAOF(t *testing.T) {
	srv := redistest.StartConfig(t, redistest.Config{AppendOnly: true, AppendFsync: "always"})
	port := srv.Port()
	mustDo(t, srv.Addr(), "SET k v1", "+OK")
	srv.Kill()
	if _, err := do(t, srv.Addr(), "PING", time.Second); err == nil {
		t.Fatal("server answers after Kill")
	}
	srv.Restart()
	if srv.Port() != port {
		t.Fatalf("port changed from %d to %d", port, srv.Port())
	}
	mustDo(t, srv.Addr(), "GET k", "$2")
	srv.Restart() // from a running server: SIGTERM first
	mustDo(t, srv.Addr(), "EXISTS k", ":1")
}

func TestPaused_Cleanup(t *testing.T) {
	// A server left paused at the end of a test is still stopped by the
	// cleanup (leakcheck would report its waiting goroutine otherwise).
	srv := redistest.Start(t)
	srv.Pause()
}

func TestArgs(t *testing.T) {
	srv := redistest.StartConfig(t, redistest.Config{Args: []string{"--requirepass", "secret"}})
	mustDo(t, srv.Addr(), "PING", "-NOAUTH Authentication required.")
	mustDo(t, srv.Addr(), "AUTH secret", "+OK")
}

func TestBinaryMissing(t *testing.T) {
	t.Setenv("REDIS_SERVER", "")
	t.Setenv("PATH", t.TempDir())
	_, err := redistest.Binary()
	if err == nil || !strings.Contains(err.Error(), redistest.InstallHint) {
		t.Fatalf("Binary() without redis-server: %v; want the install hint", err)
	}
}
