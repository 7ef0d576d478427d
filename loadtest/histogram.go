package loadtest

import (
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear, like HdrHistogram: values below histLinear
// nanoseconds each have their own bucket, and every octave [2^k, 2^(k+1))
// above that is split into histSub equal buckets. A bucket of octave k is
// 2^k/histSub wide, so reporting its midpoint is off by at most
// 1/(2*histSub) = 0.78% of the true value.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits // buckets per octave
	histLinear  = 2 * histSub      // values below this many ns are exact
	histMaxExp  = 36               // values of 2^36 ns (68.7 s) and more share the top bucket
	histBuckets = histLinear + (histMaxExp-histSubBits-1)*histSub

	// HistogramMaxValue is the largest duration a Histogram resolves within its
	// error bound; larger values are counted in the top bucket, and Max still
	// reports them exactly.
	HistogramMaxValue = time.Duration(1<<histMaxExp - 1)

	// HistogramRelativeError is the largest relative error of a percentile
	// reported by a Histogram, for values up to HistogramMaxValue.
	HistogramRelativeError = 1.0 / (2 * histSub)
)

// Histogram counts durations in fixed-size log-linear buckets (about 16 KB),
// so its memory does not grow with the number of samples. Percentiles are
// exact below 128 ns and within HistogramRelativeError above; Min and Max are
// exact.
//
// The zero value is an empty histogram ready to use. A Histogram must not be
// copied after first use. All methods are safe for concurrent use: Record
// uses atomic adds, so many goroutines may record into one histogram, or each
// into its own and Merge them later. A reader running concurrently with
// Record sees every sample either entirely or not at all in each bucket, but
// Count, Mean and the buckets are not updated as one unit.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
	min    atomic.Int64 // smallest value + 1; 0 while empty
	max    atomic.Int64
}

// histIndex returns the bucket of v nanoseconds (v >= 0).
func histIndex(v int64) int {
	if v < histLinear {
		return int(v)
	}
	if v > int64(HistogramMaxValue) {
		v = int64(HistogramMaxValue)
	}
	k := bits.Len64(uint64(v)) - 1 // v is in octave [2^k, 2^(k+1)), k > histSubBits
	sub := int(v>>(k-histSubBits)) - histSub
	return histLinear + (k-histSubBits-1)*histSub + sub
}

// histBucketMid returns the value that represents bucket i: the midpoint of
// the values it holds.
func histBucketMid(i int) int64 {
	if i < histLinear {
		return int64(i)
	}
	j := i - histLinear
	shift := j/histSub + 1 // the bucket width is 2^shift
	lo := int64(histSub+j%histSub) << shift
	return lo + int64(1)<<shift/2
}

// Record adds one sample. Negative durations are recorded as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[histIndex(v)].Add(1)
	h.sum.Add(v)
	for {
		m := h.min.Load()
		if m != 0 && m <= v+1 || h.min.CompareAndSwap(m, v+1) {
			break
		}
	}
	for {
		m := h.max.Load()
		if m >= v || h.max.CompareAndSwap(m, v) {
			break
		}
	}
}

// Count returns the number of samples.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Min returns the smallest sample, or 0 if there is none.
func (h *Histogram) Min() time.Duration {
	if m := h.min.Load(); m > 0 {
		return time.Duration(m - 1)
	}
	return 0
}

// Max returns the largest sample, or 0 if there is none.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the arithmetic mean of the samples, or 0 if there is none.
func (h *Histogram) Mean() time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Percentile returns the nearest-rank p-th percentile (0 <= p <= 100) of the
// samples: the smallest recorded value that at least p% of the samples do not
// exceed, within HistogramRelativeError. It returns 0 if there are no samples.
func (h *Histogram) Percentile(p float64) time.Duration {
	var counts [histBuckets]uint64
	var n uint64
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
		n += counts[i]
	}
	if n == 0 {
		return 0
	}
	rank := nearestRank(p, n)
	switch rank {
	case 1:
		return h.Min()
	case n:
		return h.Max()
	}
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= rank {
			v := histBucketMid(i)
			v = max(v, int64(h.Min()))
			v = min(v, h.max.Load())
			return time.Duration(v)
		}
	}
	return h.Max() // not reached
}

