package bench

import (
	"strings"
	"testing"
	"time"

	"ringchat/internal/resp"
	"ringchat/loadtest"
)

func TestParseCommandStats(t *testing.T) {
	info := "# Commandstats\r\n" +
		"cmdstat_zadd:calls=1500,usec=3000,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_evalsha:calls=12,usec=34560,usec_per_call=2880.00,rejected_calls=0,failed_calls=0\r\n" +
		"not a stat\r\n"
	got := parseCommandStats(info)
	want := []CommandStat{{"evalsha", 12, 34560, 2880}, {"zadd", 1500, 3000, 2}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("stat %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestOutages(t *testing.T) {
	for _, tc := range []struct {
		name    string
		log     string
		n       int
		longest float64
	}{
		{"none", "time=... level=INFO msg=listening\n", 0, 0},
		{"one", `time=2026-12-03T19:21:05.123Z level=ERROR msg="store/redis: Redis is unreachable; appends are refused until it answers" err=timeout
time=2026-12-03T19:21:06.643Z level=INFO msg="store/redis: Redis answers again" redis=127.0.0.1:1 after=1.52s
`, 1, 1.52},
		{"two", `msg="store/redis: Redis is unreachable; appends are refused until it answers"
msg="store/redis: Redis answers again" after=300ms
msg="store/redis: Redis is unreachable; appends are refused until it answers"
msg="store/redis: Redis answers again" after=2.1s
`, 2, 2.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began, longest := outages(tc.log)
			if len(began) != tc.n || longest != tc.longest {
				t.Errorf("outages = %v, %v; want %d, %v", began, longest, tc.n, tc.longest)
			}
			if tc.name == "one" && !began[0].Equal(time.Date(2026, 12, 3, 19, 21, 5, 123e6, time.UTC)) {
				t.Errorf("outage began %v", began[0])
			}
		})
	}
}

func TestSlowCommand(t *testing.T) {
	bulk := func(ss ...string) []resp.Value {
		var v []resp.Value
		for _, s := range ss {
			v = append(v, resp.Value{Str: s})
		}
		return v
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "?"},
		{[]string{"ZADD", "k", "1", "m"}, "ZADD (4 arguments)"},
		{[]string{"EVALSHA", "abc", "2", "ringchat:{lobby}:present", "ringchat:{lobby}:claims", "15000"}, "EVALSHA ringchat:{lobby}:present (6 arguments)"},
		{append(append([]string{"EVALSHA", "abc", "2", "ringchat:{r}:present"}, make([]string, 27)...), "... (9000 more arguments)"), "EVALSHA ringchat:{r}:present (9031 arguments)"},
	} {
		if got := slowCommand(bulk(tc.args...)); got != tc.want {
			t.Errorf("slowCommand(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// clusterRun makes a run of the comparison with the given p99s.
func clusterRun(nodes, round int, p99, crossP99 float64) ClusterRun {
	res := &loadtest.Result{Latency: loadtest.Latency{Count: 100, P50Ms: p99 / 4, P99Ms: p99, P999Ms: p99 * 1.1}}
	res.Messages.Expected, res.Messages.Delivered = 100, 100
	if nodes > 1 {
		res.CrossNode = &loadtest.Latency{Count: 60, P50Ms: crossP99 / 4, P99Ms: crossP99}
		res.Redis = &loadtest.RedisStats{CPUPerMessageUs: 250, CPUCoresSend: 0.05}
	}
	return ClusterRun{Row: ClusterRow{Name: "x", Clients: 15000, Nodes: nodes}, Round: round, Result: res, RedisIdleCores: 0.01}
}

func TestClusterRatios(t *testing.T) {
	rep := ClusterReport{Runs: []ClusterRun{
		clusterRun(1, 1, 100, 0), clusterRun(3, 1, 130, 120),
		clusterRun(1, 2, 200, 0), clusterRun(3, 2, 210, 200),
		clusterRun(1, 3, 100, 0), clusterRun(3, 3, 150, 140),
		{Row: ClusterRow{Name: "most", Clients: 90000, Nodes: 5, Parts: 6}, Error: "generator part 2 not ready"},
	}}
	cross, all := rep.Ratios()
	if len(cross) != 3 || cross[0] != 1.2 || cross[1] != 1 || cross[2] != 1.4 || all[0] != 1.3 {
		t.Fatalf("ratios %v, %v", cross, all)
	}
	md := rep.Markdown()
	for _, want := range []string{
		"| 1 | 25.0ms | 100ms | 32.5ms | 130ms | 30.0ms | 120ms | **1.20×** | 1.30× |",
		"= **1.20×** (each round: 1.20×, 1.00×, 1.40×), target ≤ 1.2×: **met**",
		"failed: generator part 2 not ready",
		"| 250 / - | 0.05 / 0.01 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("no %q in\n%s", want, md)
		}
	}
	rep.Runs[3] = clusterRun(3, 2, 300, 290)
	if md := rep.Markdown(); !strings.Contains(md, "target ≤ 1.2×: **not met**") {
		t.Errorf("a median of 1.4× met the target:\n%s", md)
	}
}
