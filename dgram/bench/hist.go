package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram counts durations in log-linear buckets, as HdrHistogram does:
// each power of two is cut into 128 buckets, so a percentile read back is
// within 1/128 (0.8%) of the true value, for any value from 1ns to hours,
// in a fixed 7 KiB. Every sample is counted (no sampling); min, max and
// mean are exact. It is not safe for concurrent use.
type Histogram struct {
	counts   [64 * subBuckets]uint64
	n        uint64
	sum      float64
	min, max time.Duration
}

const (
	subBits    = 7
	subBuckets = 1 << subBits
)

// bucketOf returns v's bucket: v itself below 128, then 64 buckets per
// power of two.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - subBits // v >> e is in [64, 128)
	return subBuckets + (e-1)*subBuckets/2 + int(v>>uint(e)) - subBuckets/2
}

// bucketLow returns the lowest value of bucket b (the inverse of bucketOf).
func bucketLow(b int) uint64 {
	if b < subBuckets {
		return uint64(b)
	}
	k := b - subBuckets
	e := k/(subBuckets/2) + 1
	m := uint64(k%(subBuckets/2) + subBuckets/2)
	return m << uint(e)
}

// Record adds one duration (negative ones count as zero).
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the exact smallest duration recorded (Max and Mean, the
// largest and the mean, are exact too).
func (h *Histogram) Min() time.Duration { return h.min }

// Max returns the largest duration recorded.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the mean duration.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Percentile returns the duration below which q (0 to 100) percent of the
// samples lie: the middle of the bucket holding the sample of that rank,
// clamped to [Min, Max].
func (h *Histogram) Percentile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q / 100 * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketLow(b), bucketLow(b+1)
			v := time.Duration(lo + (hi-lo)/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}
