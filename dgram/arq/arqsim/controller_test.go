package arqsim

import (
	"math"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/arq"
	"github.com/udpchat/udpchat/dgram/netem"
)

// chunks returns n messages of size bytes: a file, as transfer sends it.
func chunks(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(i + j)
		}
		out[i] = b
	}
	return out
}

func payloadOf(msgs [][]byte) (n uint64) {
	for _, m := range msgs {
		n += uint64(len(m))
	}
	return n
}

// TestBottleneckFairAndStable: at a 50 Mbit/s bottleneck with a
// 100-datagram tail-drop queue and 5 ms each way (the comparison's
// "bottleneck" link), the transfer takes at least 85% of the link and
// puts at most 1.15 bytes on the wire per byte of payload: it does not
// win by flooding the queue. After the start, the rate it sends at,
// measured over each 100 ms, stays within 20% of the link's: it settles,
// it does not oscillate.
func TestBottleneckFairAndStable(t *testing.T) {
	link := netem.Config{Rate: 50e6, Queue: 100, Delay: 5 * time.Millisecond}
	msgs := chunks(128, 64<<10) // 8 MiB
	const window = 100 * time.Millisecond
	var sent []float64 // wire bytes the client sent, per window
	cfg := Config{Up: link, Down: link, Seed: 1, OnSend: func(toServer bool, _ *arq.Packet, size int, at time.Duration) {
		if !toServer {
			return
		}
		i := int(at / window)
		for len(sent) <= i {
			sent = append(sent, 0)
		}
		sent[i] += float64(size)
	}}
	res, err := Run(cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, res, msgs)
	pay := payloadOf(msgs)
	linkRate := link.Rate / 8 // bytes per second
	goodput := float64(pay) / res.Elapsed.Seconds()
	wire := float64(res.Client.WireBytesSent) / float64(pay)
	t.Logf("%.2f MB/s of %.2f (%.0f%%) in %v, %.3f bytes on the wire per byte, %d queue drops, %d retransmissions",
		goodput/1e6, linkRate/1e6, 100*goodput/linkRate, res.Elapsed.Round(time.Millisecond), wire, res.Up.DropQueue, res.Client.Retransmits)
	if goodput < 0.85*linkRate {
		t.Errorf("goodput %.2f MB/s, want at least 85%% of the link's %.2f MB/s", goodput/1e6, linkRate/1e6)
	}
	if wire > 1.15 {
		t.Errorf("%.3f bytes on the wire per byte of payload, want at most 1.15", wire)
	}
	// the windows after the first half second, but the last (the end)
	steady := sent[5 : len(sent)-1]
	lo, hi := math.Inf(1), 0.0
	for _, b := range steady {
		r := b / window.Seconds() / linkRate
		lo, hi = min(lo, r), max(hi, r)
	}
	t.Logf("sending rate over %d windows of %v: %.2f to %.2f of the link", len(steady), window, lo, hi)
	if lo < 0.8 || hi > 1.2 {
		t.Errorf("the sending rate swung from %.2f to %.2f of the link's, want within 0.8 to 1.2", lo, hi)
	}
}

// TestReorderingNeedlessRetransmissions: 30% of the datagrams held back
// until eight others passed (or 20 ms), nothing lost, both ways: the
// reordering window grows with each D-SACK, and no more than 5% of the
// segments are sent twice for nothing.
func TestReorderingNeedlessRetransmissions(t *testing.T) {
	link := netem.Config{Rate: 1e9, Reorder: 0.3, ReorderGap: 8, ReorderHold: 20 * time.Millisecond}
	msgs := chunks(256, 64<<10) // 16 MiB
	res, err := Run(Config{Up: link, Down: link, Seed: 1}, msgs)
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, res, msgs)
	c := res.Client
	t.Logf("%d segments, %d retransmissions, %d shown needless by D-SACK, %d duplicates at the receiver, %v, reordering window %v",
		c.SegmentsSent, c.Retransmits, c.Spurious, res.Server.DuplicateSegments, res.Elapsed.Round(time.Millisecond), c.ReorderWindow)
	// nothing was lost: every retransmission was needless
	if c.Retransmits > c.SegmentsSent/20 {
		t.Errorf("%d retransmissions, more than 5%% of %d segments, and nothing was lost", c.Retransmits, c.SegmentsSent)
	}
	// D-SACK reported the duplicates the receiver saw, but those that
	// came after the sender closed
	if d := res.Server.DuplicateSegments; c.Spurious > d || c.Spurious < d*9/10 {
		t.Errorf("%d retransmissions shown needless, %d duplicates at the receiver", c.Spurious, d)
	}
}

