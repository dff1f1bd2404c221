package arq

import (
	"sync"
	"time"
)

// segCap is the capacity of pooled segment buffers: a DATA packet of
// DefaultMSS bytes of payload, whole.
const segCap = DefaultMSS + DataOverhead

// segPool recycles segment buffers of segCap bytes.
var segPool = sync.Pool{New: func() any { b := make([]byte, 0, segCap); return &b }}

func getSegBuf(n int) *[]byte {
	if n <= segCap {
		p := segPool.Get().(*[]byte)
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, n)
	return &b
}

func putSegBuf(p *[]byte) {
	if p != nil && cap(*p) == segCap {
		segPool.Put(p)
	}
}

// bufCache keeps the segment buffers a connection freed for its next
// segments: the application's goroutine takes them and the reader's
// gives them back, and through sync.Pool each went from one processor's
// cache to another's. It holds at most maxCached; a Machine is used
// under its driver's lock, so it needs none of its own.
type bufCache struct{ free []*[]byte }

const maxCached = 256

func (c *bufCache) get(n int) *[]byte {
	if k := len(c.free); k > 0 && n <= segCap {
		p := c.free[k-1]
		c.free[k-1] = nil
		c.free = c.free[:k-1]
		*p = (*p)[:0]
		return p
	}
	return getSegBuf(n)
}

func (c *bufCache) put(p *[]byte) {
	if p != nil && cap(*p) == segCap && len(c.free) < maxCached {
		c.free = append(c.free, p)
		return
	}
	putSegBuf(p)
}

// release gives every buffer back to the pool.
func (c *bufCache) release() {
	for _, p := range c.free {
		putSegBuf(p)
	}
	c.free = nil
}

// none is the end of the in-flight list.
const none = ^uint64(0)

// sendSeg is a segment the sender holds until it is acknowledged.
type sendSeg struct {
	// buf is the whole DATA packet: room for the header (dataHdr), the
	// payload, room for the CRC. The header and the CRC are written in
	// place at each transmission, and the packet goes to the socket's
	// batch from there, without a copy into a scratch buffer.
	buf      *[]byte
	end      bool      // last segment of its message
	sentAt   time.Time // its latest transmission
	firstAt  time.Time // its first transmission
	sends    int       // transmissions, probes included
	sacked   bool
	lost     bool // found lost, waiting to be sent again
	inFlight bool // in the in-flight list: sent, not delivered, not lost

	// the model's snapshot at its latest transmission
	delivered   uint64
	deliveredAt time.Time
	firstSentAt time.Time
	appLimited  bool
	inflight    int32 // in flight once it was sent

	prev, next uint64 // the in-flight list, in the order of sending
}

// dataHdr is where a DATA packet's payload starts.
const dataHdr = baseLen + 1

// payload returns the segment's payload.
func (g *sendSeg) payload() []byte { return (*g.buf)[dataHdr : len(*g.buf)-crcLen] }

// retxRecord remembers a retransmitted segment after it left the ring,
// so that a D-SACK that comes later can still show it needless.
type retxRecord struct {
	seq     uint64
	retx    uint16 // times it was sent again
	dsacked uint16 // copies the receiver reported twice
	episode uint32 // the reduction it was sent in
	lost    bool   // it was sent again because it was taken for lost (not only as a probe)
}

// retxHistory is how many retransmitted segments the sender remembers
// (direct-mapped by segment number); it is allocated at the first
// retransmission.
const retxHistory = 4096

// dupThresh is RFC 6675's DupThresh: before any reordering was seen,
// three segments SACKed beyond a hole make it lost at once.
const dupThresh = 3

