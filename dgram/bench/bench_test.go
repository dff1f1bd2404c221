package bench

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pair(t testing.TB) (*Server, *net.UDPConn) {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	sc, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(sc)
	go s.Serve()
	cc, err := net.DialUDP("udp4", nil, sc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); sc.Close(); cc.Close() })
	return s, cc
}

// TestThroughputConsistent: a short paced run on loopback, where nothing
// is dropped, adds up: received + lost = sent.
func TestThroughputConsistent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batch   int
		offload bool
	}{{"batch 1", 1, false}, {"batch 64", 64, false}, {"gso", 256, true}} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := pair(t)
			var rows []Interval
			res, err := RunThroughput(context.Background(), c, ThroughputConfig{Size: 100, Duration: 300 * time.Millisecond,
				RatePPS: 20000, Batch: tc.batch, Offload: tc.offload, Interval: 100 * time.Millisecond}, func(r Interval) { rows = append(rows, r) })
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent == 0 || res.Sent > 7000 {
				t.Fatalf("sent %d datagrams in 300ms at 20000/s", res.Sent)
			}
			if !res.DropsKnown || res.RcvbufDrops == 0 {
				// nothing dropped by the kernel: every datagram is accounted for
				if res.Received+res.Lost < res.Sent-min(res.Sent, 64) || res.Received > res.Sent {
					t.Errorf("sent %d, received %d, lost %d: they do not add up", res.Sent, res.Received, res.Lost)
				}
			}
			if res.Received+res.Lost > res.Sent {
				t.Errorf("received %d + lost %d > sent %d", res.Received, res.Lost, res.Sent)
			}
			if res.Duplicates != 0 || res.Malformed != 0 {
				t.Errorf("duplicates %d, malformed %d on clean loopback", res.Duplicates, res.Malformed)
			}
			// A loaded machine can starve the sender past an interval's
			// end, so the count of rows is not fixed; there must be one.
			if len(rows) == 0 {
				t.Errorf("no interval row in 300ms at 100ms")
			}
			var sum uint64
			for _, r := range rows {
				sum += r.Sent
			}
			if sum > res.Sent {
				t.Errorf("interval rows sent %d > total %d", sum, res.Sent)
			}
		})
	}
}

// TestThroughputLastRow: the interval that ends with the sending (a
// duration that is a whole number of intervals) is printed with the
// receiver's final counts, never as unknown ("recv ?", whose counts
// would go to a next row that does not come), and the rows add up to the
// summary.
//
// At 10 datagrams a second, the last one leaves at 200ms, and nothing is
// sent in the last interval: it has its row all the same (as it has when
// a loaded machine holds the sender back at the end of a fast run).
func TestThroughputLastRow(t *testing.T) {
	for _, pps := range []float64{10000, 10000, 10000, 10} {
		_, c := pair(t)
		var rows []Interval
		res, err := RunThroughput(context.Background(), c, ThroughputConfig{Size: 100, Duration: 300 * time.Millisecond,
			RatePPS: pps, Batch: 16, Interval: 100 * time.Millisecond}, func(r Interval) { rows = append(rows, r) })
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			t.Fatal("no interval row")
		}
		last := rows[len(rows)-1]
		if !last.Known || last.End < 300*time.Millisecond {
			t.Fatalf("%v/s: last row %+v (of %d), want the receiver's counts up to the end of sending (%v)", pps, last, len(rows), res.Duration)
		}
		var sent, recv uint64
		for _, r := range rows {
			sent, recv = sent+r.Sent, recv+r.Received
		}
		if sent != res.Sent || recv != res.Received {
			t.Errorf("%v/s: rows sent %d, received %d; summary %d, %d", pps, sent, recv, res.Sent, res.Received)
		}
	}
}

