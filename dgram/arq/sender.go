package arq

import (
	"sync"
	"time"
)

// segPool recycles segment buffers of DefaultMSS-sized payloads.
var segPool = sync.Pool{New: func() any { b := make([]byte, 0, DefaultMSS); return &b }}

func getSegBuf(n int) *[]byte {
	if n <= DefaultMSS {
		p := segPool.Get().(*[]byte)
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, n)
	return &b
}

func putSegBuf(p *[]byte) {
	if p != nil && cap(*p) == DefaultMSS {
		segPool.Put(p)
	}
}

// beta is the multiplicative decrease on a loss found by ACKs: 0.7, as
// CUBIC (RFC 9438) rather than NewReno's 0.5, so that the random loss of a
// lossy (not congested) link costs less; a timeout still collapses the
// window to one segment.
const beta = 0.7

// sendSeg is a segment the sender holds until it is acknowledged.
type sendSeg struct {
	buf      *[]byte
	end      bool // last segment of its message
	sentAt   time.Time
	sends    int
	sacked   bool
	lost     bool
	inFlight bool
}

// sender is the sending half of a connection: a ring of segments from una
// (the oldest unacknowledged) through nxt (the next never sent) to max
// (the next to be queued), selective-repeat retransmission driven by
// cumulative ACKs, SACK ranges and the RFC 6298 timer, and NewReno-style
// congestion control. It does no I/O; the connection calls it with the
// time and sends what it returns.
type sender struct {
	cfg  *Config
	rtt  *RTT
	ring []sendSeg

	una, nxt, max uint64
	pipe          int // segments in flight: sent, not acked, SACKed or lost
	cwnd          float64
	ssthresh      float64
	inRecovery    bool
	recover       uint64
	dupAcks       int
	highSacked    uint64 // one past the highest SACKed segment
	lossScan      uint64 // segments below were checked for loss
	retxScan      uint64 // no lost segment below this
	lostCount     int
	rwnd          uint64 // the peer's window, from una
	rtoAt         time.Time
	timeouts      int       // in a row, without progress
	rackXmit      time.Time // send time of the latest segment known delivered (RACK)
	tlpAt         time.Time // when to send a tail loss probe (RFC 8985)
	tlpOut        bool      // a probe is out, unanswered

	st *Stats
}

func newSender(cfg *Config, rtt *RTT, st *Stats) *sender {
	return &sender{cfg: cfg, rtt: rtt, ring: make([]sendSeg, min(initialRing, cfg.SendBuffer)), cwnd: float64(cfg.InitialWindow),
		ssthresh: 1e18, rwnd: uint64(cfg.InitialWindow), st: st}
}

func (s *sender) seg(q uint64) *sendSeg { return &s.ring[q%uint64(len(s.ring))] }

// space returns how many segments may be queued.
func (s *sender) space() int { return s.cfg.SendBuffer - int(s.max-s.una) }

// grow doubles the ring (up to SendBuffer) when the segments held fill it:
// a connection that sends little never allocates a large ring.
func (s *sender) grow() {
	n := min(2*len(s.ring), s.cfg.SendBuffer)
	ring := make([]sendSeg, n)
	for q := s.una; q < s.max; q++ {
		ring[q%uint64(n)] = *s.seg(q)
	}
	s.ring = ring
}

// queue adds one segment; the caller checked space().
func (s *sender) queue(payload []byte, end bool) {
	if int(s.max-s.una) == len(s.ring) {
		s.grow()
	}
	g := s.seg(s.max)
	g.buf = getSegBuf(len(payload))
	*g.buf = append(*g.buf, payload...)
	g.end, g.sends, g.sacked, g.lost, g.inFlight = end, 0, false, false, false
	s.max++
}

// outstanding reports whether sent data awaits acknowledgement.
func (s *sender) outstanding() bool { return s.una < s.nxt }

// idle reports whether everything queued was acknowledged.
func (s *sender) idle() bool { return s.una == s.max }

// next returns the segment to send now, if the windows allow one: a lost
// segment first (a retransmission), else new data.
func (s *sender) next() (q uint64, retx, ok bool) {
	if float64(s.pipe) >= s.cwnd {
		return 0, false, false
	}
	if s.lostCount > 0 {
		if s.retxScan < s.una {
			s.retxScan = s.una
		}
		for ; s.retxScan < s.nxt; s.retxScan++ {
			g := s.seg(s.retxScan)
			if g.lost && !g.sacked {
				return s.retxScan, true, true
			}
		}
		s.lostCount = 0 // none left below nxt
	}
	if s.nxt < s.max && s.nxt < s.una+s.rwnd {
		return s.nxt, false, true
	}
	return 0, false, false
}

