package childproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"ringchat/loadtest/procstat"
)

// Spec says how to start a server under test as a child process.
type Spec struct {
	// Args is the command line, the program first. Every "{addr}" in it is
	// replaced by a free loopback host:port, where the server must listen,
	// and every "{port}" by its port.
	Args []string
	// Path is the path of the chat endpoint, such as "/ws".
	Path string
	// Env, when not nil, is added to this process's environment.
	Env []string
	// StopTimeout is how long the process gets to exit after SIGTERM
	// before it is killed (10s when zero).
	StopTimeout time.Duration
}

// AddrPlaceholder is replaced in Spec.Args by the address to listen on.
const AddrPlaceholder = "{addr}"

// PortPlaceholder is replaced in Spec.Args by the port alone of that
// address, for servers that take the host and the port apart (redis-server
// --bind 127.0.0.1 --port {port}).
const PortPlaceholder = "{port}"

// Process is a server under test started by Start. It runs in a new
// temporary working directory of its own, removed when it stops: whatever
// it writes there at its defaults (the chat server's history in data/)
// starts empty every time and never outlives it. Its methods are not safe
// for concurrent use.
type Process struct {
	Addr string // the loopback host:port it listens on
	URL  string // ws://Addr + Path
	Dir  string // its working directory

	spec    Spec
	cmd     *exec.Cmd
	stderr  *Tail
	exited  chan struct{} // closed when the process has ended
	waitErr error         // set before exited is closed
	stopped bool
	stopErr error
}

// StartTimeout bounds Start: from exec to accepting connections.
const StartTimeout = 10 * time.Second

// startAttempts is how many times Start tries: a free port may be taken
// before the server binds it.
const startAttempts = 3

var errExited = errors.New("exited before it accepted connections")

// Start starts the server spec describes, on a free loopback port,
// and returns once it accepts TCP connections. The child is in its own
// process group, so that Ctrl-C reaches only this process, which then
// stops it; should this process die, the child gets SIGTERM. It raises
// this process's RLIMIT_NOFILE soft limit first, so that the child
// inherits the raised limit.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	if len(spec.Args) == 0 {
		return nil, errors.New("loadtest: start server: no command")
	}
	if err := raiseInheritedFileLimit(); err != nil {
		return nil, err
	}
	var err error
	for range startAttempts {
		var p *Process
		p, err = startOnce(ctx, spec)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, errExited) || !strings.Contains(err.Error(), "address already in use") || ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func startOnce(ctx context.Context, spec Spec) (*Process, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("loadtest: start %s: %w", spec.Args[0], err)
	}
	args := make([]string, len(spec.Args))
	for i, a := range spec.Args {
		_, port, _ := net.SplitHostPort(addr)
		args[i] = strings.NewReplacer(AddrPlaceholder, addr, PortPlaceholder, port).Replace(a)
	}
	// The program is found before the working directory changes.
	if strings.ContainsRune(args[0], filepath.Separator) {
		if args[0], err = filepath.Abs(args[0]); err != nil {
			return nil, fmt.Errorf("loadtest: start %s: %w", spec.Args[0], err)
		}
	}
	dir, err := os.MkdirTemp("", "ringchat-server-")
	if err != nil {
		return nil, fmt.Errorf("loadtest: start %s: %w", spec.Args[0], err)
	}
	p := &Process{
		Addr:   addr,
		URL:    "ws://" + addr + spec.Path,
		Dir:    dir,
		spec:   spec,
		stderr: new(Tail),
		exited: make(chan struct{}),
	}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Dir = dir
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if spec.Env != nil {
		p.cmd.Env = append(os.Environ(), spec.Env...)
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("loadtest: start %s: %w", args[0], err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		os.RemoveAll(dir)
		close(p.exited)
	}()
	if err := p.waitReady(ctx); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// waitReady waits until p accepts a TCP connection.
func (p *Process) waitReady(ctx context.Context) error {
	deadline := time.NewTimer(StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(dctx, "tcp", p.Addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("loadtest: start %s: %w", p.spec.Args[0], ctx.Err())
		case <-p.exited:
			return fmt.Errorf("loadtest: start %s: %w (%v): %s", p.spec.Args[0], errExited, p.waitErr, LastLines(p.stderr.String(), 5))
		case <-deadline.C:
			return fmt.Errorf("loadtest: start %s: not accepting connections on %s after %v: %s", p.spec.Args[0], p.Addr, StartTimeout, LastLines(p.stderr.String(), 5))
		case <-tick.C:
		}
	}
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM, waits up to StopTimeout for the process to exit, and
// kills it (and its process group) if it has not. It returns an error when
// the process did not exit cleanly with status 0, naming how it ended and
// its last lines of output. Calling it again returns the same error.
func (p *Process) Stop() error {
	if p.stopped {
		return p.stopErr
	}
	p.stopped = true
	timeout := p.spec.StopTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	select {
	case <-p.exited:
		p.stopErr = fmt.Errorf("loadtest: %s ended by itself (%v): %s", p.spec.Args[0], p.waitErr, LastLines(p.stderr.String(), 5))
		return p.stopErr
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
		if p.waitErr != nil {
			p.stopErr = fmt.Errorf("loadtest: %s after SIGTERM: %v: %s", p.spec.Args[0], p.waitErr, LastLines(p.stderr.String(), 5))
		}
	case <-t.C:
		KillGroup(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		p.stopErr = fmt.Errorf("loadtest: %s did not exit within %v of SIGTERM; killed", p.spec.Args[0], timeout)
	}
	return p.stopErr
}

// Output returns the last 16 KB the process wrote to stdout and stderr.
func (p *Process) Output() string { return p.stderr.String() }

// FileLimit returns the soft RLIMIT_NOFILE of the running process, from
// /proc/<pid>/limits.
func (p *Process) FileLimit() (uint64, error) {
	return procstat.FileLimit("/proc", p.Pid())
}

// raiseInheritedFileLimit sets this process's soft RLIMIT_NOFILE to its
// hard limit with an explicit setrlimit, which also tells os/exec to let
// children inherit it: the Go runtime raises the soft limit of a Go program
// at start-up but restores the original one in the children it starts
// (go.dev/issue/46279), unless the program sets the limit itself.
func raiseInheritedFileLimit() error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("loadtest: getrlimit: %w", err)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("loadtest: setrlimit: %w", err)
	}
	return nil
}

// freeLoopbackAddr returns a 127.0.0.1 port that was free a moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// LastLines returns the last n non-empty lines of s, joined by " | ": a
// process's output in a one-line error.
func LastLines(s string, n int) string {
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return "no output"
	}
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// Tail is an io.Writer that keeps the last 16 KB written to it, for the
// output of a child process. It is safe for concurrent use; the zero value
// is empty and ready.
type Tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 16 << 10

// Write keeps the end of what was written so far and p; it never fails.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailMax; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String returns what t keeps.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// KillGroup sends sig to the process group pgid, which this process made
// (Setpgid) for a child it started, so that the child and whatever it
// started get it together.
func KillGroup(pgid int, sig syscall.Signal) {
	if pgid > 0 {
		syscall.Kill(-pgid, sig)
	}
}
