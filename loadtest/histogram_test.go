package loadtest

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

var testPercentiles = []float64{0, 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100}

// referencePercentile is the nearest-rank percentile of sorted values. The
// epsilon makes 99.9% of 50,000 rank 49,950, as in exact arithmetic.
func referencePercentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p/100*float64(len(sorted)) - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func TestHistogramPercentiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		gen  func(r *rand.Rand) time.Duration
	}{
		{"exact below 128ns", 10_000, func(r *rand.Rand) time.Duration { return time.Duration(r.IntN(128)) }},
		{"uniform 0-10ms", 100_000, func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(10 * time.Millisecond))) }},
		{"log-uniform 1µs-60s", 100_000, func(r *rand.Rand) time.Duration {
			return time.Duration(math.Exp(r.Float64()*math.Log(60e9/1e3)) * 1e3)
		}},
		{"exponential mean 2ms", 100_000, func(r *rand.Rand) time.Duration {
			return time.Duration(r.ExpFloat64() * 2e6)
		}},
		{"bimodal", 50_000, func(r *rand.Rand) time.Duration {
			if r.IntN(100) == 0 {
				return 200*time.Millisecond + time.Duration(r.Int64N(1e8))
			}
			return 300*time.Microsecond + time.Duration(r.Int64N(1e5))
		}},
		{"constant", 1000, func(*rand.Rand) time.Duration { return 1234567 * time.Nanosecond }},
		{"one sample", 1, func(*rand.Rand) time.Duration { return 42 * time.Millisecond }},
		{"few samples", 7, func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(1e9)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			var h Histogram
			vals := make([]time.Duration, tc.n)
			var sum time.Duration
			for i := range vals {
				vals[i] = tc.gen(r)
				sum += vals[i]
				h.Record(vals[i])
			}
			slices.Sort(vals)
			if h.Count() != uint64(tc.n) {
				t.Errorf("Count = %d, want %d", h.Count(), tc.n)
			}
			if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
				t.Errorf("Min, Max = %v, %v; want %v, %v", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
			}
			if want := sum / time.Duration(tc.n); h.Mean() != want {
				t.Errorf("Mean = %v, want %v", h.Mean(), want)
			}
			for _, p := range testPercentiles {
				got, want := h.Percentile(p), referencePercentile(vals, p)
				if err := math.Abs(float64(got-want)) / float64(want); want >= histLinear && err > HistogramRelativeError || want < histLinear && got != want {
					t.Errorf("p%v = %v, want %v (relative error %.4f%%)", p, got, want, 100*err)
				}
			}
		})
	}
}

func TestHistogramEdges(t *testing.T) {
	var h Histogram
	if h.Percentile(50) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Errorf("empty histogram not all zero")
	}
	h.Record(-time.Second) // recorded as zero
	h.Record(10 * time.Minute)
	if h.Min() != 0 || h.Max() != 10*time.Minute || h.Percentile(100) != 10*time.Minute || h.Percentile(50) != 0 {
		t.Errorf("min %v max %v p100 %v p50 %v", h.Min(), h.Max(), h.Percentile(100), h.Percentile(50))
	}
	// Every bucket index is in range and bucket midpoints grow.
	prev := int64(-1)
	for i := range histBuckets {
		if m := histBucketMid(i); m <= prev {
			t.Fatalf("bucket %d midpoint %d not above %d", i, m, prev)
		} else {
			prev = m
		}
		if got := histIndex(histBucketMid(i)); got != i {
			t.Fatalf("histIndex(mid(%d)) = %d", i, got)
		}
	}
	if histIndex(math.MaxInt64) != histBuckets-1 {
		t.Errorf("huge values not in the top bucket")
	}
}

// TestHistogramMerge records the same samples concurrently into shards and
// into one histogram; merging the shards must give the same answers, and
// subtracting an earlier snapshot must leave exactly the later samples.
func TestHistogramMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	vals := make([]time.Duration, 40_000)
	for i := range vals {
		vals[i] = time.Duration(r.ExpFloat64() * 1e7)
	}
	var whole, merged Histogram
	shards := make([]Histogram, 8)
	var wg sync.WaitGroup
	for s := range shards {
		wg.Go(func() {
			for i := s; i < len(vals); i += len(shards) {
				shards[s].Record(vals[i])
				whole.Record(vals[i])
			}
		})
	}
	wg.Wait()
	for s := range shards {
		merged.Merge(&shards[s])
	}
	for _, p := range testPercentiles {
		if a, b := whole.Percentile(p), merged.Percentile(p); a != b {
			t.Errorf("p%v: whole %v, merged %v", p, a, b)
		}
	}
	if whole.Count() != merged.Count() || whole.Max() != merged.Max() || whole.Min() != merged.Min() || whole.Mean() != merged.Mean() {
		t.Errorf("whole and merged differ")
	}

	// Interval statistics: snapshot, record more, subtract the snapshot.
	var snap, later Histogram
	snap.Merge(&whole)
	extra := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
	for _, d := range extra {
		whole.Record(d)
		later.Record(d)
	}
	var iv Histogram
	iv.Merge(&whole)
	iv.Subtract(&snap)
	if iv.Count() != uint64(len(extra)) || iv.Percentile(50) != later.Percentile(50) || iv.Mean() != later.Mean() {
		t.Errorf("interval: count %d p50 %v mean %v; want %d %v %v", iv.Count(), iv.Percentile(50), iv.Mean(), len(extra), later.Percentile(50), later.Mean())
	}
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{{"min", iv.Min(), later.Min()}, {"max", iv.Max(), later.Max()}, {"p100", iv.Percentile(100), later.Max()}} {
		if e := math.Abs(float64(c.got-c.want)) / float64(c.want); e > HistogramRelativeError {
			t.Errorf("interval %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	iv.Subtract(&later)
	if iv.Count() != 0 || iv.Max() != 0 || iv.Min() != 0 || iv.Percentile(99) != 0 {
		t.Errorf("empty interval: count %d, min %v, max %v", iv.Count(), iv.Min(), iv.Max())
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(1)
		for pb.Next() {
			h.Record(d)
			d = (d*7 + 13) % (time.Second)
		}
	})
}