// sender is the sending half of a connection: a ring of segments from una
// (the oldest unacknowledged) through nxt (the next never sent) to max
// (the next to be queued), selective-repeat retransmission driven by
// cumulative ACKs, SACK and D-SACK ranges, RACK-TLP (RFC 8985) and the
// RFC 6298 timer, a model of the path (see model) that sets the window
// and the pace, and pacing. It does no I/O; the connection calls it with
// the time and sends what it returns.
type sender struct {
	cfg  *Config
	rtt  *RTT
	cc   *model
	ring []sendSeg
	bufs bufCache

	una, nxt, max uint64
	pipe          int // segments in flight: sent, not acked, SACKed or lost
	head, tail    uint64
	sacked        int    // segments SACKed above una
	retxScan      uint64 // no lost segment below this
	lostCount     int
	rwnd          uint64 // the peer's window, from una

	inRecovery bool
	recover    uint64

	rtoAt    time.Time
	timeouts int // in a row, without progress

	// RACK (RFC 8985)
	rackXmit    time.Time // send time of the latest-sent segment delivered
	rackSeq     uint64
	rackRTT     time.Duration
	rackSet     bool
	echo        int64  // the echo of the ACK being processed
	fack        uint64 // one past the highest segment delivered
	reordering  bool   // a segment sent once was delivered after a later one
	reoMult     int    // the reordering window in quarters of the minimum RTT
	reoPersist  int    // recoveries left before reoMult goes back to 1
	dsackRound  uint64 // reoMult grows once per round trip: until una passes this
	dsackActive bool
	reoAt       time.Time // the reordering timer

	tlpAt     time.Time // when to send a tail loss probe
	tlpOut    bool      // a probe is out, unanswered
	lastProbe time.Time // when the last probe went

	// pacing: a token bucket, in segments
	tokens   float64
	tokensAt time.Time
	paceAt   time.Time // data waits for the pace until then (zero: it does not)

	// D-SACK and undo
	hist        []retxRecord
	episode     uint32 // counts reductions (recoveries, timeouts, congestion)
	undoValid   bool
	undoRetrans int // retransmissions of the episode not yet shown needless
	undoCwnd    float64
	undoHi      float64
	undoBwLo    float64

	st *Stats
}

func newSender(cfg *Config, rtt *RTT, st *Stats, id uint32) *sender {
	return &sender{cfg: cfg, rtt: rtt, cc: newModel(cfg, id), ring: make([]sendSeg, min(initialRing, cfg.SendBuffer)),
		rwnd: uint64(cfg.InitialWindow), head: none, tail: none, reoMult: 1, st: st}
}

func (s *sender) seg(q uint64) *sendSeg { return &s.ring[q%uint64(len(s.ring))] }

// cwnd returns the congestion window, in segments.
func (s *sender) cwnd() float64 { return s.cc.cwnd }

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
	g.buf = s.bufs.get(dataHdr + len(payload) + crcLen)
	b := append((*g.buf)[:dataHdr], payload...)
	*g.buf = b[:len(b)+crcLen]
	g.end, g.sends, g.sacked, g.lost, g.inFlight = end, 0, false, false, false
	s.max++
}

// outstanding reports whether sent data awaits acknowledgement.
func (s *sender) outstanding() bool { return s.una < s.nxt }

// idle reports whether everything queued was acknowledged.
func (s *sender) idle() bool { return s.una == s.max }

// The in-flight list: the segments in flight, in the order they were
// last sent, so that RACK looks at the oldest first.

func (s *sender) listAdd(q uint64) {
	g := s.seg(q)
	g.prev, g.next = s.tail, none
	if s.tail == none {
		s.head = q
	} else {
		s.seg(s.tail).next = q
	}
	s.tail = q
	g.inFlight = true
	s.pipe++
}

func (s *sender) listRemove(q uint64) {
	g := s.seg(q)
	if !g.inFlight {
		return
	}
	if g.prev == none {
		s.head = g.next
	} else {
		s.seg(g.prev).next = g.next
	}
	if g.next == none {
		s.tail = g.prev
	} else {
		s.seg(g.next).prev = g.prev
	}
	g.inFlight = false
	s.pipe--
}

// pacingRate returns the rate to pace at, in segments per second (0: no
// pacing yet).
func (s *sender) pacingRate() float64 { return s.cc.pacingRate(s.rtt.SRTT()) }

