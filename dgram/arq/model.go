package arq

import "time"

// The congestion controller is a model of the path, after BBR (Cardwell
// et al., "BBR: Congestion-Based Congestion Control", ACM Queue 2016, and
// draft-cardwell-iccrg-bbr-congestion-control): two numbers, the
// bottleneck's delivery rate and the path's minimum round-trip time, say
// how much the path holds without a queue (their product, the BDP); the
// sender paces at the rate, and keeps at most a couple of BDPs in flight.
// Loss is not a signal by itself: on a lossy path that is not full, it is
// repaired and the rate goes on. It counts only when the model says that
// the path is full: a round trip that lost more than lossThresh of what it
// delivered while its round-trip times showed a standing queue. Then the
// amount in flight where the loss began becomes a bound (inflightHi,
// BBRv2's inflight_hi), which later round trips raise again as long as
// they do not lose.

// model modes.
type mode uint8

const (
	modeStartup  mode = iota // doubling the rate each round trip until it stops growing
	modeDrain                // emptying the queue Startup built
	modeProbeBW              // cruising at the rate, probing for more now and then
	modeProbeRTT             // a short dip in flight to measure the path's own RTT again
)

var modeNames = [...]string{"startup", "drain", "probe_bw", "probe_rtt"}

func (m mode) String() string { return modeNames[m] }

const (
	highGain     = 2.885 // 2/ln 2: doubles the delivery rate each round trip
	drainGain    = 1 / highGain
	cwndGain     = 2.0
	bwRounds     = 10 // rounds the bandwidth filter remembers
	fullBwGrowth = 1.25
	fullBwRounds = 3
	minCwnd      = 4
	// minRTTWindow is how long a minimum RTT sample stands; ProbeRTT
	// measures again when it runs out.
	minRTTWindow  = 10 * time.Second
	probeRTTTime  = 200 * time.Millisecond
	lossThresh    = 0.02 // a round trip that lost more than 2% of its data, with a queue, is congestion
	heavyLoss     = 0.15 // one that lost more than 15%, and twice what the path usually loses, in any case
	hiBeta        = 0.85 // inflightHi after congestion: this share of the inflight where the loss began
	maxExtraAcked = 100 * time.Millisecond
	// minRoundSamples is how many RTT samples a round needs before its
	// shortest says anything about a queue (HyStart++'s N_RTT_SAMPLE).
	minRoundSamples = 8
)

// gainCycle is ProbeBW's pacing gains, one phase per round trip: probe
// up, drain what the probe queued, cruise.
var gainCycle = [8]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

// rateSample is what one acknowledgement says about the delivery rate
// (draft-cheng-iccrg-delivery-rate-estimation): segments delivered over
// the interval between the sending of the segment it acknowledges and
// now, taken as the longer of the send and the acknowledgement intervals,
// so that neither a burst of sends nor one of ACKs inflates it.
type rateSample struct {
	set            bool
	priorDelivered uint64
	priorTime      time.Time
	sentAt         time.Time // the send time of the segment the sample ends with
	sendElapsed    time.Duration
	ackElapsed     time.Duration
	appLimited     bool
	rate           float64 // segments per second; 0: no valid sample
	newlyDelivered int
	newlyLost      int
	lostInflight   int // the most in flight when a newly lost segment was sent
}

// model is the controller's state. It does no I/O and reads no clock.
type model struct {
	cfg  *Config
	mode mode

	bw      [bwRounds]float64 // the highest delivery rate of each of the last rounds
	bwMax   float64
	minRTT  time.Duration
	minAt   time.Time
	rttSeen bool

	// delivery accounting (segments)
	delivered    uint64
	deliveredAt  time.Time
	firstSentAt  time.Time
	appLimitedAt uint64 // delivered count up to which samples are app-limited (0: none)
	cps          [checkpoints]checkpoint
	cpNext       int

	round      uint64
	nextRound  uint64
	roundStart bool

	fullBw      float64
	fullBwCnt   int
	filled      bool
	cycle       int
	cycleAt     time.Time
	pacingGain  float64
	gain        float64 // cwnd gain
	probeRTTEnd time.Time
	probeRound  bool
	probeRTTDue bool
	priorCwnd   float64

	// ACK aggregation: how many segments were acknowledged beyond what
	// the rate explains, the most of each of the last rounds.
	epochAt    time.Time
	epochAcked float64
	extra      [bwRounds]float64
	extraMax   float64

	// congestion accounting of the current round
	roundLost, roundDelivered int
	roundMinRTT               time.Duration
	roundAt                   time.Time // when the round began
	bwLo                      float64   // the rate congestion allows (0: none)
	lossAvg                   float64   // the loss rate of round trips, averaged
	roundSamples              int
	roundInflightLost         int
	inflightHi                float64
	hiGrowth                  float64
	hiUsed                    bool // the bound held cwnd down this round

	cwnd         float64
	pacing       float64 // the pacing rate, segments per second (0: not yet)
	conservation bool    // the first round of a recovery: cwnd follows what is acknowledged
	conserveTill uint64
}