// sent records that segment q went out at now.
func (s *sender) sent(q uint64, retx bool, now time.Time) {
	g := s.seg(q)
	if retx {
		g.lost = false
		s.lostCount--
		s.st.Retransmits++
	} else {
		s.nxt = q + 1
		s.st.SegmentsSent++
		s.st.BytesSent += uint64(len(*g.buf))
	}
	g.sends++
	g.sentAt = now
	g.inFlight = true
	s.pipe++
	if s.rtoAt.IsZero() {
		s.rtoAt = now.Add(s.rtt.RTO())
	}
	s.armTLP(now)
}

// armTLP schedules a tail loss probe two round trips from now (RFC 8985):
// if the tail of a flight is lost, no SACK reveals it, and without a probe
// only the retransmission timer would, collapsing the window.
func (s *sender) armTLP(now time.Time) {
	if !s.rtt.HasSample() || s.tlpOut || !s.outstanding() {
		s.tlpAt = time.Time{}
		return
	}
	pto := max(2*s.rtt.SRTT(), s.cfg.Granularity)
	if at := now.Add(pto); s.rtoAt.IsZero() || at.Before(s.rtoAt) {
		s.tlpAt = at
	} else {
		s.tlpAt = time.Time{}
	}
}

// probe returns the segment to send as a tail loss probe: the last one
// sent. It is sent again as it is, without marking anything lost; its
// acknowledgement (a SACK) lets RACK find what the tail lost.
func (s *sender) probe() (uint64, bool) {
	s.tlpAt = time.Time{}
	if !s.outstanding() || s.tlpOut {
		return 0, false
	}
	s.tlpOut = true
	s.st.Probes++
	return s.nxt - 1, true
}

// onAck processes an acknowledgement: cumulative up to cum (exclusive),
// the SACK ranges and the peer's window. It reports whether it acked new
// data (progress).
func (s *sender) onAck(cum uint64, sack []Range, window uint32, now time.Time, trace func(TraceEvent)) bool {
	if cum > s.nxt { // acknowledges what was never sent: ignore
		return false
	}
	progress := cum > s.una
	s.rwnd = uint64(window)
	if progress {
		acked := cum - s.una
		// Karn's rule: sample only segments sent once, and only when no
		// retransmission is among those acknowledged: an ACK that waited
		// for a hole to be filled measures the recovery, not the path.
		clean := true
		for q := s.una; q < cum && clean; q++ {
			if g := s.seg(q); g.sends != 1 {
				clean = false
			}
		}
		if g := s.seg(cum - 1); clean && !g.sacked {
			s.rtt.Sample(now.Sub(g.sentAt))
			trace(TraceEvent{Kind: "rtt", Seq: cum - 1})
		}
		for q := s.una; q < cum; q++ {
			g := s.seg(q)
			if g.sentAt.After(s.rackXmit) && !g.sacked {
				s.rackXmit = g.sentAt
			}
			if g.inFlight {
				s.pipe--
			}
			if g.lost && !g.sacked {
				s.lostCount--
			}
			s.st.BytesAcked += uint64(len(*g.buf))
			putSegBuf(g.buf)
			*g = sendSeg{}
		}
		s.una = cum
		s.dupAcks = 0
		s.timeouts = 0
		s.tlpOut = false
		if s.inRecovery {
			// Within a recovery the window stays put (one reduction per
			// loss event, as NewReno); SACK finds the other holes.
			if cum >= s.recover {
				s.inRecovery = false
				s.cwnd = s.ssthresh
				trace(TraceEvent{Kind: "recovery", Why: "done"})
			}
		} else if s.cwnd < s.ssthresh {
			s.cwnd += float64(acked) // slow start
		} else {
			s.cwnd += float64(acked) / s.cwnd // congestion avoidance: one segment per round trip
		}
		s.cwnd = min(s.cwnd, float64(s.cfg.SendBuffer))
		if s.outstanding() {
			s.rtoAt = now.Add(s.rtt.RTO())
		} else {
			s.rtoAt = time.Time{}
		}
		s.armTLP(now)
	}
	newSack := false
	var sackSample time.Time // send time of the latest first transmission newly SACKed
	for _, r := range sack {
		start, end := max(r.Start, s.una), min(r.End, s.nxt)
		for q := start; q < end; q++ {
			g := s.seg(q)
			if !g.sacked {
				g.sacked, newSack = true, true
				if g.sentAt.After(s.rackXmit) {
					s.rackXmit = g.sentAt
				}
				if g.sends == 1 && g.sentAt.After(sackSample) {
					sackSample = g.sentAt
				}
				if g.inFlight {
					g.inFlight = false
					s.pipe--
				}
				if g.lost {
					g.lost = false
					s.lostCount--
				}
			}
		}
		s.highSacked = max(s.highSacked, end)
	}
	if !progress && !sackSample.IsZero() {
		// a SACK of a segment sent once is a clean round-trip sample too
		s.rtt.Sample(now.Sub(sackSample))
	}
	// A duplicate ACK counts only if it brings new SACK information
	// (RFC 6675): the ACKs a duplicated segment draws say nothing new.
	if !progress && s.outstanding() && newSack {
		s.dupAcks++
	}
	s.detectLoss(trace)
	return progress
}

