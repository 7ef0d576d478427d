package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ringchat/loadtest/internal/promtext"
)

// RaiseFileLimit raises the soft RLIMIT_NOFILE of this process to its hard
// limit, so that every client can have its socket, and returns the new soft
// limit. (Go 1.19 and later already do this at start-up on Linux; calling it
// again is cheap and makes the limit visible.)
func RaiseFileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("loadtest: getrlimit: %w", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, fmt.Errorf("loadtest: setrlimit: %w", err)
		}
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, fmt.Errorf("loadtest: getrlimit: %w", err)
		}
	}
	return rl.Cur, nil
}

// selfCPU returns the user plus system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procSample is one reading of a process's resources.
type procSample struct {
	cpu time.Duration // user + system since the process started
	rss uint64        // resident set size, bytes
	hwm uint64        // peak resident set size since start, bytes; 0 if unknown
}

// serverProbe reads the resources of the server under test.
type serverProbe interface {
	sample(ctx context.Context) (procSample, error)
	describe() string
	close()
}

// newServerProbe returns the probe c asks for, or nil.
func newServerProbe(c *Config) serverProbe {
	switch {
	case c.ServerPID != 0:
		return pidProbe{pid: c.ServerPID, proc: "/proc", tick: clockTick()}
	case c.ServerMetrics != "":
		return metricsProbe{url: c.ServerMetrics, client: &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{MaxIdleConns: 1},
		}}
	}
	return nil
}

// pidProbe reads /proc/<pid>/stat and /proc/<pid>/status.
type pidProbe struct {
	pid  int
	proc string // mount point of procfs; tests point it elsewhere
	tick time.Duration
}

func (p pidProbe) describe() string { return "pid " + strconv.Itoa(p.pid) }

func (p pidProbe) close() {}

func (p pidProbe) sample(context.Context) (procSample, error) {
	dir := p.proc + "/" + strconv.Itoa(p.pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return procSample{}, fmt.Errorf("loadtest: server stats: %w", err)
	}
	// Fields after the command name, which is in parentheses and may
	// contain anything: state is field 3, utime 14, stime 15 (proc(5)).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return procSample{}, fmt.Errorf("loadtest: server stats: cannot parse %s/stat", dir)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return procSample{}, fmt.Errorf("loadtest: server stats: cannot parse %s/stat", dir)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procSample{}, fmt.Errorf("loadtest: server stats: cannot parse %s/stat", dir)
	}
	s := procSample{cpu: time.Duration(utime+stime) * p.tick}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return procSample{}, fmt.Errorf("loadtest: server stats: %w", err)
	}
	for line := range bytes.Lines(status) {
		var field *uint64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			field = &s.rss
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			field = &s.hwm
		default:
			continue
		}
		f := strings.Fields(string(line))
		if len(f) >= 2 {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			*field = kb * 1024
		}
	}
	return s, nil
}

// clockTick returns the length of the clock tick in which /proc reports CPU
// times: the AT_CLKTCK entry of the auxiliary vector (what sysconf
// _SC_CLK_TCK returns), or the usual 100 Hz when it cannot be read.
func clockTick() time.Duration {
	const atClkTck = 17
	if auxv, err := os.ReadFile("/proc/self/auxv"); err == nil {
		for i := 0; i+16 <= len(auxv); i += 16 {
			key := binary.NativeEndian.Uint64(auxv[i:])
			val := binary.NativeEndian.Uint64(auxv[i+8:])
			if key == atClkTck && val > 0 && val <= 1e6 {
				return time.Second / time.Duration(val)
			}
			if key == 0 {
				break
			}
		}
	}
	return 10 * time.Millisecond
}

// metricsProbe scrapes the server's Prometheus text.
type metricsProbe struct {
	url    string
	client *http.Client
}

func (p metricsProbe) describe() string { return p.url }

func (p metricsProbe) close() { p.client.CloseIdleConnections() }

func (p metricsProbe) sample(ctx context.Context) (procSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return procSample{}, fmt.Errorf("loadtest: server metrics: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return procSample{}, fmt.Errorf("loadtest: server metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return procSample{}, fmt.Errorf("loadtest: server metrics: %s", resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 4<<20))
}

// parseMetrics reads process_cpu_seconds_total and
// process_resident_memory_bytes from Prometheus text exposition format.
func parseMetrics(r io.Reader) (procSample, error) {
	var s procSample
	var haveCPU, haveRSS bool
	err := promtext.Scan(r, func(name, _ string, v float64) {
		switch name {
		case "process_cpu_seconds_total":
			s.cpu, haveCPU = time.Duration(v*float64(time.Second)), true
		case "process_resident_memory_bytes":
			s.rss, haveRSS = uint64(v), true
		}
	})
	if err != nil {
		return s, err
	}
	if !haveCPU || !haveRSS {
		return s, fmt.Errorf("loadtest: server metrics: no process_cpu_seconds_total or process_resident_memory_bytes")
	}
	return s, nil
}

// machineCPUs returns the number of CPUs /proc/stat counts, which may be
// more than this process may use.
func machineCPUs() int {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for line := range bytes.Lines(b) {
		if len(line) > 3 && string(line[:3]) == "cpu" && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	return max(n, 1)
}

// machineCPU returns the busy and total CPU ticks of the whole machine, from
// the first line of /proc/stat.
func machineCPU() (busy, total uint64, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "cpu ") {
		return 0, 0, false
	}
	// user nice system idle iowait irq softirq steal guest guest_nice;
	// guest time is already part of user and nice.
	for i, s := range strings.Fields(line)[1:] {
		if i >= 8 {
			break
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total, true
}
