package arqsim

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/arq"
	"github.com/udpchat/udpchat/dgram/netem"
)

// messages returns n messages of sizes from 0 to several segments.
func messages(n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, r.IntN(4000))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		out[i] = b
	}
	return out
}

func checkDelivered(t *testing.T, res *Result, msgs [][]byte) {
	t.Helper()
	if len(res.Delivered) != len(msgs) {
		t.Fatalf("delivered %d messages, want %d (client %v, server %v)", len(res.Delivered), len(msgs), res.ClientErr, res.ServerErr)
	}
	for i := range msgs {
		if !bytes.Equal(res.Delivered[i], msgs[i]) {
			t.Fatalf("message %d differs", i)
		}
	}
}

// TestSameSeedSameRun: a run depends only on its configuration, seed and
// messages, timing included.
func TestSameSeedSameRun(t *testing.T) {
	cfg := Config{Up: netem.Config{Loss: 0.05, Reorder: 0.05, Dup: 0.03}, Down: netem.Config{Loss: 0.05}, Seed: 7}
	msgs := messages(300, 1)
	a, err := Run(cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, a, msgs)
	b, err := Run(cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if a.Elapsed != b.Elapsed || a.Client != b.Client || a.Server != b.Server || a.Up != b.Up {
		t.Errorf("two runs with seed 7 differ:\n%+v %+v\n%+v %+v", a.Elapsed, a.Client, b.Elapsed, b.Client)
	}
	if a.Client.Retransmits == 0 {
		t.Errorf("5%% loss and no retransmission: the link did not act")
	}
	cfg.Seed = 8
	c, err := Run(cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, c, msgs)
	if c.Up == a.Up && c.Client == a.Client {
		t.Errorf("seeds 7 and 8 gave the same run")
	}
}

// TestBurstLossEverySeed: 10% loss in bursts of 10 on both directions (a
// busy Wi-Fi link) is a hard link, not a broken one: every seed delivers
// everything, without the connection ever giving up.
func TestBurstLossEverySeed(t *testing.T) {
	ge, err := netem.Burst(0.10, 10)
	if err != nil {
		t.Fatal(err)
	}
	link := netem.Config{GE: ge}
	msgs := messages(400, 2) // about 0.8 MB
	for seed := uint64(1); seed <= 20; seed++ {
		res, err := Run(Config{Up: link, Down: link, Seed: seed, Propagation: time.Millisecond}, msgs)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		checkDelivered(t, res, msgs)
		if res.ClientErr != nil || res.ServerErr != nil {
			t.Fatalf("seed %d: client %v, server %v", seed, res.ClientErr, res.ServerErr)
		}
		t.Logf("seed %2d: %v virtual, %d retransmissions, %d timeouts, up lost %d of %d",
			seed, res.Elapsed.Round(time.Millisecond), res.Client.Retransmits, res.Client.Timeouts, res.Up.Dropped, res.Up.In)
	}
}

// TestOutageSurvived: a 10 s outage of the path, inside a 60 s idle
// timeout, costs 10 s and some retransmissions, not the transfer; the
// backoff, capped at a quarter of the idle timeout, tries again soon
// after the path comes back.
func TestOutageSurvived(t *testing.T) {
	idle := 60 * time.Second
	rate := netem.Config{Rate: 100e6} // 6 MB take half a second
	cfg := Config{Client: arq.Config{IdleTimeout: idle}, Server: arq.Config{IdleTimeout: idle}, Up: rate, Down: rate,
		Propagation: time.Millisecond, Outages: []Outage{{From: 100 * time.Millisecond, To: 10100 * time.Millisecond}}}
	msgs := messages(3000, 3) // about 6 MB: still going when the outage starts
	res, err := Run(cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, res, msgs)
	if res.ClientErr != nil || res.OutageDrops == 0 {
		t.Fatalf("client %v, %d packets lost to the outage", res.ClientErr, res.OutageDrops)
	}
	// the retry after the outage comes within the capped backoff
	if limit := 10100*time.Millisecond + idle/4 + 2*time.Second; res.Elapsed > limit {
		t.Errorf("the transfer ended %v after the start, later than %v: the backoff is not capped", res.Elapsed, limit)
	}
	t.Logf("%v virtual, %d timeouts, %d packets lost to the outage", res.Elapsed, res.Client.Timeouts, res.OutageDrops)
}

// TestDeadPathGivesUpAtIdle: a path that never comes back is given up
// once IdleTimeout has passed without an answer, not after a count of
// retries (which, from a 2 ms floor, ran out in seconds).
func TestDeadPathGivesUpAtIdle(t *testing.T) {
	idle := 5 * time.Second
	rate := netem.Config{Rate: 100e6}
	cfg := Config{Client: arq.Config{IdleTimeout: idle}, Server: arq.Config{IdleTimeout: idle}, Up: rate, Down: rate,
		Outages: []Outage{{From: 20 * time.Millisecond, To: time.Hour}}}
	res, err := Run(cfg, messages(3000, 4))
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res.ClientErr, arq.ErrPeerUnreachable) && !errors.Is(res.ClientErr, arq.ErrIdle) {
		t.Fatalf("client error %v, want the peer unreachable or silent", res.ClientErr)
	}
	if res.Elapsed < idle || res.Elapsed > idle+time.Second {
		t.Errorf("the client gave up after %v, want the idle timeout %v", res.Elapsed, idle)
	}
}

// TestZeroWindowNeverOpens: a receiver that answers but never reads keeps
// its window closed; the sender gives up after the idle timeout with that
// reason, instead of waiting forever.
func TestZeroWindowNeverOpens(t *testing.T) {
	idle := 3 * time.Second
	small := arq.Config{IdleTimeout: idle, RecvWindow: 64}
	res, err := Run(Config{Client: arq.Config{IdleTimeout: idle}, Server: small, ReadLimit: 1}, messages(500, 5))
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res.ClientErr, arq.ErrZeroWindow) {
		t.Fatalf("client error %v, want ErrZeroWindow", res.ClientErr)
	}
	if res.Elapsed < idle || res.Elapsed > idle+time.Second {
		t.Errorf("the client gave up after %v, want about %v", res.Elapsed, idle)
	}
	if res.Client.PacketsSent < 10 {
		t.Errorf("only %d packets sent: no window probes", res.Client.PacketsSent)
	}
}

func Example() {
	msgs := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	res, err := Run(Config{Up: netem.Config{Loss: 0.3}, Seed: 1}, msgs)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d of %d delivered, in order; %d retransmissions\n", len(res.Delivered), len(msgs), res.Client.Retransmits)
	// Output: 3 of 3 delivered, in order; 4 retransmissions
}
