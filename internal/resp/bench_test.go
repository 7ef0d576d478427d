package resp_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"ringchat/internal/redistest"
	"ringchat/internal/resp"
)

// benchClient starts a server and a Client for a benchmark.
func benchClient(b *testing.B, o resp.Options) *resp.Client {
	b.Helper()
	srv := redistest.Start(b)
	o.Addr = srv.Addr()
	c, err := resp.NewClient(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func opsPerSecond(b *testing.B, ops int) {
	b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "ops/s")
}

// One command per round trip, one caller: the latency-bound case.
func BenchmarkDo(b *testing.B) {
	c := benchClient(b, resp.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Do(ctx, "INCR", "n"); err != nil {
			b.Fatal(err)
		}
	}
	opsPerSecond(b, b.N)
}

// Many callers sharing the pool.
func BenchmarkDoParallel(b *testing.B) {
	c := benchClient(b, resp.Options{PoolSize: 16})
	ctx := context.Background()
	b.SetParallelism(8)
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Do(ctx, "INCR", "n"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// Pipelines of 100 commands; one b.N is one command.
func BenchmarkPipeline100(b *testing.B) {
	c := benchClient(b, resp.Options{})
	ctx := context.Background()
	var p resp.Pipeline
	b.ReportAllocs()
	for done := 0; done < b.N; {
		n := min(100, b.N-done)
		p.Reset()
		for range n {
			p.Add("INCR", "n")
		}
		if _, err := c.DoPipeline(ctx, &p); err != nil {
			b.Fatal(err)
		}
		done += n
	}
	opsPerSecond(b, b.N)
}

// The issue 12 publish script (INCR, XADD with retention, PUBLISH) by
// EVALSHA: what one chat message costs the store, one caller at a time.
func BenchmarkPublishScript(b *testing.B) {
	c := benchClient(b, resp.Options{})
	ctx := context.Background()
	event := `{"type":"message","room":"lobby","from":"alice","text":"` + strings.Repeat("x", 100) + `"}`
	keys := []string{"room:lobby:seq", "room:lobby:log"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := publishScript.Run(ctx, c, keys, event, 1000, "room:lobby"); err != nil {
			b.Fatal(err)
		}
	}
	opsPerSecond(b, b.N)
}

// Parsing an XRANGE reply of 100 entries of 150-byte events, from memory.
func BenchmarkReaderXRANGE(b *testing.B) {
	var entries []resp.Value
	for i := range 100 {
		entries = append(entries, array(bulk(fmt.Sprintf("%d-0", i+1)), array(bulk("e"), bulk(strings.Repeat("x", 150)))))
	}
	wire := resp.AppendValue(nil, array(entries...))
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	rd := bytes.NewReader(wire)
	br := bufio.NewReader(rd)
	for b.Loop() {
		rd.Reset(wire)
		br.Reset(rd)
		if _, err := resp.NewReader(br, resp.Limits{}).Read(); err != nil {
			b.Fatal(err)
		}
	}
}