func newModel(cfg *Config, id uint32) *model {
	m := &model{cfg: cfg, cwnd: float64(cfg.InitialWindow), inflightHi: inf, hiGrowth: 1}
	m.enterStartup()
	m.cycle = int(id % 7) // a phase of its own for each connection, never the 0.75 one
	if m.cycle >= 1 {
		m.cycle++
	}
	return m
}

const inf = 1e18

func (m *model) enterStartup() {
	m.mode, m.pacingGain, m.gain = modeStartup, highGain, highGain
}

// rttFloor is the shortest RTT the model plans with: a round trip on
// loopback or a LAN takes tens of microseconds, but a sender's timers and
// a busy receiver's reads come in steps of about a millisecond, so a BDP
// computed from the wire's RTT alone would leave the path idle.
const rttFloor = time.Millisecond

// planRTT is the RTT the model plans with: the path's minimum, at least
// rttFloor.
func (m *model) planRTT() time.Duration { return max(m.minRTT, rttFloor) }

// rate is the rate the model plans with: the bottleneck rate measured,
// and no more than what the last congested round trip delivered, raised
// again by loss-free ones (BBRv2's bw_lo).
func (m *model) rate() float64 {
	if m.bwLo > 0 {
		return min(m.bwMax, m.bwLo)
	}
	return m.bwMax
}

// bdp returns the bandwidth-delay product, in segments, times gain.
func (m *model) bdp(gain float64) float64 {
	if m.bwMax == 0 || !m.rttSeen {
		return float64(m.cfg.InitialWindow)
	}
	return gain * m.rate() * m.planRTT().Seconds()
}

// pacingRate returns the pacing rate in segments per second (0: do not
// pace), given the smoothed RTT.
//
// Before the first rate sample it does not pace: the initial window goes
// as it is (a handshake's RTT, which may include a peer's start, is a
// poor guide). In Startup it paces at least at twice what the window
// allows per RTT: Startup doubles the window each round trip, as slow
// start does, and a rate that lags a round behind the samples must not
// hold it back.
func (m *model) pacingRate(srtt time.Duration) float64 {
	if m.mode == modeStartup && srtt > 0 && m.pacing > 0 {
		return max(m.pacing, 2*m.cwnd/max(srtt, rttFloor/10).Seconds())
	}
	return m.pacing
}

// setPacing sets the pacing rate from the model: in Startup it only
// grows (the first samples, of a window that has barely opened, say
// little), afterwards it follows the rate.
func (m *model) setPacing() {
	if m.bwMax == 0 {
		return
	}
	r := m.pacingGain * m.rate() * 0.99
	if m.filled || r > m.pacing {
		m.pacing = r
	}
}

// quantum is the most segments sent back to back: a millisecond's worth,
// from 2 to 32 (the GSO buffers' size).
func (m *model) quantum(rate float64) float64 {
	return min(max(rate/1000, 2), 32)
}

// onSend notes a transmission; it returns the snapshot the segment
// carries.
func (m *model) onSend(g *sendSeg, pipe int, now time.Time) {
	if pipe == 0 {
		m.firstSentAt, m.deliveredAt = now, now
	}
	g.delivered, g.deliveredAt, g.firstSentAt = m.delivered, m.deliveredAt, m.firstSentAt
	g.appLimited = m.appLimitedAt != 0
	g.inflight = int32(pipe + 1)
}

// onDelivered notes a segment newly delivered (acknowledged or SACKed)
// and updates the rate sample rs.
func (m *model) onDelivered(g *sendSeg, now time.Time, rs *rateSample) {
	m.delivered++
	m.deliveredAt = now
	rs.newlyDelivered++
	if g.sends > 1 {
		// The delivery of a segment sent more than once may be the
		// original's: measured from the retransmission, a burst of
		// originals that were only late would make a rate the path
		// never had.
		return
	}
	if !rs.set || g.delivered > rs.priorDelivered {
		rs.set = true
		rs.priorDelivered, rs.priorTime = g.delivered, g.deliveredAt
		rs.appLimited = g.appLimited
		rs.sentAt, rs.sendElapsed = g.sentAt, g.sentAt.Sub(g.firstSentAt)
		m.firstSentAt = g.sentAt
	}
}

