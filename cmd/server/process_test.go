package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ringchat/chat"
	"ringchat/internal/leakcheck"
	"ringchat/wsproto"
)

// TestMain runs the server itself when the tests start this binary as one
// (serverEnv set): then the test binary is the server, run with the
// arguments given, and the tests can kill it like any process.
func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	os.Exit(leakcheck.Main(m))
}

const serverEnv = "RINGCHAT_TEST_RUN_SERVER"

// serverProcess is the server running as a child process.
type serverProcess struct {
	cmd  *exec.Cmd
	addr string // host:port it listens on
	log  *lockedBuffer
	done chan struct{} // closed when it has exited
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) add(s string) { l.mu.Lock(); l.b.WriteString(s); l.mu.Unlock() }

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

var listeningRE = regexp.MustCompile(`msg="ringchat listening" web=http://([0-9.:]+)/`)

// startProcess starts the server with args (and -addr 127.0.0.1:0 unless
// given) in dir and waits until it listens.
func startProcess(t *testing.T, dir string, args ...string) *serverProcess {
	t.Helper()
	if !strings.Contains(strings.Join(args, " "), "-addr") {
		args = append([]string{"-addr", "127.0.0.1:0"}, args...)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, log: &lockedBuffer{}, done: make(chan struct{})}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.log.add(line + "\n")
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				listening <- m[1]
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-listening:
		return p
	case <-p.done:
		t.Fatalf("server exited before listening:\n%s", p.log)
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not listen within 20 s:\n%s", p.log)
	}
	return nil
}

// kill kills the server with SIGKILL, as a crash would end it.
func (p *serverProcess) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not die")
	}
}

// seen is a room event as a client received it.
type seen struct {
	id   uint64
	text string
	at   time.Time
}

// crashClient is a chat connection that records every room event it
// receives, and its welcome.
type crashClient struct {
	ws      *wsproto.Conn
	welcome chat.Event
	mu      sync.Mutex
	got     []seen
	changed chan struct{} // closed and replaced at every event
	ended   chan struct{}
}

func dialCrashClient(t *testing.T, addr, query string) *crashClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := wsproto.Dial(ctx, "ws://"+addr+"/ws?"+query, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &crashClient{ws: ws, ended: make(chan struct{}), changed: make(chan struct{})}
	_, msg, err := ws.ReadMessage(nil)
	if err != nil || json.Unmarshal(msg, &c.welcome) != nil || c.welcome.Type != chat.TypeWelcome {
		t.Fatalf("first frame %q, %v: want a welcome", msg, err)
	}
	go func() {
		defer close(c.ended)
		var buf []byte
		for {
			_, msg, err := ws.ReadMessage(buf)
			if err != nil {
				return
			}
			buf = msg
			var e chat.Event
			if json.Unmarshal(msg, &e) == nil && e.ID != 0 { // room events
				c.mu.Lock()
				c.got = append(c.got, seen{e.ID, e.Type + " " + e.From + " " + e.Text, time.Now()})
				close(c.changed)
				c.changed = make(chan struct{})
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { ws.CloseNow(); <-c.ended })
	return c
}

func (c *crashClient) events() []seen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]seen(nil), c.got...)
}

// waitUntil waits until done holds for the events received, or 10 s, and
// returns them.
func (c *crashClient) waitUntil(done func([]seen) bool) []seen {
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		got, changed := append([]seen(nil), c.got...), c.changed
		c.mu.Unlock()
		if done(got) {
			return got
		}
		select {
		case <-changed:
		case <-c.ended:
			return c.events()
		case <-deadline:
			return got
		}
	}
}

// TestKillUnderLoad: the server is killed with SIGKILL while twenty
// clients chat at 8 messages a second each (under the default rate limit:
// the server runs with its default flags but -fsync), and restarted on the
// same data directory. With -fsync always, every event a client saw before
// the kill is there afterwards, with its id; with everysec, every event
// older than about a second. Either way the ids are consecutive from 1 to
// the newest, and the epoch is the same.
func TestKillUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a loaded server: not with -short")
	}
	for _, fsync := range []string{"always", "everysec"} {
		t.Run(fsync, func(t *testing.T) { testKillUnderLoad(t, fsync) })
	}
}

