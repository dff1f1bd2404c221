package arqsim

import (
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/arq"
	"github.com/udpchat/udpchat/dgram/netem"
)

// TestLongAckBurstSurvivedOnSlowRTT: loss in bursts is counted in
// packets, and only packets sent get a transfer out of one. Sixty ACKs in
// a row lost, right after the first window (a Gilbert-Elliott burst of
// 10% loss in bursts of 10 runs that long about once in 4,000 bursts), on
// a path whose RTT (80 ms, as a WAN's, or loopback on a loaded host)
// makes the timeout a quarter of a second: the timeouts backed off to
// two seconds used to send so few probes in the 15 s idle timeout that
// the burst outlasted them (udpchat send --file through `proxy --loss 10%
// --burst 10` failed so, once in a few dozen seeds). The backoff stops
// where the idle timeout still holds dozens of probes.
func TestLongAckBurstSurvivedOnSlowRTT(t *testing.T) {
	script, err := netem.ParseScript("drop 3-62") // the SYN-ACK and the first ACK pass
	if err != nil {
		t.Fatal(err)
	}
	idle := 15 * time.Second
	cfg := Config{Client: arq.Config{IdleTimeout: idle}, Server: arq.Config{IdleTimeout: idle},
		Down: netem.Config{Script: script}, Propagation: 40 * time.Millisecond, Seed: 1}
	msgs := messages(200, 6)
	res, err := Run(cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, res, msgs)
	if res.ClientErr != nil {
		t.Fatalf("client: %v", res.ClientErr)
	}
	t.Logf("%v virtual, %d timeouts, %d down datagrams dropped", res.Elapsed, res.Client.Timeouts, res.Down.Dropped)
}