// checkpoint is the delivery state at one time: a baseline for rate
// samples that must span more than one short round trip.
type checkpoint struct {
	at          time.Time
	delivered   uint64
	firstSentAt time.Time
}

// checkpoints is how many checkpoints the model keeps, at least a
// quarter of rttFloor apart.
const checkpoints = 16

// sampleFloor is the shortest interval a rate sample spans: on a host
// that shares its processors, a process on the path (a proxy, the
// receiver) forwards in bursts as it gets a core and stalls between
// them, and the bottleneck rate is what it sustains over milliseconds,
// not the rate of one burst.
const sampleFloor = 1 * time.Millisecond

// checkpoint records the delivery state after an acknowledgement.
func (m *model) checkpoint(now time.Time) {
	last := &m.cps[(m.cpNext+checkpoints-1)%checkpoints]
	if !last.at.IsZero() && now.Sub(last.at) < sampleFloor/4 {
		return
	}
	m.cps[m.cpNext] = checkpoint{now, m.delivered, m.firstSentAt}
	m.cpNext = (m.cpNext + 1) % checkpoints
}

// widen moves the baseline of a rate sample whose interval is shorter
// than sampleFloor back to the newest checkpoint at least that old: on
// loopback, a round trip is tens of microseconds, and 32 segments sent
// as one GSO buffer and read as one GRO buffer are delivered in an
// instant, at a rate no path sustains.
func (m *model) widen(rs *rateSample, now time.Time) {
	if now.Sub(rs.priorTime) >= sampleFloor {
		return
	}
	for k := 1; k <= checkpoints; k++ {
		cp := &m.cps[(m.cpNext+checkpoints-k)%checkpoints]
		if cp.at.IsZero() {
			break
		}
		if now.Sub(cp.at) >= sampleFloor && !cp.at.After(rs.priorTime) && !cp.firstSentAt.IsZero() {
			rs.priorDelivered, rs.priorTime = cp.delivered, cp.at
			rs.sendElapsed = rs.sentAt.Sub(cp.firstSentAt)
			return
		}
	}
}

// onLost notes a segment found lost.
func (m *model) onLost(g *sendSeg, rs *rateSample) {
	rs.newlyLost++
	rs.lostInflight = max(rs.lostInflight, int(g.inflight))
}

// markAppLimited notes that the sender has nothing to send: the rate
// samples until what is in flight now is delivered measure the
// application, not the path.
func (m *model) markAppLimited(pipe int) {
	m.appLimitedAt = max(m.delivered+uint64(pipe), 1)
}

// onAck runs the model for one acknowledgement: rs is what it delivered
// and lost, rtt its RTT sample (0: none), pipe what is in flight after
// it. It returns true when the model found congestion (a bound was set).
func (m *model) onAck(rs *rateSample, rtt time.Duration, pipe int, reordering bool, now time.Time) (congested bool) {
	if rs.set {
		m.widen(rs, now)
		rs.ackElapsed = m.deliveredAt.Sub(rs.priorTime)
		interval := max(rs.sendElapsed, rs.ackElapsed)
		if d := m.delivered - rs.priorDelivered; d > 0 && interval >= min(sampleFloor, m.planRTT()) {
			rs.rate = float64(d) / interval.Seconds()
		}
	}
	m.checkpoint(now)
	if m.appLimitedAt != 0 && m.delivered > m.appLimitedAt {
		m.appLimitedAt = 0
	}
	// rounds: one ends when a segment sent after it began is delivered
	m.roundStart = false
	if rs.set && rs.priorDelivered >= m.nextRound {
		m.nextRound = m.delivered
		m.round++
		m.roundStart = true
	}
	if m.roundStart {
		congested = m.endRound(reordering, now)
	}
	if m.conservation && m.delivered >= m.conserveTill {
		m.conservation = false // a round passed
	}
	m.roundDelivered += rs.newlyDelivered
	m.roundLost += rs.newlyLost
	m.roundInflightLost = max(m.roundInflightLost, rs.lostInflight)
	// the minimum RTT stands for minRTTWindow; when it runs out, the
	// next sample replaces it and ProbeRTT looks for a lower one
	expired := m.rttSeen && now.Sub(m.minAt) > minRTTWindow
	if rtt > 0 {
		if m.roundMinRTT == 0 || rtt < m.roundMinRTT {
			m.roundMinRTT = rtt
		}
		m.roundSamples++
		if !m.rttSeen || rtt <= m.minRTT || expired {
			m.minRTT, m.minAt, m.rttSeen = rtt, now, true
		}
	}
	m.probeRTTDue = m.probeRTTDue || expired
	// the bandwidth filter: the highest rate of each of the last rounds
	i := m.round % bwRounds
	if m.roundStart {
		m.bw[i] = 0 // the round this slot held is bwRounds old
	}
	if rs.rate > 0 && (!rs.appLimited || rs.rate >= m.bwMax) && rs.rate > m.bw[i] {
		m.bw[i] = rs.rate
	}
	if m.roundStart || m.bw[i] > m.bwMax {
		m.bwMax = 0
		for _, b := range m.bw {
			m.bwMax = max(m.bwMax, b)
		}
	}
	m.aggregation(rs.newlyDelivered, now)
	if m.roundStart && !rs.appLimited && m.mode == modeStartup {
		if m.bwMax >= m.fullBw*fullBwGrowth {
			m.fullBw, m.fullBwCnt = m.bwMax, 0
		} else if m.fullBwCnt++; m.fullBwCnt >= fullBwRounds {
			m.filled = true
		}
	}
	m.modes(pipe, now)
	m.setPacing()
	m.setCwnd(rs.newlyDelivered, pipe)
	return congested
}