func testKillUnderLoad(t *testing.T, fsync string) {
	const senders, rate, runFor = 20, 8, 2 * time.Second
	dir := t.TempDir()
	srv := startProcess(t, dir, "-fsync", fsync)

	watcher := dialCrashClient(t, srv.addr, "name=watcher")
	epoch := watcher.welcome.Epoch
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range senders {
		c := dialCrashClient(t, srv.addr, fmt.Sprintf("name=s%d", i))
		wg.Go(func() {
			tick := time.NewTicker(time.Second / rate)
			defer tick.Stop()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if c.ws.WriteMessage(wsproto.OpText, fmt.Appendf(nil, "s%d-%d", i, seq)) != nil {
					return
				}
			}
		})
	}
	time.Sleep(runFor) // the load runs for this long; nothing waits on it
	srv.kill(t)
	killedAt := time.Now()
	close(stop)
	wg.Wait()
	<-watcher.ended
	before := watcher.events()
	if len(before) < senders*rate {
		t.Fatalf("only %d messages were seen before the kill; the load did not run", len(before))
	}

	srv = startProcess(t, dir, "-fsync", fsync)
	after := dialCrashClient(t, srv.addr, "name=after&since=0&epoch="+epoch)
	if after.welcome.Epoch != epoch {
		t.Fatalf("epoch %q after the restart, %q before", after.welcome.Epoch, epoch)
	}
	latest := after.welcome.ID
	replay := after.waitUntil(func(got []seen) bool { return uint64(len(got)) >= latest })
	if uint64(len(replay)) > latest {
		replay = replay[:latest] // then comes the client's own join
	}
	byID := make(map[uint64]string, len(replay))
	for i, e := range replay {
		if e.id != uint64(i)+1 {
			t.Fatalf("replay after the restart: event %d has id %d; want consecutive ids from 1", i+1, e.id)
		}
		byID[e.id] = e.text
	}
	if uint64(len(replay)) != latest {
		t.Fatalf("replayed %d events, the welcome says the newest is %d", len(replay), latest)
	}
	lost := 0
	for _, e := range before {
		text, kept := byID[e.id]
		if kept && text != e.text {
			t.Fatalf("event %d was %q before the kill and is %q after", e.id, e.text, text)
		}
		if !kept && (fsync == "always" || killedAt.Sub(e.at) > time.Second) {
			t.Errorf("event %d (%q), seen %v before the kill, is gone", e.id, e.text, killedAt.Sub(e.at).Round(time.Millisecond))
		}
		if !kept {
			lost++
		}
	}
	t.Logf("-fsync %s: %d events seen before the kill, %d kept, %d lost (newest id %d)", fsync, len(before), len(before)-lost, lost, latest)

	// Ids go on where the log ends: the client's join, then its message.
	after.ws.WriteMessage(wsproto.OpText, []byte("after the crash"))
	ev := after.waitUntil(func(got []seen) bool { return len(got) >= len(replay)+2 })
	if len(ev) < len(replay)+2 {
		t.Fatal("no echo after the restart")
	}
	if j, m := ev[len(replay)], ev[len(replay)+1]; j.id != latest+1 || j.text != "join after " || m.id != latest+2 || m.text != "message after after the crash" {
		t.Fatalf("first events after the restart: %+v, %+v; want the join with id %d and the message", j, m, latest+1)
	}
}

// TestDamagedDataDirectory: a data directory the server cannot use is one
// line on stderr and exit status 1, never a panic.
func TestDamagedDataDirectory(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"a file where the directory should be", func(t *testing.T, dir string) {
			os.WriteFile(dir+"/data", []byte("x"), 0o644)
		}, "not a directory"},
		{"another format", func(t *testing.T, dir string) {
			os.MkdirAll(dir+"/data", 0o755)
			os.WriteFile(dir+"/data/ringchat-store", []byte("v9\n"), 0o644)
		}, "not a ringchat data directory"},
		{"damage with good records after it", func(t *testing.T, dir string) {
			p := startProcess(t, dir)
			c := dialCrashClient(t, p.addr, "name=a")
			for i := range 5 {
				c.ws.WriteMessage(wsproto.OpText, fmt.Appendf(nil, "m%d", i))
			}
			c.waitUntil(func(got []seen) bool { return len(got) >= 6 }) // the join and five messages
			p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.done
			seg := dir + "/data/rooms/room-lobby/00000000000000000001.log"
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			b[30] ^= 0xFF
			os.WriteFile(seg, b, 0o644)
		}, "damaged at offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			cmd := exec.Command(os.Args[0], "-addr", "127.0.0.1:0")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), serverEnv+"=1")
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(stderr)
			err := cmd.Wait()
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			last := lines[len(lines)-1]
			if cmd.ProcessState.ExitCode() != 1 || !strings.HasPrefix(last, "server: data directory data: ") || !strings.Contains(last, tt.want) || strings.Contains(string(out), "panic") {
				t.Fatalf("exit %v, stderr:\n%s\nwant status 1 and a last line naming the data directory and saying %q", err, out, tt.want)
			}
		})
	}
}
