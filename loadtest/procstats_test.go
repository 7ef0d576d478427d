package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPidProbeSelf(t *testing.T) {
	p := pidProbe{pid: os.Getpid(), proc: "/proc", tick: clockTick()}
	s, err := p.sample(context.Background())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if s.rss == 0 || s.hwm < s.rss {
		t.Errorf("rss %d, hwm %d", s.rss, s.hwm)
	}
	if s.cpu <= 0 || s.cpu > selfCPU()+time.Second {
		t.Errorf("cpu %v, getrusage says %v", s.cpu, selfCPU())
	}
}

func TestPidProbeParse(t *testing.T) {
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
	s, err := pidProbe{pid: 42, proc: dir, tick: 10 * time.Millisecond}.sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.cpu != 3*time.Second || s.rss != 10<<20 || s.hwm != 20<<20 {
		t.Errorf("got %+v", s)
	}
	if _, err := (pidProbe{pid: 43, proc: dir}).sample(context.Background()); err == nil {
		t.Errorf("no error for a missing process")
	}
}

func TestClockTick(t *testing.T) {
	if d := clockTick(); d < time.Microsecond || d > 100*time.Millisecond {
		t.Errorf("clock tick %v", d)
	}
}

func TestParseMetrics(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		cpu  time.Duration
		rss  uint64
		bad  bool
	}{
		{"plain", "# HELP process_cpu_seconds_total x\nprocess_cpu_seconds_total 12.5\nprocess_resident_memory_bytes 1.048576e+06\n",
			12500 * time.Millisecond, 1 << 20, false},
		{"labels and timestamp", "process_cpu_seconds_total{a=\"b c\"} 2 1700000000\nprocess_resident_memory_bytes 4096 1700000000\nother 1\n",
			2 * time.Second, 4096, false},
		{"prefix names ignored", "process_cpu_seconds_total_x 9\nprocess_cpu_seconds_total 1\nprocess_resident_memory_bytes 1\n", time.Second, 1, false},
		{"missing rss", "process_cpu_seconds_total 1\n", 0, 0, true},
		{"empty", "", 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseMetrics(strings.NewReader(tc.in))
			if (err != nil) != tc.bad {
				t.Fatalf("error %v, want bad=%v", err, tc.bad)
			}
			if !tc.bad && (s.cpu != tc.cpu || s.rss != tc.rss) {
				t.Errorf("got cpu %v rss %d, want %v %d", s.cpu, s.rss, tc.cpu, tc.rss)
			}
		})
	}
}

func TestMetricsProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("process_cpu_seconds_total 3\nprocess_resident_memory_bytes 5e6\n"))
	}))
	defer srv.Close()
	c := DefaultConfig()
	c.ServerMetrics = srv.URL + "/metrics"
	s, err := newServerProbe(&c).sample(context.Background())
	if err != nil || s.cpu != 3*time.Second || s.rss != 5e6 {
		t.Errorf("sample: %+v, %v", s, err)
	}
	c.ServerMetrics = srv.URL + "/nothing"
	if _, err := newServerProbe(&c).sample(context.Background()); err == nil {
		t.Errorf("no error for a 404")
	}
}

func TestMachineCPU(t *testing.T) {
	busy, total, ok := machineCPU()
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