// endRound closes the round that just ended: it decides whether it was
// congested, and raises inflightHi if it was not and the bound was used.
func (m *model) endRound(reordering bool, now time.Time) bool {
	lost, deliv := m.roundLost, m.roundDelivered
	// a queue: even the round's shortest RTT was well above the path's
	// (HyStart++'s threshold, RFC 9406: an eighth of the RTT, from 4 to
	// 16 ms)
	queue := m.rttSeen && m.roundSamples >= minRoundSamples &&
		m.roundMinRTT > m.minRTT+min(max(m.minRTT/8, 4*time.Millisecond), 16*time.Millisecond)
	// Congestion: loss beyond lossThresh with a queue; or, with or
	// without one, loss beyond heavyLoss and well beyond what this path
	// loses anyway (a buffer too shallow to show a queue in the RTT
	// overflows too, and its loss grows with the rate, where random
	// loss does not) on a path that does not reorder (where segments
	// taken for lost may only be late).
	rate := float64(lost) / float64(max(lost+deliv, 1))
	congested := lost >= 2 && rate > lossThresh && queue ||
		!reordering && lost >= 8 && rate > max(heavyLoss, 2*m.lossAvg+lossThresh)
	if lost+deliv >= 20 {
		m.lossAvg += (rate - m.lossAvg) / 8
	}
	dur := now.Sub(m.roundAt)
	m.roundAt = now
	if congested {
		hi := max(hiBeta*float64(m.roundInflightLost), minCwnd)
		m.inflightHi = min(m.inflightHi, hi)
		m.hiGrowth = 1
		if m.mode == modeStartup {
			m.filled = true
		}
		// the rate too: what this round delivered is what the path
		// took (a shallow buffer overflows at a rate the bandwidth
		// filter, which keeps the best of ten rounds, still believes)
		if dur > 0 && deliv > 0 {
			r := max(float64(deliv)/dur.Seconds(), m.bwMax/4)
			if m.bwLo == 0 || r < m.bwLo {
				m.bwLo = r
			}
		}
	} else if m.bwLo > 0 {
		if m.bwLo *= fullBwGrowth; m.bwLo >= m.bwMax {
			m.bwLo = 0 // back to the filter
		}
	}
	if !congested && m.hiUsed && m.inflightHi < inf && lost == 0 {
		// the bound held us and cost nothing: probe above it, faster
		// each round (1, 2, 4 ... segments), up to a quarter of it
		m.inflightHi += m.hiGrowth
		m.hiGrowth = min(2*m.hiGrowth, max(m.inflightHi/4, 1))
	}
	m.roundLost, m.roundDelivered, m.roundMinRTT, m.roundInflightLost, m.hiUsed = 0, 0, 0, 0, false
	m.roundSamples = 0
	return congested
}

// aggregation estimates the segments acknowledged in bursts beyond what
// the delivery rate explains (ACKs that come in batches, a receiver that
// reads late): cwnd keeps room for them, or the pipe would drain while
// waiting.
func (m *model) aggregation(acked int, now time.Time) {
	if m.bwMax == 0 || acked == 0 {
		return
	}
	if m.roundStart {
		m.extra[m.round%bwRounds] = 0
	}
	expected := m.bwMax * now.Sub(m.epochAt).Seconds()
	if m.epochAt.IsZero() || m.epochAcked <= expected {
		m.epochAt, m.epochAcked, expected = now, 0, 0
	}
	m.epochAcked += float64(acked)
	extra := min(m.epochAcked-expected, m.cwnd, m.bwMax*maxExtraAcked.Seconds())
	i := m.round % bwRounds
	if extra > m.extra[i] {
		m.extra[i] = extra
	}
	m.extraMax = 0
	for _, e := range m.extra {
		m.extraMax = max(m.extraMax, e)
	}
}

