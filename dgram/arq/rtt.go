package arq

import "time"

// RTT is the retransmission-timeout estimator of RFC 6298:
//
//	first sample R:  SRTT = R, RTTVAR = R/2
//	later samples:   RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|,  SRTT = 7/8 SRTT + 1/8 R
//	RTO = SRTT + max(G, 4 RTTVAR), kept within [Min, Max]
//
// Before the first sample RTO is Initial. Each timeout doubles RTO (up to
// Max) until a new sample recomputes it. Callers follow Karn's rule: no
// sample from a segment that was retransmitted. It does no I/O and reads
// no clock.
type RTT struct {
	Min, Max, Initial, G time.Duration
	// Spread, if positive, stops the backoff at the larger of Spread and
	// the RTO the RTT gives (Initial before a sample), so that timeouts in
	// a row keep coming: arq sets IdleTimeout/64, and a peer silent for
	// the idle timeout is probed dozens of times, whatever the RTT.
	Spread time.Duration

	srtt, rttvar, rto time.Duration
	minRTT            time.Duration
	has               bool
}

// MinRTT returns the smallest sample so far.
func (r *RTT) MinRTT() time.Duration { return r.minRTT }

// NewRTT returns an estimator with the given bounds and clock granularity.
func NewRTT(min, max, initial, g time.Duration) *RTT {
	return &RTT{Min: min, Max: max, Initial: initial, G: g, rto: clamp(initial, min, max)}
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

// Sample adds a round-trip measurement.
func (r *RTT) Sample(m time.Duration) {
	if m <= 0 {
		m = time.Nanosecond
	}
	if r.minRTT == 0 || m < r.minRTT {
		r.minRTT = m
	}
	if !r.has {
		r.srtt, r.rttvar, r.has = m, m/2, true
	} else {
		diff := r.srtt - m
		if diff < 0 {
			diff = -diff
		}
		r.rttvar = (3*r.rttvar + diff) / 4
		r.srtt = (7*r.srtt + m) / 8
	}
	r.rto = clamp(r.srtt+max(r.G, 4*r.rttvar), r.Min, r.Max)
}

// maxBackoff bounds how far timeouts in a row back RTO off: 16 times the
// RTO the measured RTT gives. Loss in bursts is counted in packets (a
// Wi-Fi burst, a queue that overflows), and only packets sent get a
// transfer out of one: a backoff that grows without a bound relative to
// the path turns a burst of twenty lost packets into tens of seconds of
// silence. One packet every 16 RTOs is no load on any path.
const maxBackoff = 16

// Backoff doubles RTO after a timeout (RFC 6298 5.5), up to Max, to
// maxBackoff times the unbacked RTO, and to the larger of the unbacked
// RTO and Spread.
func (r *RTT) Backoff() {
	base := clamp(r.Initial, r.Min, r.Max)
	limit := r.Max
	if r.has {
		base = clamp(r.srtt+max(r.G, 4*r.rttvar), r.Min, r.Max)
		limit = min(limit, maxBackoff*base)
	}
	if r.Spread > 0 {
		limit = min(limit, max(base, r.Spread))
	}
	r.rto = max(min(2*r.rto, limit), r.rto)
}

// RTO returns the current retransmission timeout.
func (r *RTT) RTO() time.Duration { return r.rto }

// SRTT returns the smoothed round-trip time (zero before the first
// sample).
func (r *RTT) SRTT() time.Duration { return r.srtt }

// RTTVAR returns the round-trip time's variation (zero before the first
// sample).
func (r *RTT) RTTVAR() time.Duration { return r.rttvar }

// HasSample reports whether a sample was taken.
func (r *RTT) HasSample() bool { return r.has }
