package arq

import (
	"testing"
	"time"
)

const ms = time.Millisecond

// TestRTTWorked checks RFC 6298 against numbers worked by hand.
func TestRTTWorked(t *testing.T) {
	r := NewRTT(time.Second, 60*time.Second, time.Second, 100*ms)
	if r.RTO() != time.Second || r.HasSample() {
		t.Fatalf("before any sample RTO = %v, want the initial 1s", r.RTO())
	}
	steps := []struct {
		sample            time.Duration
		srtt, rttvar, rto time.Duration
	}{
		// first: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR
		{500 * ms, 500 * ms, 250 * ms, 1500 * ms},
		// RTTVAR = 3/4*250 + 1/4*|500-700| = 237.5; SRTT = 7/8*500 + 1/8*700 = 525
		{700 * ms, 525 * ms, 237500 * time.Microsecond, 1475 * ms},
		// RTTVAR = 3/4*237.5 + 1/4*|525-300| = 234.375; SRTT = 7/8*525 + 1/8*300 = 496.875
		{300 * ms, 496875 * time.Microsecond, 234375 * time.Microsecond, 1434375 * time.Microsecond},
	}
	for i, s := range steps {
		r.Sample(s.sample)
		if r.SRTT() != s.srtt || r.RTTVAR() != s.rttvar || r.RTO() != s.rto {
			t.Errorf("after sample %d (%v): SRTT %v RTTVAR %v RTO %v; want %v %v %v",
				i+1, s.sample, r.SRTT(), r.RTTVAR(), r.RTO(), s.srtt, s.rttvar, s.rto)
		}
	}
	// 5.5: back off by doubling, up to the maximum
	r.Backoff()
	if r.RTO() != 2868750*time.Microsecond {
		t.Errorf("after a timeout RTO = %v, want 2.86875s", r.RTO())
	}
	for range 10 {
		r.Backoff()
	}
	// capped at maxBackoff times the RTO of the estimator (1434375us)
	if want := maxBackoff * 1434375 * time.Microsecond; r.RTO() != want {
		t.Errorf("after many timeouts RTO = %v, want %v", r.RTO(), want)
	}
	// a new sample recomputes RTO from the estimator
	r.Sample(500 * ms)
	if r.RTO() >= 2*time.Second {
		t.Errorf("a sample after backoff left RTO at %v", r.RTO())
	}
}

func TestRTTBounds(t *testing.T) {
	// below the minimum
	r := NewRTT(time.Second, 60*time.Second, time.Second, ms)
	r.Sample(10 * ms)
	if r.RTO() != time.Second {
		t.Errorf("RTO with a 10ms RTT = %v, want the 1s minimum", r.RTO())
	}
	// steady RTTs: RTTVAR decays and G is the floor of the variation term
	r = NewRTT(time.Microsecond, time.Second, time.Second, 5*ms)
	for range 200 {
		r.Sample(20 * ms)
	}
	if r.RTTVAR() > 10*time.Microsecond || r.RTO() != 25*ms {
		t.Errorf("steady 20ms: RTTVAR %v RTO %v; want ~0 and SRTT+G = 25ms", r.RTTVAR(), r.RTO())
	}
	if r.MinRTT() != 20*ms {
		t.Errorf("MinRTT = %v", r.MinRTT())
	}
}