// detectLoss marks as lost every unacknowledged segment that three later
// segments were SACKed past (RFC 6675's DupThresh, by sequence), and the
// oldest one after three duplicate ACKs; new losses start a recovery.
func (s *sender) detectLoss(trace func(TraceEvent)) {
	const dupThresh = 3
	newLoss := false
	if s.dupAcks >= dupThresh {
		// fast retransmit: once, for a first transmission that was lost
		if g := s.seg(s.una); s.outstanding() && !g.sacked && !g.lost && g.sends == 1 {
			s.markLost(s.una)
			newLoss = true
			trace(TraceEvent{Kind: "retransmit", Seq: s.una, Why: "fast"})
		}
	}
	if s.lossScan < s.una {
		s.lossScan = s.una
	}
	for ; s.lossScan+dupThresh <= s.highSacked && s.lossScan < s.nxt; s.lossScan++ {
		g := s.seg(s.lossScan)
		if !g.sacked && !g.lost && g.sends > 0 {
			s.markLost(s.lossScan)
			newLoss = true
			trace(TraceEvent{Kind: "retransmit", Seq: s.lossScan, Why: "sack"})
		}
	}
	// RACK (RFC 8985): a segment sent a reordering window before one that
	// was delivered is lost, retransmissions included, which the rules
	// above cannot see again.
	if !s.rackXmit.IsZero() {
		reo := max(s.rtt.SRTT()/4, time.Millisecond)
		limit := s.rackXmit.Add(-reo)
		for q := s.una; q < s.nxt; q++ {
			g := s.seg(q)
			if g.sacked || g.lost || g.sends == 0 {
				continue
			}
			if g.sentAt.Before(limit) {
				s.markLost(q)
				newLoss = true
				trace(TraceEvent{Kind: "retransmit", Seq: q, Why: "rack"})
			} else if g.sends == 1 {
				break // later first transmissions were sent later still
			}
		}
	}
	if newLoss && !s.inRecovery {
		flight := float64(s.nxt - s.una)
		s.ssthresh = max(flight*beta, 2)
		s.cwnd = s.ssthresh
		s.inRecovery, s.recover = true, s.nxt
		s.st.Recoveries++
		trace(TraceEvent{Kind: "recovery", Why: "loss"})
	}
}

func (s *sender) markLost(q uint64) {
	g := s.seg(q)
	if g.lost || g.sacked {
		return
	}
	g.lost = true
	s.lostCount++
	if q < s.retxScan {
		s.retxScan = q
	}
	if g.inFlight {
		g.inFlight = false
		s.pipe--
	}
}

// linearTimeouts is how many timeouts in a row keep the timer as it is
// before it backs off exponentially, as Linux does for thin streams
// (tcp_thin_linear_timeouts: 6). A burst of losses is counted in packets,
// not in time (a Wi-Fi burst, a queue overflow): only packets sent get a
// transfer out of it, and doubling the wait at once turned a burst of ten
// lost packets into seconds of silence. The window is one segment during
// the timeouts, so the link sees one packet per RTO: no more than a
// single-packet flow.
const linearTimeouts = 6

// lossWindow is the congestion window after a timeout, in segments: two,
// as QUIC's minimum window (RFC 9002 7.2), rather than TCP's one, so that
// a burst of losses counted in packets is left twice as fast.
const lossWindow = 2

// onTimeout handles the retransmission timer (RFC 6298 5.4-5.7): every
// outstanding segment not SACKed is taken for lost, the window collapses to
// one segment, and the timeout doubles (up to its cap). Giving up is not
// its business: the connection gives up when the peer has been silent, or
// has acknowledged nothing, for IdleTimeout.
func (s *sender) onTimeout(now time.Time, trace func(TraceEvent)) {
	if !s.outstanding() {
		s.rtoAt = time.Time{}
		return
	}
	s.st.Timeouts++
	flight := float64(s.nxt - s.una)
	s.ssthresh = max(flight/2, 2)
	s.cwnd = lossWindow
	s.inRecovery = false
	for q := s.una; q < s.nxt; q++ {
		s.markLost(q)
	}
	s.pipe = 0
	s.dupAcks = 0
	s.timeouts++
	if s.timeouts > linearTimeouts {
		s.rtt.Backoff()
	}
	s.rtoAt = now.Add(s.rtt.RTO())
	s.tlpAt, s.tlpOut = time.Time{}, false
	trace(TraceEvent{Time: now, Kind: "timeout", Seq: s.una, Why: "timeout"})
}

// release frees every buffer (the connection is done).
func (s *sender) release() {
	for i := range s.ring {
		putSegBuf(s.ring[i].buf)
		s.ring[i] = sendSeg{}
	}
	s.ring = nil
}