// burst is the most segments the pacer lets go back to back: two
// milliseconds' worth at the rate (a sender's timers fire in steps of
// about a millisecond, and one that wakes late sends what it owes), at
// least ten, and at most maxBurst: at loopback rates two milliseconds
// are a thousand segments, a burst that overflows any small buffer on
// the way and, delivered in an instant, makes a rate sample the path
// never sustains. Fast paths are ACK-clocked anyway: each ACK lets more
// go.
func burst(rate float64) float64 { return min(max(rate*0.002, 10), maxBurst) }

// maxBurst is two GSO buffers' worth.
const maxBurst = 64

// paced reports whether the pace lets a segment go now; when it does not,
// paceAt says when it will.
func (s *sender) paced(now time.Time) bool {
	rate := s.pacingRate()
	if rate <= 0 {
		return true
	}
	b := burst(rate)
	if s.tokensAt.IsZero() {
		s.tokens = b
	} else if now.After(s.tokensAt) {
		s.tokens = min(b, s.tokens+rate*now.Sub(s.tokensAt).Seconds())
	}
	s.tokensAt = now
	if s.tokens >= 1 {
		return true
	}
	// wake once a millisecond's worth is there (at least one segment):
	// fewer wakeups, and the bucket takes up the slack
	want := min(max(rate/1000, 1), b/2)
	// at least a microsecond: a bucket a rounding error short of a
	// segment must not set a deadline that has already passed
	s.paceAt = now.Add(max(time.Duration((want-s.tokens)/rate*float64(time.Second)), time.Microsecond))
	return false
}

// next returns the segment to send now, if the windows and the pace allow
// one: a lost segment first (a retransmission), else new data. It notes
// when the sender is limited by the application (or the peer's window)
// rather than by the path.
func (s *sender) next(now time.Time) (q uint64, retx, ok bool) {
	s.paceAt = time.Time{}
	haveLost := false
	if s.lostCount > 0 {
		if s.retxScan < s.una {
			s.retxScan = s.una
		}
		for ; s.retxScan < s.nxt; s.retxScan++ {
			if g := s.seg(s.retxScan); g.lost && !g.sacked {
				haveLost = true
				break
			}
		}
		if !haveLost {
			s.lostCount = 0 // none left below nxt
		}
	}
	haveNew := s.nxt < s.max && s.nxt < s.una+s.rwnd
	if !haveLost && !haveNew {
		if float64(s.pipe) < s.cwnd() {
			s.cc.markAppLimited(s.pipe)
		}
		return 0, false, false
	}
	if float64(s.pipe) >= s.cwnd() || !s.paced(now) {
		return 0, false, false
	}
	if haveLost {
		return s.retxScan, true, true
	}
	return s.nxt, false, true
}

// sent records that segment q went out at now.
func (s *sender) sent(q uint64, retx bool, now time.Time) {
	g := s.seg(q)
	if retx {
		g.lost = false
		s.lostCount--
		s.noteRetx(q, false)
	} else {
		s.nxt = q + 1
		s.st.SegmentsSent++
		s.st.BytesSent += uint64(len(g.payload()))
	}
	s.cc.onSend(g, s.pipe, now)
	if g.sends == 0 {
		g.firstAt = now
	}
	g.sends++
	g.sentAt = now
	s.listAdd(q)
	if s.tokens >= 1 {
		s.tokens--
	}
	if s.rtoAt.IsZero() || retx && q == s.una {
		// the timer runs from the oldest segment's latest send (as
		// Linux's): a retransmission of it gets a round trip
		s.rtoAt = now.Add(s.rtt.RTO())
	}
	s.armTLP(now)
}

