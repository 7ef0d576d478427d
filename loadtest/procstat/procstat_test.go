package procstat

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReadProcessSelf(t *testing.T) {
	// Use a few clock ticks of CPU first: /proc counts in ticks, and this
	// small test binary may not have used one yet.
	for start := time.Now(); SelfCPU() < 50*time.Millisecond && time.Since(start) < 5*time.Second; {
	}
	s, err := ReadProcess("/proc", os.Getpid(), ClockTick())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if s.RSS == 0 || s.HWM < s.RSS {
		t.Errorf("rss %d, hwm %d", s.RSS, s.HWM)
	}
	if s.CPU <= 0 || s.CPU > SelfCPU()+time.Second {
		t.Errorf("cpu %v, getrusage says %v", s.CPU, SelfCPU())
	}
}

func TestReadProcessParse(t *testing.T) {
	dir := t.TempDir()
	proc := filepath.Join(dir, "42")
	if err := os.Mkdir(proc, 0o755); err != nil {
		t.Fatal(err)
	}
	// A command name with spaces and parentheses; utime 250, stime 50.
	stat := "42 (evil) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 1000000 500 18446744073709551615"
	status := "Name:\tevil\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t8\n"
	os.WriteFile(filepath.Join(proc, "stat"), []byte(stat), 0o644)
	os.WriteFile(filepath.Join(proc, "status"), []byte(status), 0o644)
	s, err := ReadProcess(dir, 42, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU != 3*time.Second || s.RSS != 10<<20 || s.HWM != 20<<20 {
		t.Errorf("got %+v", s)
	}
	if _, err := ReadProcess(dir, 43, 0); err == nil {
		t.Errorf("no error for a missing process")
	}
}

func TestClockTick(t *testing.T) {
	if d := ClockTick(); d < time.Microsecond || d > 100*time.Millisecond {
		t.Errorf("clock tick %v", d)
	}
}

func TestMachineCPU(t *testing.T) {
	busy, total, ok := MachineCPU()
	if !ok {
		t.Skip("no /proc/stat")
	}
	if total == 0 || busy > total {
		t.Errorf("busy %d of %d", busy, total)
	}
}

func TestRaiseFileLimit(t *testing.T) {
	n, err := RaiseFileLimit()
	if err != nil || n < 64 {
		t.Errorf("RaiseFileLimit = %d, %v", n, err)
	}
}

func TestFileLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(pid int, text string) {
		os.MkdirAll(filepath.Join(dir, fmt.Sprint(pid)), 0o755)
		os.WriteFile(filepath.Join(dir, fmt.Sprint(pid), "limits"), []byte(text), 0o644)
	}
	const header = "Limit                     Soft Limit           Hard Limit           Units     \n"
	write(1, header+"Max processes             94000                94000                processes \nMax open files            20000                20000                files     \n")
	write(2, header+"Max open files            unlimited            unlimited            files     \n")
	write(3, header)
	for _, tc := range []struct {
		pid  int
		want uint64
		ok   bool
	}{{1, 20000, true}, {2, 1<<63 - 1, true}, {3, 0, false}, {4, 0, false}} {
		got, err := FileLimit(dir, tc.pid)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("pid %d: %d, %v; want %d, ok %v", tc.pid, got, err, tc.want, tc.ok)
		}
	}
}
