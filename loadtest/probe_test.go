package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

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
			if !tc.bad && (s.CPU != tc.cpu || s.RSS != tc.rss) {
				t.Errorf("got cpu %v rss %d, want %v %d", s.CPU, s.RSS, tc.cpu, tc.rss)
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
	if err != nil || s.CPU != 3*time.Second || s.RSS != 5e6 {
		t.Errorf("sample: %+v, %v", s, err)
	}
	c.ServerMetrics = srv.URL + "/nothing"
	if _, err := newServerProbe(&c).sample(context.Background()); err == nil {
		t.Errorf("no error for a 404")
	}
}