// noteRetx counts a retransmission of q (a probe or not) and remembers
// it for D-SACK.
func (s *sender) noteRetx(q uint64, probe bool) {
	s.st.Retransmits++
	if s.hist == nil {
		s.hist = make([]retxRecord, retxHistory)
	}
	r := &s.hist[q%retxHistory]
	if r.seq != q || r.retx == 0 {
		*r = retxRecord{seq: q}
	}
	if r.retx < ^uint16(0) {
		r.retx++
	}
	r.episode = s.episode
	r.lost = r.lost || !probe
	if s.undoValid {
		s.undoRetrans++
	}
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

// probe returns what to send as a probe: new data if the peer's window
// allows, else a segment sent before and not SACKed, sent again without
// marking anything lost: the last one (a tail loss probe, RFC 8985), or
// for the second probe of a timeout the oldest one. Its acknowledgement
// lets RACK find what was lost. A tail loss probe waits for the answer
// to the one before; the timeout's probes do not.
func (s *sender) probe(second bool) (q uint64, fresh, ok bool) {
	s.tlpAt = time.Time{}
	if !s.outstanding() || s.tlpOut && !second {
		return 0, false, false
	}
	s.tlpOut = true
	if s.nxt < s.max && s.nxt < s.una+s.rwnd {
		s.st.Probes++
		return s.nxt, true, true
	}
	if second {
		for q = s.una; q < s.nxt; q++ {
			if g := s.seg(q); !g.sacked && !g.sentAt.Equal(s.lastProbe) {
				s.st.Probes++
				return q, false, true
			}
		}
		return 0, false, false
	}
	for q = s.nxt - 1; ; q-- {
		if g := s.seg(q); !g.sacked {
			s.st.Probes++
			return q, false, true
		}
		if q == s.una {
			return 0, false, false
		}
	}
}

// probed records that q went out as a probe (sent before: a
// retransmission, whose acknowledgement is ambiguous).
func (s *sender) probed(q uint64, now time.Time) {
	g := s.seg(q)
	s.noteRetx(q, true)
	s.listRemove(q)
	if g.lost {
		g.lost = false
		s.lostCount--
	}
	s.cc.onSend(g, s.pipe, now)
	g.sends++
	g.sentAt = now
	s.lastProbe = now
	s.listAdd(q)
}

// onAck processes an acknowledgement: cumulative up to cum (exclusive),
// the SACK and D-SACK ranges and the peer's window. It reports whether it
// acked new data (progress).
func (s *sender) onAck(p *Packet, now time.Time, trace func(TraceEvent)) bool {
	cum, sack, dsack, window := p.Seq, p.SACK[:p.NSACK], p.DSACK[:p.NDSACK], p.Window
	s.echo = p.Echo
	if cum > s.nxt { // acknowledges what was never sent: ignore
		return false
	}
	if cum >= s.una { // an older ACK, overtaken by a newer one, has an older window
		s.rwnd = uint64(window)
	}
	var rs rateSample
	progress := cum > s.una
	var rttSample time.Duration
	if progress {
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
			rttSample = now.Sub(g.sentAt)
		}
		for q := s.una; q < cum; q++ {
			g := s.seg(q)
			if g.sacked {
				s.sacked--
			} else {
				s.delivered(q, g, now, &rs)
			}
			s.listRemove(q)
			if g.lost {
				s.lostCount--
			}
			s.st.BytesAcked += uint64(len(g.payload()))
			s.bufs.put(g.buf)
			*g = sendSeg{}
		}
		s.una = cum
		s.timeouts = 0
		s.tlpOut = false
	}
	var sackSample time.Time // send time of the latest first transmission newly SACKed
	for _, r := range sack {
		start, end := max(r.Start, s.una), min(r.End, s.nxt)
		for q := start; q < end; q++ {
			g := s.seg(q)
			if g.sacked {
				continue
			}
			g.sacked = true
			s.sacked++
			if g.sends == 1 && g.sentAt.After(sackSample) {
				sackSample = g.sentAt
			}
			s.delivered(q, g, now, &rs)
			s.listRemove(q)
			if g.lost {
				g.lost = false
				s.lostCount--
			}
		}
	}
	if rttSample == 0 && !sackSample.IsZero() {
		// a SACK of a segment sent once is a clean round-trip sample too
		rttSample = now.Sub(sackSample)
	}
	if rttSample > 0 {
		s.rtt.Sample(rttSample)
		trace(TraceEvent{Kind: "rtt", Seq: cum - 1})
	}
	for _, r := range dsack {
		s.onDSACK(r, trace)
	}
	if s.dsackActive && s.una >= s.dsackRound {
		s.dsackActive = false
	}
	lost := s.detectLoss(now, &rs, trace)
	if lost > 0 && !s.inRecovery {
		s.startReduction()
		s.inRecovery, s.recover = true, s.nxt
		s.st.Recoveries++
		trace(TraceEvent{Kind: "recovery", Why: "loss"})
	} else if s.inRecovery && s.una >= s.recover {
		s.inRecovery = false
		s.cc.exitRecovery()
		if s.reoPersist > 0 {
			if s.reoPersist--; s.reoPersist == 0 {
				s.reoMult = 1
			}
		}
		trace(TraceEvent{Kind: "recovery", Why: "done"})
	}
	if s.cc.onAck(&rs, rttSample, s.pipe, s.reordering, now) {
		s.st.Congestion++
		trace(TraceEvent{Kind: "congestion", Why: "loss with a queue"})
	}
	if progress {
		if s.outstanding() {
			s.rtoAt = now.Add(s.rtt.RTO())
		} else {
			s.rtoAt = time.Time{}
		}
		s.armTLP(now)
	}
	return progress
}

