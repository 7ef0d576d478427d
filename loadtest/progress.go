package loadtest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"ringchat/loadtest/internal/humanize"
	"ringchat/loadtest/procstat"
)

// Progress is a snapshot of a running load test, passed to
// Config.Progress. Rates and P99 cover the interval since the previous
// snapshot.
type Progress struct {
	Phase     Phase
	Elapsed   time.Duration // since Run started
	Clients   int           // target number of connections
	Connected int           // connections opened so far
	Failed    int           // clients that gave up connecting
	Dropped   int           // connections lost before the end
	Sent      uint64        // messages sent so far
	Delivered uint64        // distinct deliveries so far
	// Lost counts the deliveries known to be missing so far: messages a
	// receiver skipped over when a later one of the same sender arrived.
	// Losses at the end of the run show only in the Result.
	Lost         uint64
	SendRate     float64       // messages per second
	DeliveryRate float64       // deliveries per second
	P99          time.Duration // fan-out latency; 0 when nothing was delivered
	GeneratorCPU float64       // this process's CPU use, in cores
}

// String formats p as one line.
func (p Progress) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%5.1fs] %-7s conn %d/%d", p.Elapsed.Seconds(), p.Phase, p.Connected, p.Clients)
	if p.Failed > 0 {
		fmt.Fprintf(&b, " (%d failed)", p.Failed)
	}
	if p.Dropped > 0 {
		fmt.Fprintf(&b, " (%d dropped)", p.Dropped)
	}
	fmt.Fprintf(&b, "  sent %s (%s/s)  delivered %s (%s/s)  lost %s",
		count(float64(p.Sent)), count(p.SendRate),
		count(float64(p.Delivered)), count(p.DeliveryRate), count(float64(p.Lost)))
	if p.P99 > 0 {
		fmt.Fprintf(&b, "  p99 %s", humanize.Duration(p.P99))
	} else {
		b.WriteString("  p99 -")
	}
	fmt.Fprintf(&b, "  gen-cpu %.0f%%", 100*p.GeneratorCPU)
	return b.String()
}

// NewProgressPrinter returns a Config.Progress function that writes each
// snapshot to w as one line. With inPlace (for a terminal), each line
// overwrites the previous one, and the last is ended with a newline.
func NewProgressPrinter(w io.Writer, inPlace bool) func(Progress) {
	var mu sync.Mutex
	return func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		if inPlace {
			end := ""
			if p.Phase == PhaseDone {
				end = "\n"
			}
			fmt.Fprintf(w, "\r%s\x1b[K%s", p, end)
			return
		}
		fmt.Fprintln(w, p)
	}
}

// watch samples the run once a second and at each phase change, for
// Config.Progress and for the server's peak memory, until stop is closed.
func (r *runner) watch(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	cur, prev, iv := new(Histogram), new(Histogram), new(Histogram)
	at, gen := time.Now(), procstat.SelfCPU()
	var sent, delivered uint64
	for {
		phase := Phase(r.phase.Load())
		select {
		case <-stop:
			phase = PhaseDone
		case <-tick.C:
			for i, p := range r.probes {
				s, err := p.sample(context.Background())
				r.notePeak(i, s, err)
			}
		case phase = <-r.phaseSig:
		}
		if r.cfg.Progress == nil {
			if phase == PhaseDone {
				return
			}
			continue
		}
		now, nowGen := time.Now(), procstat.SelfCPU()
		secs := now.Sub(at).Seconds()
		cur.Reset()
		for i := range r.shards {
			cur.Merge(&r.shards[i].latency)
		}
		iv.Reset()
		iv.Merge(cur)
		iv.Subtract(prev)
		tot := r.totals()
		var refused int64 // the holes refused lines leave: not loss
		if phase >= PhaseSend {
			refused = r.refusedDeliveries()
		}
		p := Progress{
			Phase:        phase,
			Elapsed:      now.Sub(r.started),
			Clients:      r.cfg.Clients,
			Connected:    int(r.connected.Load()),
			Failed:       int(r.connectFailed.Load()),
			Dropped:      int(r.dropped.Load()),
			Sent:         r.sent.Load(),
			Delivered:    tot.Delivered,
			Lost:         uint64(max(tot.Holes-refused, 0)),
			P99:          iv.Percentile(99),
			GeneratorCPU: (nowGen - gen).Seconds() / max(secs, 1e-3),
		}
		if secs > 0 {
			p.SendRate = float64(p.Sent-sent) / secs
			p.DeliveryRate = float64(p.Delivered-delivered) / secs
		}
		r.cfg.Progress(p)
		if phase == PhaseDone {
			return
		}
		at, gen, sent, delivered = now, nowGen, p.Sent, p.Delivered
		cur, prev = prev, cur
	}
}

// count formats a count compactly: 999, 12.3k, 4.56M.
func count(v float64) string {
	switch {
	case v < 1e4:
		return fmt.Sprintf("%.0f", v)
	case v < 1e6:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v < 1e9:
		return fmt.Sprintf("%.2fM", v/1e6)
	}
	return fmt.Sprintf("%.2fG", v/1e9)
}