// TestRandomLossKeepsTheRate: 1% random loss both ways at a 10 ms RTT
// is no congestion: the transfer keeps more than half of a 400 Mbit/s
// link. A controller that halves its window at every loss sits near the
// Mathis bound, MSS/RTT x 1.22/sqrt(p), about 1.7 MB/s here.
func TestRandomLossKeepsTheRate(t *testing.T) {
	link := netem.Config{Rate: 400e6, Delay: 5 * time.Millisecond, Loss: 0.01}
	msgs := chunks(256, 64<<10) // 16 MiB
	res, err := Run(Config{Up: link, Down: link, Seed: 1}, msgs)
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, res, msgs)
	linkRate := link.Rate / 8
	goodput := float64(payloadOf(msgs)) / res.Elapsed.Seconds()
	c := res.Client
	t.Logf("%.1f MB/s of %.1f in %v: %d retransmissions (%d needless) for %d lost, %d congestion rounds",
		goodput/1e6, linkRate/1e6, res.Elapsed.Round(time.Millisecond), c.Retransmits, c.Spurious, res.Up.DropLoss, c.Congestion)
	if goodput < 0.5*linkRate {
		t.Errorf("goodput %.1f MB/s, want more than half the link's %.1f MB/s", goodput/1e6, linkRate/1e6)
	}
}

// TestStallCostsProbesNotAWindow: the path stalls for 20 ms (every
// datagram from the 300th on waits; nothing is lost) on a 100 us round
// trip, long enough for the timer to expire several times, while the
// receiver's window (64 segments) is full, so that the probes can only
// be segments sent before. Each expiry sends two probes and declares
// nothing lost, so the stall costs a few needless segments, not a
// window; D-SACK shows every one needless, and the window the timeouts
// collapsed comes back (undo).
func TestStallCostsProbesNotAWindow(t *testing.T) {
	script, err := netem.ParseScript("delay 300:20ms")
	if err != nil {
		t.Fatal(err)
	}
	msgs := chunks(16, 64<<10) // 1 MiB, 752 segments
	res, err := Run(Config{Up: netem.Config{Rate: 1e9, Script: script}, Down: netem.Config{Rate: 1e9}, Seed: 1,
		Server: arq.Config{RecvWindow: 64}}, msgs)
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, res, msgs)
	c := res.Client
	t.Logf("%d timeouts, %d retransmissions, %d needless, %d undone, cwnd %.0f at the end; %d D-SACKs, %d duplicates at the receiver, %d out of window", c.Timeouts, c.Retransmits, c.Spurious, c.Undos, c.Cwnd, c.DSACKs, res.Server.DuplicateSegments, res.Server.OutOfWindow)
	if c.Timeouts < 3 {
		t.Fatalf("%d timeouts: the stall did not outlast the timer", c.Timeouts)
	}
	if c.Retransmits > c.Probes || c.Probes > 2*c.Timeouts+1 {
		t.Errorf("%d retransmissions, %d probes for %d timeouts: want only the probes, two per timeout (and a tail loss probe)", c.Retransmits, c.Probes, c.Timeouts)
	}
	if c.Spurious != c.Retransmits {
		t.Errorf("%d of %d retransmissions shown needless, want all (nothing was lost)", c.Spurious, c.Retransmits)
	}
	if c.Undos == 0 {
		t.Errorf("no undo: the collapse of the window stayed")
	}
}