// delivered notes that q, not SACKed before, reached the peer: for the
// model's rate sample, and for RACK (RFC 8985 6.2).
func (s *sender) delivered(q uint64, g *sendSeg, now time.Time, rs *rateSample) {
	s.cc.onDelivered(g, now, rs)
	if g.sends == 0 {
		return
	}
	// RACK follows the latest-sent segment delivered. The delivery of a
	// segment sent more than once may be the original's: unless the
	// ACK's echo shows that something sent as late as the latest
	// transmission arrived (RFC 8985 uses TCP's timestamps so), it
	// counts as sent at its first transmission, which it surely was not
	// sent before, and gives no RTT. Taken for the retransmission's, the
	// late ACK of a segment a timeout had sent again made the whole
	// window look lost.
	xmit := g.sentAt
	if g.sends == 1 || s.echo >= g.sentAt.UnixNano() {
		s.rackRTT = now.Sub(g.sentAt)
	} else {
		xmit = g.firstAt
	}
	if !s.rackSet || xmit.After(s.rackXmit) || xmit.Equal(s.rackXmit) && q > s.rackSeq {
		s.rackXmit, s.rackSeq, s.rackSet = xmit, q, true
	}
	if q+1 > s.fack {
		s.fack = q + 1
	} else if g.sends == 1 && !s.reordering {
		s.reordering = true // sent once, delivered after a later segment
		s.st.Reordering++
	}
}

// onDSACK takes a D-SACK range: segments that reached the peer twice. A
// retransmission of one of them was needless (RFC 3708): it is counted,
// the reordering window grows (once per round trip, RFC 8985 6.2), and
// when every retransmission since the last reduction proves needless,
// the reduction is undone.
func (s *sender) onDSACK(r Range, trace func(TraceEvent)) {
	s.st.DSACKs++
	if s.hist == nil {
		return
	}
	matched := false
	start := r.Start
	if s.nxt > retxHistory && start < s.nxt-retxHistory {
		start = s.nxt - retxHistory
	}
	end := min(r.End, s.nxt, start+maxDSACKSpan)
	for q := start; q < end; q++ {
		h := &s.hist[q%retxHistory]
		if h.seq != q || h.dsacked >= h.retx {
			continue // a copy the network made, or a segment we no longer know
		}
		h.dsacked++
		s.st.Spurious++
		// a segment taken for lost arrived after all: reordering (a
		// needless probe says nothing about the path)
		matched = matched || h.lost
		trace(TraceEvent{Kind: "spurious", Seq: q})
		if s.undoValid && h.episode == s.episode {
			if s.undoRetrans--; s.undoRetrans <= 0 {
				s.undo(trace)
			}
		}
	}
	if matched {
		s.reordering = true
		if !s.dsackActive {
			s.dsackActive, s.dsackRound = true, s.nxt
			s.reoMult = min(2*s.reoMult, maxReoMult)
			s.reoPersist = 16
		}
	}
}

