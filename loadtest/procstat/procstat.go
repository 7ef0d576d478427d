package procstat

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// FileLimit returns the soft RLIMIT_NOFILE of process pid, from
// <proc>/<pid>/limits, where proc is the mount point of procfs ("/proc").
func FileLimit(proc string, pid int) (uint64, error) {
	b, err := os.ReadFile(proc + "/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		return 0, fmt.Errorf("loadtest: %w", err)
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("Max open files")); ok {
			f := strings.Fields(string(rest))
			if len(f) >= 1 {
				if f[0] == "unlimited" {
					return 1<<63 - 1, nil
				}
				return strconv.ParseUint(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("loadtest: no open-files limit in /proc/%d/limits", pid)
}

// SelfCPU returns the user plus system CPU time this process has used, or
// 0 when getrusage fails.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Sample is one reading of a process's resources.
type Sample struct {
	CPU time.Duration // user + system since the process started
	RSS uint64        // resident set size, bytes
	HWM uint64        // peak resident set size since start, bytes; 0 if unknown
}

// ReadProcess reads the CPU time and memory of process pid from
// <proc>/<pid>/stat and <proc>/<pid>/status, where proc is the mount point
// of procfs ("/proc") and tick the length of the clock tick in which stat
// counts CPU time (ClockTick).
func ReadProcess(proc string, pid int, tick time.Duration) (Sample, error) {
	dir := proc + "/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return Sample{}, fmt.Errorf("loadtest: server stats: %w", err)
	}
	// Fields after the command name, which is in parentheses and may
	// contain anything: state is field 3, utime 14, stime 15 (proc(5)).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return Sample{}, fmt.Errorf("loadtest: server stats: cannot parse %s/stat", dir)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return Sample{}, fmt.Errorf("loadtest: server stats: cannot parse %s/stat", dir)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return Sample{}, fmt.Errorf("loadtest: server stats: cannot parse %s/stat", dir)
	}
	s := Sample{CPU: time.Duration(utime+stime) * tick}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return Sample{}, fmt.Errorf("loadtest: server stats: %w", err)
	}
	for line := range bytes.Lines(status) {
		var field *uint64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			field = &s.RSS
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			field = &s.HWM
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

// ClockTick returns the length of the clock tick in which /proc reports CPU
// times: the AT_CLKTCK entry of the auxiliary vector (what sysconf
// _SC_CLK_TCK returns), or the usual 100 Hz when it cannot be read.
func ClockTick() time.Duration {
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

// MachineCPUs returns the number of CPUs /proc/stat counts, which may be
// more than this process may use.
func MachineCPUs() int {
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

// MachineCPU returns the busy and total CPU ticks of the whole machine, from
// the first line of /proc/stat; ok is false when it cannot be read.
func MachineCPU() (busy, total uint64, ok bool) {
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