// modes moves between the modes.
func (m *model) modes(pipe int, now time.Time) {
	switch m.mode {
	case modeStartup:
		if m.filled {
			m.mode, m.pacingGain, m.gain = modeDrain, drainGain, highGain
		}
	case modeProbeBW:
		m.advanceCycle(pipe, now)
	}
	if m.mode == modeDrain && float64(pipe) <= m.bdp(1) {
		m.enterProbeBW(now)
	}
	// ProbeRTT: the minimum RTT is old; keep little in flight for a
	// moment to see the path without our own queue.
	if m.probeRTTDue && m.mode != modeProbeRTT {
		m.probeRTTDue = false
		m.mode, m.pacingGain, m.gain = modeProbeRTT, 1, 1
		m.priorCwnd = max(m.priorCwnd, m.cwnd)
		m.probeRTTEnd, m.probeRound = time.Time{}, false
	}
	if m.mode == modeProbeRTT {
		if m.probeRTTEnd.IsZero() && pipe <= minCwnd {
			m.probeRTTEnd = now.Add(max(probeRTTTime, m.planRTT()))
			m.nextRound = m.delivered // wait one round too
			m.probeRound = false
		} else if !m.probeRTTEnd.IsZero() {
			if m.roundStart {
				m.probeRound = true
			}
			if m.probeRound && !now.Before(m.probeRTTEnd) {
				m.minAt = now // what ProbeRTT saw stands for another window
				m.cwnd = max(m.cwnd, m.priorCwnd)
				m.priorCwnd = 0
				if m.filled {
					m.enterProbeBW(now)
				} else {
					m.enterStartup()
				}
			}
		}
	}
}

func (m *model) enterProbeBW(now time.Time) {
	m.mode, m.gain = modeProbeBW, cwndGain
	m.cycleAt = now
	m.pacingGain = gainCycle[m.cycle]
}

// advanceCycle moves ProbeBW's gain cycle on, a phase per round trip: the
// probe up lasts until it put 1.25 BDP in flight (or found loss), the
// drain after it until the queue is gone.
func (m *model) advanceCycle(pipe int, now time.Time) {
	full := now.Sub(m.cycleAt) > m.planRTT()
	switch g := m.pacingGain; {
	case g > 1:
		full = full && (m.roundLost > 0 || float64(pipe) >= m.bdp(g))
	case g < 1:
		full = full || float64(pipe) <= m.bdp(1)
	}
	if full {
		m.cycle = (m.cycle + 1) % len(gainCycle)
		m.cycleAt = now
		m.pacingGain = gainCycle[m.cycle]
	}
}

// target is the congestion window the model wants, in segments.
func (m *model) target(rate float64) float64 {
	t := m.bdp(m.gain) + m.extraMax + 3*m.quantum(rate)
	return max(t, minCwnd)
}

// setCwnd sets the congestion window after acked segments were delivered.
func (m *model) setCwnd(acked, pipe int) {
	rate := m.bwMax
	t := m.target(rate)
	switch {
	case m.conservation:
		m.cwnd = max(m.cwnd, float64(pipe+acked))
	case m.filled:
		m.cwnd = min(m.cwnd+float64(acked), t)
	case m.cwnd < t || m.delivered < uint64(m.cfg.InitialWindow):
		m.cwnd += float64(acked) // Startup grows as fast as the ACKs come
	}
	m.cwnd = max(m.cwnd, minCwnd)
	if m.mode == modeProbeRTT {
		m.cwnd = min(m.cwnd, minCwnd)
	}
	if m.cwnd > m.inflightHi {
		m.cwnd = m.inflightHi
		m.hiUsed = true
	}
	m.cwnd = min(m.cwnd, float64(m.cfg.SendBuffer))
}

// onTimeout collapses the window to lossWindow after a retransmission
// timeout; the model (rate, RTT) stays, and so does the window it had,
// which comes back once the recovery ends.
func (m *model) onTimeout() {
	m.priorCwnd = max(m.priorCwnd, m.cwnd)
	m.cwnd = lossWindow
	m.conservation = true
	m.conserveTill = m.delivered + 1
}

// exitRecovery restores the window the recovery started from.
func (m *model) exitRecovery() {
	m.conservation = false
	if m.priorCwnd > 0 {
		m.cwnd = max(m.cwnd, min(m.priorCwnd, m.inflightHi))
		m.priorCwnd = 0
	}
}