// maxDSACKSpan bounds the segments one D-SACK range may name: a hostile
// peer cannot make the sender walk its whole history.
const maxDSACKSpan = 64

// maxReoMult bounds the reordering window's growth; it is capped by the
// smoothed RTT anyway.
const maxReoMult = 1 << 12

// startReduction opens an undo episode as a reduction of the window
// begins (a recovery, a timeout): it records the window and the bound
// before it, so that they come back if D-SACK shows that every
// retransmission of the episode was needless. The congestion bound a
// lossy round sets falls inside the episode its losses opened.
func (s *sender) startReduction() {
	s.episode++
	s.undoValid, s.undoRetrans = true, 0
	s.undoCwnd, s.undoHi, s.undoBwLo = s.cc.cwnd, s.cc.inflightHi, s.cc.bwLo
}

// undo restores the window a reduction took, once D-SACK showed that
// every retransmission it caused was needless (Linux's undo, RFC 3708).
func (s *sender) undo(trace func(TraceEvent)) {
	s.undoValid = false
	s.st.Undos++
	s.cc.inflightHi = max(s.cc.inflightHi, s.undoHi)
	if s.undoBwLo == 0 || s.cc.bwLo > 0 && s.cc.bwLo < s.undoBwLo {
		s.cc.bwLo = s.undoBwLo
	}
	s.cc.cwnd = max(s.cc.cwnd, s.undoCwnd)
	s.cc.priorCwnd = 0
	s.cc.conservation = false
	trace(TraceEvent{Kind: "undo"})
}

// reoWnd is RACK's reordering window (RFC 8985 6.2): none before any
// reordering was seen when three segments were SACKed beyond a hole or
// in a recovery (so that loss is found at once, as DupThresh would),
// else a quarter of the minimum RTT times reoMult, which D-SACKs double,
// at most the smoothed RTT.
func (s *sender) reoWnd() time.Duration {
	if !s.reordering && (s.inRecovery || s.sacked >= dupThresh) {
		return 0
	}
	return min(s.rtt.MinRTT()/4*time.Duration(s.reoMult), max(s.rtt.SRTT(), maxReoFloor))
}

// maxReoFloor is the least the reordering window may grow to: RFC 8985
// caps it at the smoothed RTT, but on a path whose RTT is a fraction of
// a millisecond, segments overtaken by eight others arrive later than
// that at any but the highest rates.
const maxReoFloor = 2 * time.Millisecond

// detectLoss marks lost, by RACK, every segment in flight that was sent
// before the latest one delivered and has been out longer than that
// one's RTT plus the reordering window; it arms the reordering timer for
// the first that is not yet. It returns how many it marked.
func (s *sender) detectLoss(now time.Time, rs *rateSample, trace func(TraceEvent)) int {
	s.reoAt = time.Time{}
	if !s.rackSet {
		return 0
	}
	reo := s.reoWnd()
	n := 0
	for q := s.head; q != none; {
		g := s.seg(q)
		next := g.next
		if g.sentAt.After(s.rackXmit) || g.sentAt.Equal(s.rackXmit) && q >= s.rackSeq {
			break // sent after the latest delivered: not known lost
		}
		if wait := g.sentAt.Add(s.rackRTT + reo).Sub(now); wait > 0 {
			s.reoAt = now.Add(wait)
			break
		}
		s.markLost(q, rs)
		n++
		trace(TraceEvent{Kind: "retransmit", Seq: q, Why: "rack"})
		q = next
	}
	return n
}