// nearestRank returns the 1-based rank of the p-th percentile of n samples.
func nearestRank(p float64, n uint64) uint64 {
	p = min(max(p, 0), 100)
	// The small epsilon keeps 99.9% of 1000 at rank 999 despite rounding.
	r := uint64(math.Ceil(p/100*float64(n) - 1e-9))
	return min(max(r, 1), n)
}

// Merge adds the samples of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.sum.Add(o.sum.Load())
	if m := o.min.Load(); m != 0 {
		for {
			cur := h.min.Load()
			if cur != 0 && cur <= m || h.min.CompareAndSwap(cur, m) {
				break
			}
		}
	}
	if m := o.max.Load(); m != 0 {
		for {
			cur := h.max.Load()
			if cur >= m || h.max.CompareAndSwap(cur, m) {
				break
			}
		}
	}
}

// Subtract removes the samples of o from h, where o is an earlier copy of h
// (made with Reset and Merge), leaving the samples recorded in between: the
// statistics of an interval from two cumulative snapshots. Min and Max of
// the result are approximate, within HistogramRelativeError.
func (h *Histogram) Subtract(o *Histogram) {
	lo, hi := -1, -1
	for i := range h.counts {
		c := h.counts[i].Load()
		if oc := o.counts[i].Load(); oc != 0 {
			c = h.counts[i].Add(^(oc - 1))
		}
		if c != 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	h.sum.Add(-o.sum.Load())
	if lo < 0 {
		h.min.Store(0)
		h.max.Store(0)
		return
	}
	// The remaining extremes lie in buckets lo and hi, and within the old
	// bounds.
	h.min.Store(max(histBucketMid(lo), h.min.Load()-1) + 1)
	h.max.Store(min(histBucketMid(hi), h.max.Load()))
}

// Reset empties h. Samples recorded concurrently with Reset may be lost.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.sum.Store(0)
	h.min.Store(0)
	h.max.Store(0)
}

// histLayout names the bucket layout, so that a snapshot is only merged
// into a histogram of the same one.
var histLayout = fmt.Sprintf("log-linear sub=%d max=2^%d", histSub, histMaxExp)

// HistogramSnapshot is a Histogram as JSON: its non-empty buckets, so that
// a run split over several processes can merge their histograms (see
// Combine) rather than average their percentiles.
type HistogramSnapshot struct {
	Layout  string      `json:"layout"`
	Buckets [][2]uint64 `json:"buckets"` // bucket index, count
	SumNs   int64       `json:"sum_ns"`
	MinNs   int64       `json:"min_ns"`
	MaxNs   int64       `json:"max_ns"`
}

// Snapshot returns h's samples as a HistogramSnapshot.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Layout: histLayout, Buckets: [][2]uint64{}, SumNs: h.sum.Load(), MinNs: int64(h.Min()), MaxNs: int64(h.Max())}
	for i := range h.counts {
		if c := h.counts[i].Load(); c != 0 {
			s.Buckets = append(s.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return s
}

// MergeSnapshot adds the samples of s to h. It fails, changing nothing,
// when s has another layout or a bucket out of range.
func (h *Histogram) MergeSnapshot(s HistogramSnapshot) error {
	if s.Layout != histLayout {
		return fmt.Errorf("loadtest: histogram layout %q, want %q", s.Layout, histLayout)
	}
	var o Histogram
	for _, b := range s.Buckets {
		if b[0] >= histBuckets {
			return fmt.Errorf("loadtest: histogram bucket %d out of range", b[0])
		}
		o.counts[b[0]].Add(b[1])
	}
	if len(s.Buckets) > 0 {
		o.sum.Store(s.SumNs)
		o.min.Store(s.MinNs + 1)
		o.max.Store(s.MaxNs)
	}
	h.Merge(&o)
	return nil
}