func TestLatencyOrdered(t *testing.T) {
	for _, busy := range []bool{false, true} {
		// How many round trips fit in a run depends on the machine's load
		// (a busy-polling pair on two shared cores may get none in 200ms):
		// the test needs samples, not a rate, so a run without any is
		// repeated, longer, a few times.
		var res LatencyResult
		for _, d := range []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second} {
			_, c := pair(t)
			r, err := RunLatency(context.Background(), c, LatencyConfig{Size: 64, Duration: d, Warmup: 20 * time.Millisecond, BusyPoll: busy})
			if err != nil {
				t.Fatal(err)
			}
			if res = r; r.Hist.Count() > 0 {
				break
			}
		}
		h := &res.Hist
		if h.Count() == 0 {
			t.Fatalf("busy %v: no sample in runs of 200ms, 1s and 5s", busy)
		}
		p := []time.Duration{h.Min(), h.Percentile(50), h.Percentile(90), h.Percentile(99), h.Percentile(99.9), h.Max()}
		for i := 1; i < len(p); i++ {
			if p[i] < p[i-1] {
				t.Errorf("busy %v: percentiles out of order: %v", busy, p)
			}
		}
		if res.Lost != 0 {
			t.Errorf("busy %v: %d probes lost on loopback", busy, res.Lost)
		}
	}
}

func TestNoServer(t *testing.T) {
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	dead, _ := net.ListenUDP("udp4", lo)
	addr := dead.LocalAddr().(*net.UDPAddr)
	dead.Close()
	c, err := net.DialUDP("udp4", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := RunThroughput(ctx, c, ThroughputConfig{Duration: time.Second}, nil); err == nil {
		t.Fatal("a run against nobody succeeded")
	}
}

func TestResultArithmetic(t *testing.T) {
	r := Result{Size: 1400, Duration: 2 * time.Second, Sent: 1000, Received: 900}
	if r.SentPPS() != 500 || r.RecvPPS() != 450 || r.LossPct() != 10 {
		t.Errorf("pps %v/%v loss %v", r.SentPPS(), r.RecvPPS(), r.LossPct())
	}
	if got := r.RecvMbps(); got != 450*1400*8/1e6 {
		t.Errorf("Mbps %v", got)
	}
}

// BenchmarkLoopback runs the throughput path end to end in one process:
// b.N datagrams, through GSO/GRO or not, each tracked on its own.
func BenchmarkLoopback(b *testing.B) {
	for _, tc := range []struct {
		name    string
		size    int
		offload bool
		batch   int
	}{{"64B-gso", 64, true, 256}, {"1400B-gso", 1400, true, 256}, {"64B-batch64", 64, false, 64}, {"64B-batch1", 64, false, 1}} {
		b.Run(tc.name, func(b *testing.B) {
			_, c := pair(b)
			b.ReportAllocs()
			b.SetBytes(int64(tc.size))
			// send about b.N datagrams: size the run by duration
			d := time.Duration(b.N) * 100 * time.Nanosecond
			res, err := RunThroughput(context.Background(), c, ThroughputConfig{Size: tc.size, Duration: max(d, 100*time.Millisecond),
				Batch: tc.batch, Offload: tc.offload, Interval: -1}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(res.RecvPPS(), "recv-pps")
			b.ReportMetric(res.LossPct(), "%loss")
		})
	}
}

// BenchmarkTrackingCost compares the receiver with and without per-datagram
// tracking (seq.Tracker), 64-byte datagrams through GSO/GRO: the price of
// --seq on the hot path.
func BenchmarkTrackingCost(b *testing.B) {
	for _, track := range []bool{true, false} {
		name := "tracked"
		if !track {
			name = "counted-only"
		}
		b.Run(name, func(b *testing.B) {
			s, c := pair(b)
			s.countOnly = !track
			b.ReportAllocs()
			d := max(time.Duration(b.N)*100*time.Nanosecond, 100*time.Millisecond)
			res, err := RunThroughput(context.Background(), c, ThroughputConfig{Size: 64, Duration: d, Offload: true, Interval: -1}, nil)
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
			recv := res.Received
			if !track {
				recv = s.counted
			}
			b.ReportMetric(float64(recv)/res.Duration.Seconds(), "recv-pps")
		})
	}
}