func (s *sender) markLost(q uint64, rs *rateSample) {
	g := s.seg(q)
	if g.lost || g.sacked {
		return
	}
	g.lost = true
	s.lostCount++
	if q < s.retxScan {
		s.retxScan = q
	}
	s.listRemove(q)
	s.cc.onLost(g, rs)
}

// onReorderTimer runs RACK when its timer fires: segments that waited
// their reordering window out are lost.
func (s *sender) onReorderTimer(now time.Time, trace func(TraceEvent)) {
	var rs rateSample
	if s.detectLoss(now, &rs, trace) > 0 {
		s.cc.roundLost += rs.newlyLost
		s.cc.roundInflightLost = max(s.cc.roundInflightLost, rs.lostInflight)
		if !s.inRecovery {
			s.startReduction()
			s.inRecovery, s.recover = true, s.nxt
			s.st.Recoveries++
			trace(TraceEvent{Kind: "recovery", Why: "loss"})
		}
	}
}

// linearTimeouts is how many timeouts in a row keep the timer as it is
// before it backs off exponentially, as Linux does for thin streams
// (tcp_thin_linear_timeouts: 6). A burst of losses is counted in packets,
// not in time (a Wi-Fi burst, a queue overflow): only packets sent get a
// transfer out of it, and doubling the wait at once turned a burst of ten
// lost packets into seconds of silence.
const linearTimeouts = 6

// persistentTimeouts is how many timeouts in a row, without an
// acknowledgement in between, show persistent loss (RFC 9002 7.6): the
// window then collapses to lossWindow.
const persistentTimeouts = 3

// lossWindow is the congestion window after persistent loss, in
// segments: two, as QUIC's minimum window (RFC 9002 7.2), rather than
// TCP's one, so that a burst of losses counted in packets is left twice
// as fast.
const lossWindow = 2

// onTimeout handles the retransmission timer, as QUIC's probe timeout
// (RFC 9002 6.2) rather than TCP's: it declares nothing lost and asks
// for two probes (see probe: new data if the peer's window allows, else
// the last segment sent and the oldest), whose acknowledgement lets RACK
// find what was lost, all of it at once. Two, because loss in bursts is
// counted in packets: a link that lost the last ten loses the next few
// too, and only packets sent get a transfer out of it. So an ACK that was only late on a loaded host costs one
// segment, not a window of needless retransmissions, and a burst of
// losses, however long, is found in one round trip after the probe.
// After persistentTimeouts in a row the window collapses to lossWindow
// (the model keeps the rate and RTT it measured, and the window it had
// comes back once what was outstanding is delivered); after
// linearTimeouts the timeout doubles, up to its cap. Giving up is not its
// business: the connection gives up when the peer has been silent, or
// has acknowledged nothing, for IdleTimeout. It reports whether a probe
// are due (how many).
func (s *sender) onTimeout(now time.Time, trace func(TraceEvent)) int {
	if !s.outstanding() {
		s.rtoAt = time.Time{}
		return 0
	}
	s.st.Timeouts++
	s.timeouts++
	why := "probe"
	if s.timeouts == persistentTimeouts {
		why = "persistent"
		if !s.inRecovery {
			s.startReduction()
		}
		s.cc.onTimeout()
		s.inRecovery, s.recover = true, s.nxt
	}
	if s.timeouts > linearTimeouts {
		s.rtt.Backoff()
	}
	s.rtoAt = now.Add(s.rtt.RTO())
	s.tlpAt, s.tlpOut = time.Time{}, false
	trace(TraceEvent{Time: now, Kind: "timeout", Seq: s.una, Why: why})
	return 2
}

// release frees every buffer (the connection is done).
func (s *sender) release() {
	for i := range s.ring {
		putSegBuf(s.ring[i].buf)
		s.ring[i] = sendSeg{}
	}
	s.ring = nil
	s.hist = nil
	s.bufs.release()
}
