package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	// bucketLow inverts bucketOf, buckets are ordered, and a value's bucket
	// spans at most 1/64 of it
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 123456789, 1 << 40} {
		b := bucketOf(v)
		lo, hi := bucketLow(b), bucketLow(b+1)
		if v < lo || v >= hi {
			t.Errorf("value %d in bucket %d = [%d, %d)", v, b, lo, hi)
		}
		if v >= 128 && float64(hi-lo)/float64(v) > 1.0/64 {
			t.Errorf("bucket of %d is %d wide", v, hi-lo)
		}
	}
	for b := 1; b < bucketOf(1<<62); b++ {
		if bucketLow(b) <= bucketLow(b-1) {
			t.Fatalf("bucket %d starts at %d, not after bucket %d (%d)", b, bucketLow(b), b-1, bucketLow(b-1))
		}
		if bucketOf(bucketLow(b)) != b {
			t.Fatalf("bucketOf(bucketLow(%d)) = %d", b, bucketOf(bucketLow(b)))
		}
	}
}

// TestPercentilesAgainstSort checks the histogram against exact
// percentiles of the same samples.
func TestPercentilesAgainstSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var all []time.Duration
	for range 100000 {
		// a latency-like distribution: mostly ~50us, a long tail
		d := time.Duration(40000 + r.ExpFloat64()*10000)
		if r.IntN(1000) == 0 {
			d *= 20
		}
		h.Record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{50, 90, 99, 99.9} {
		exact := all[int(math.Ceil(q/100*float64(len(all))))-1]
		got := h.Percentile(q)
		if diff := float64(got-exact) / float64(exact); diff > 0.01 || diff < -0.01 {
			t.Errorf("p%v = %v, exact %v (%.2f%% off)", q, got, exact, diff*100)
		}
	}
	if h.Min() != all[0] || h.Max() != all[len(all)-1] || h.Count() != 100000 {
		t.Errorf("min %v max %v count %d; want %v %v 100000", h.Min(), h.Max(), h.Count(), all[0], all[len(all)-1])
	}
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	if m := sum / time.Duration(len(all)); h.Mean()-m > time.Nanosecond || m-h.Mean() > time.Nanosecond {
		t.Errorf("mean %v, want %v", h.Mean(), m)
	}
	if !(h.Percentile(50) <= h.Percentile(90) && h.Percentile(90) <= h.Percentile(99) && h.Percentile(99) <= h.Percentile(99.9) && h.Percentile(99.9) <= h.Max()) {
		t.Error("percentiles out of order")
	}
}

func TestHistogramSmall(t *testing.T) {
	var h Histogram
	if h.Percentile(50) != 0 || h.Mean() != 0 {
		t.Error("empty histogram not zero")
	}
	for _, d := range []time.Duration{10, 20, 30, 40} {
		h.Record(d * time.Microsecond)
	}
	if p := h.Percentile(50); p < 19800*time.Nanosecond || p > 20200*time.Nanosecond {
		t.Errorf("p50 of 10,20,30,40us = %v, want 20us", p)
	}
	if h.Percentile(100) != 40*time.Microsecond {
		t.Errorf("p100 = %v", h.Percentile(100))
	}
	var o Histogram
	o.Record(time.Microsecond)
	h.Merge(&o)
	if h.Min() != time.Microsecond || h.Count() != 5 {
		t.Errorf("after merge: min %v count %d", h.Min(), h.Count())
	}
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xffff) * 100)
	}
}
