package arq

import (
	"fmt"
	"time"
)

// state is where a Machine is in its life.
type state uint8

const (
	stateSynSent     state = iota // client: SYN out, waiting for the SYN-ACK and its cookie
	stateCookieSent               // client: COOKIE out, waiting for the server's first packet
	stateEstablished              // both ways open (or closing)
)

// Machine is one arq connection's protocol, as a pure state machine: it
// does no I/O, starts no goroutine and reads no clock. Packets from the
// peer go in with Receive, the passing of time with Tick, the
// application's messages with Write and out with Recv; the packets to
// send come out of Next, and Deadline says when Tick is due next. Every
// call takes the time, so a test or a simulation can run a connection
// datagram by datagram in virtual time, and get the same result every
// time.
//
// Conn drives a Machine over a real socket; a Machine is not safe for
// concurrent use.
type Machine struct {
	cfg    Config
	id     uint32
	client bool
	state  state
	now    time.Time // of the latest call, for traces

	rtt *RTT
	snd *sender
	rcv *receiver
	st  Stats
	mss int // the most we put in one DATA: the smaller of the two sides' MSS

	// handshake (client)
	cookie   [CookieLen]byte
	hsSends  int
	hsAt     time.Time // when to send the SYN or COOKIE again
	hsSentAt time.Time
	hsDue    bool

	lastRecv, lastSend time.Time
	progressAt         time.Time // our data last moved (or we had nothing to wait for)
	movedAt            time.Time // data last moved either way
	stall              time.Duration
	zeroWnd            bool // the peer's window is closed on data we have
	persistAt          time.Time
	persistGap         time.Duration

	finQueued, finSent, finAcked bool
	finSeq                       uint64
	finAt                        time.Time
	finDue, finAckDue            bool

	closing  bool
	lingerAt time.Time

	pingDue     bool
	probes      int // probes due: a tail loss probe (1), a timeout's (2)
	resetDue    bool
	resetReason uint8

	err  error
	done bool
}

// NewClient returns the Machine of a client that opens connection id: its
// first Next is the SYN.
func NewClient(cfg Config, id uint32, now time.Time) (*Machine, error) {
	m, err := newMachine(cfg, id, true, now, nil)
	if err != nil {
		return nil, err
	}
	m.hsDue = true
	return m, nil
}

// NewServer returns the Machine of a server for connection id, once the
// client proved its address (its COOKIE packet, whose window and MSS are
// given): it is established, and its first Next acknowledges the COOKIE.
func NewServer(cfg Config, id uint32, peerWindow uint32, peerMSS uint16, now time.Time) (*Machine, error) {
	return newServer(cfg, id, peerWindow, peerMSS, now, nil)
}

func newServer(cfg Config, id uint32, peerWindow uint32, peerMSS uint16, now time.Time, bud *budget) (*Machine, error) {
	m, err := newMachine(cfg, id, false, now, bud)
	if err != nil {
		return nil, err
	}
	m.state = stateEstablished
	m.adoptPeer(peerWindow, peerMSS)
	m.rcv.ackNow = true
	return m, nil
}

func newMachine(cfg Config, id uint32, client bool, now time.Time, bud *budget) (*Machine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Machine{cfg: cfg, id: id, client: client, now: now, mss: cfg.MSS,
		lastRecv: now, lastSend: now, progressAt: now, movedAt: now}
	m.rtt = NewRTT(cfg.MinRTO, cfg.rtoCap(), cfg.InitialRTO, cfg.Granularity)
	m.rtt.Spread = cfg.IdleTimeout / probesPerIdle
	m.snd = newSender(&m.cfg, m.rtt, &m.st, id)
	m.rcv = newReceiver(&m.cfg, &m.st, bud)
	return m, nil
}

// probesPerIdle is how many timeouts at least the backoff leaves room
// for in IdleTimeout (RTT.Spread): loss in bursts is counted in packets,
// and a transfer gets out of one only by sending. With 15s, a timeout
// every 234ms at most, two probes each: a burst of 10% loss in bursts of
// 10 datagrams that outlasts them (a run of more than 100) comes once in
// 40,000 bursts; a path that is dead gets about nine small packets a
// second until the idle timeout.
const probesPerIdle = 64

// clock takes the time a call passed in, kept from going backwards: a
// driver's goroutines read the clock before they wait for the lock, so
// the times of successive calls may be out of order by that wait, and
// RACK, the rate samples and the echo compare the send times of
// segments, which must follow the order they were sent in.
func (m *Machine) clock(now time.Time) time.Time {
	if now.Before(m.now) {
		return m.now
	}
	m.now = now
	return now
}

// ID returns the connection ID.
func (m *Machine) ID() uint32 { return m.id }

// Established reports whether the handshake is over.
func (m *Machine) Established() bool { return m.state == stateEstablished }

// Done reports whether the connection ended, cleanly (Err is nil) or not.
// Next may still return a last RESET after it.
func (m *Machine) Done() bool { return m.done }

// Err returns why the connection failed, or nil.
func (m *Machine) Err() error { return m.err }

// SetStallTimeout makes the connection fail with ErrStalled, resetting
// it, when no data moved either way for d although the peer kept it
// alive (zero: never, the default). A server that serves one transfer at
// a time sets it, so that a peer that only keeps a connection alive
// cannot hold it.
func (m *Machine) SetStallTimeout(d time.Duration) { m.stall = d }

func (m *Machine) trace(ev TraceEvent) {
	if m.cfg.Trace == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = m.now
	}
	ev.SRTT, ev.RTTVAR, ev.RTO = m.rtt.SRTT(), m.rtt.RTTVAR(), m.rtt.RTO()
	ev.Cwnd, ev.InflightHi, ev.InFlight, ev.Window = m.snd.cwnd(), m.snd.cc.inflightHi, m.snd.pipe, uint32(m.snd.rwnd)
	ev.Rate, ev.Mode = m.snd.pacingRate(), m.snd.cc.mode.String()
	if ev.InflightHi >= inf {
		ev.InflightHi = 0
	}
	m.cfg.Trace(ev)
}

func (m *Machine) adoptPeer(window uint32, mss uint16) {
	m.snd.rwnd = uint64(window)
	if mss > 0 && int(mss) < m.mss {
		m.mss = int(mss)
	}
}

// fail ends the connection with err (the first error wins).
func (m *Machine) fail(err error) {
	if m.err == nil && !m.done {
		m.err = err
		m.trace(TraceEvent{Kind: "state", State: "failed: " + err.Error()})
	}
	m.done = true
}

// reset ends the connection with err and has Next send a RESET.
func (m *Machine) reset(reason uint8, err error) {
	if m.done {
		return
	}
	m.resetDue, m.resetReason = true, reason
	m.fail(err)
}

// finish ends the connection cleanly.
func (m *Machine) finish() {
	if !m.done {
		m.done = true
		m.trace(TraceEvent{Kind: "state", State: "closed"})
	}
}

// Fail ends the connection at once with err, sending nothing: for what
// the driver learns outside the protocol (the socket reported the peer
// unreachable, say).
func (m *Machine) Fail(err error) { m.fail(err) }

// Abort ends the connection at once: Next sends a RESET with reason, and
// Err is ErrClosed.
func (m *Machine) Abort(reason uint8) { m.reset(reason, ErrClosed) }

// Write queues p for sending, cut into segments of at most the agreed
// MSS, as far as the send buffer allows; end says that p ends a message.
// It returns how many bytes it took and whether it took all of p (the end
// of the message included). It takes nothing before the handshake is
// over, after CloseWrite, or once the connection ended.
func (m *Machine) Write(p []byte, end bool) (n int, all bool) {
	if m.state != stateEstablished || m.finQueued || m.done {
		return 0, false
	}
	if len(p) == 0 && !end {
		return 0, true
	}
	for m.snd.space() > 0 {
		k := min(len(p)-n, m.mss)
		last := n+k == len(p)
		m.snd.queue(p[n:n+k], last && end)
		n += k
		if last {
			if end {
				m.st.MessagesSent++
			}
			return n, true
		}
	}
	return n, false
}

// SendSpace returns how many segments Write can queue now.
func (m *Machine) SendSpace() int { return m.snd.space() }

// Recv returns the next whole message, if one is waiting. Its memory is
// the caller's.
func (m *Machine) Recv(now time.Time) ([]byte, bool) {
	now = m.clock(now)
	msg, ok, proto := m.rcv.pop(now)
	if !proto {
		m.tooLarge()
	}
	m.settle(now)
	return msg.data, ok
}

// Release gives back the memory of a message Recv returned, for a later
// message to reuse; the caller must not touch msg afterwards. It is
// optional: a message not given back is the caller's, as any slice.
func (m *Machine) Release(msg []byte) { m.rcv.release(msg) }

// EOF reports whether the peer closed its side and every message was
// read.
func (m *Machine) EOF() bool { return m.rcv.complete() && !m.rcv.pending() }

// Pending reports whether a message waits for Recv.
func (m *Machine) Pending() bool { return m.rcv.pending() }

// CloseWrite says that no message follows: the FIN goes once everything
// queued was sent.
func (m *Machine) CloseWrite() { m.finQueued = true }

// Close starts the end of the connection: CloseWrite, then, once the peer
// acknowledged everything, a short wait for the peer's own FIN (a RESET
// if it does not come); Done reports the end.
func (m *Machine) Close(now time.Time) {
	now = m.clock(now)
	m.finQueued, m.closing = true, true
	m.settle(now)
}

// Finished reports whether both directions ended: everything we sent was
// acknowledged and everything the peer sent arrived.
func (m *Machine) Finished() bool { return m.finAcked && m.rcv.complete() }

// SendIdle reports whether everything written was acknowledged.
func (m *Machine) SendIdle() bool { return m.snd.idle() }

func (m *Machine) tooLarge() {
	m.reset(ReasonTooLarge, fmt.Errorf("%w: the peer sent more than MaxMessage (%d bytes) in one message", ErrTooLarge, m.cfg.MaxMessage))
}

// Receive processes one packet from the peer (for this connection).
func (m *Machine) Receive(p *Packet, now time.Time) {
	now = m.clock(now)
	if m.done {
		return
	}
	m.lastRecv = now
	m.st.PacketsReceived++
	if !m.lingerAt.IsZero() {
		// a peer that still sends is still there: wait for it
		m.lingerAt = now.Add(m.closeLinger())
	}
	if m.state == stateSynSent {
		switch p.Type {
		case TypeSynAck:
			m.cookie = p.Cookie
			m.adoptPeer(p.Window, p.MSS)
			if m.hsSends == 1 {
				m.rtt.Sample(now.Sub(m.hsSentAt))
			}
			m.state, m.hsSends, m.hsDue = stateCookieSent, 0, true
			m.trace(TraceEvent{Kind: "state", State: "cookie"})
		case TypeReset:
			m.fail(&ResetError{Reason: p.Reason})
		}
		return
	}
	if m.state == stateCookieSent {
		switch p.Type {
		case TypeSynAck, TypeSyn, TypeCookie:
			return // a duplicate of the handshake
		case TypeReset:
			m.fail(&ResetError{Reason: p.Reason})
			return
		}
		// Anything else from the server says that it took our cookie.
		if m.hsSends == 1 && !m.rtt.HasSample() {
			m.rtt.Sample(now.Sub(m.hsSentAt))
		}
		m.state = stateEstablished
		m.trace(TraceEvent{Kind: "state", State: "established"})
	}
	switch p.Type {
	case TypeCookie:
		if !m.client {
			m.rcv.ackNow = true // our answer to it was lost
		}
	case TypeData:
		if len(p.Payload) > m.cfg.MSS {
			m.st.Oversized++
			return
		}
		nxt := m.rcv.nxt
		if !m.rcv.onData(p.Seq, p.Flags&FlagEnd != 0, p.Payload, p.Sent, now) {
			m.tooLarge()
			return
		}
		if m.rcv.nxt != nxt {
			m.movedAt = now
		} else if m.finSent && !m.finAcked && m.rcv.complete() {
			// The peer sends again what we have: it heard neither our
			// ACKs nor our FIN, which says that everything arrived.
			// The FIN goes again with the ACK, packet for packet (loss
			// in bursts is counted in packets).
			m.finDue = true
		}
	case TypeAck:
		m.st.AcksReceived++
		wasZero := m.zeroWnd
		if m.snd.onAck(p, now, m.trace) {
			m.progressAt, m.movedAt = now, now
		}
		if wasZero && m.snd.rwnd > 0 {
			m.progressAt = now // the window opened
		}
		if m.finSent && !m.finAcked && m.snd.idle() {
			m.finAt = now.Add(m.rtt.RTO()) // data acked; the FIN-ACK comes next
		}
	case TypeFin:
		if !m.rcv.hasFin {
			if p.Seq < m.rcv.nxt {
				m.reset(ReasonFailed, fmt.Errorf("arq: protocol error: the peer ended at segment %d after sending %d", p.Seq, m.rcv.nxt))
				return
			}
			m.rcv.hasFin, m.rcv.fin = true, p.Seq
			m.movedAt = now
		}
		m.finAckDue = true // once everything before it is here
		m.rcv.ackNow = true
		if p.Flags&FinAcks != 0 && m.finSent && !m.finAcked {
			m.ackFin(now) // the peer's FIN acknowledges ours
		}
	case TypeFinAck:
		if m.finSent && !m.finAcked {
			m.ackFin(now)
		}
	case TypeReset:
		if m.rcv.complete() && m.snd.idle() {
			// Both directions were finished: the peer only stopped
			// waiting for our FIN. That is a clean end.
			m.finish()
			return
		}
		m.fail(&ResetError{Reason: p.Reason})
	case TypePing:
		m.rcv.ackNow = true
	}
	m.settle(now)
}

// ackFin takes the peer's acknowledgement of our FIN, which says that
// everything before it arrived: it acknowledges every segment too, for
// the ACKs that said so may all have been lost, and the peer, done,
// answers nothing any more.
func (m *Machine) ackFin(now time.Time) {
	if !m.snd.idle() {
		ack := Packet{Type: TypeAck, Seq: m.finSeq, Window: uint32(m.snd.rwnd)}
		if m.snd.onAck(&ack, now, m.trace) {
			m.progressAt, m.movedAt = now, now
		}
	}
	m.finAcked = true
	m.progressAt, m.movedAt = now, now
	m.trace(TraceEvent{Kind: "state", State: "fin acknowledged"})
}

// waiting reports whether we wait for the peer to take our data: sent and
// unacknowledged, held back by its closed window, or the FIN.
func (m *Machine) waiting() bool {
	return m.snd.outstanding() || m.zeroWnd || (m.finSent && !m.finAcked)
}

// settle updates what depends on the state as a whole, after any change:
// the zero-window state, the progress clock, the end of a close.
func (m *Machine) settle(now time.Time) {
	if m.done || m.state != stateEstablished {
		return
	}
	zero := m.snd.nxt < m.snd.max && m.snd.nxt >= m.snd.una+m.snd.rwnd
	if zero && !m.zeroWnd {
		m.persistGap = m.rtt.RTO()
		m.persistAt = now.Add(m.persistGap)
	}
	m.zeroWnd = zero
	if !m.waiting() {
		m.progressAt = now
	}
	if !m.closing {
		return
	}
	switch {
	case m.finAcked && m.rcv.complete():
		m.finish()
	case m.lingerAt.IsZero() && (m.finAcked || (m.finSent && m.snd.idle() && m.rcv.complete())):
		// Our side is done (or only the FIN-ACK is missing, whose loss
		// cannot be told from the peer having left): give the peer a
		// moment to finish its own.
		m.lingerAt = now.Add(m.closeLinger())
	}
}

// closeLinger is how long Close waits for the peer's FIN after its own was
// acknowledged: time for a few of the peer's retransmissions, from the
// RTT measured (not the backed-off timer, which a lossy transfer may
// have left at its cap), at least 200ms, at most half IdleTimeout.
func (m *Machine) closeLinger() time.Duration {
	rto := m.cfg.InitialRTO
	if m.rtt.HasSample() {
		rto = m.rtt.SRTT() + max(m.cfg.Granularity, 4*m.rtt.RTTVAR())
	}
	return min(m.cfg.IdleTimeout/2, max(4*rto, 200*time.Millisecond))
}

// Deadline returns when Tick must be called next.
func (m *Machine) Deadline() time.Time {
	next := m.lastRecv.Add(m.cfg.IdleTimeout)
	earlier := func(t time.Time) {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	if m.done {
		return next
	}
	if m.state != stateEstablished {
		earlier(m.hsAt)
		return next
	}
	if m.waiting() {
		earlier(m.progressAt.Add(m.cfg.IdleTimeout))
	}
	if m.stall > 0 {
		earlier(m.movedAt.Add(m.stall))
	}
	earlier(m.snd.rtoAt)
	earlier(m.snd.tlpAt)
	earlier(m.snd.reoAt)
	earlier(m.snd.paceAt)
	earlier(m.lastSend.Add(m.cfg.KeepAlive))
	if m.finSent && !m.finAcked {
		earlier(m.finAt)
	}
	if m.zeroWnd {
		earlier(m.persistAt)
	}
	earlier(m.lingerAt)
	return next
}

// Tick handles every deadline that has passed by now.
func (m *Machine) Tick(now time.Time) {
	now = m.clock(now)
	if m.done {
		return
	}
	idle := m.cfg.IdleTimeout
	if now.Sub(m.lastRecv) >= idle {
		switch {
		case m.state != stateEstablished:
			m.fail(fmt.Errorf("%w: no answer to %d connection requests in %v", ErrPeerUnreachable, m.hsSends, idle))
		case m.finSent && m.snd.idle() && m.rcv.complete():
			// Both sides were finished; the peer left without the last
			// acknowledgement. That is a clean end.
			m.finish()
		default:
			m.reset(ReasonFailed, fmt.Errorf("%w: nothing heard for %v", ErrIdle, idle))
		}
		return
	}
	if m.state != stateEstablished {
		if !m.hsDue && !m.hsAt.IsZero() && !now.Before(m.hsAt) {
			m.rtt.Backoff()
			m.hsDue = true
		}
		return
	}
	if m.waiting() && now.Sub(m.progressAt) >= idle {
		if m.zeroWnd {
			m.reset(ReasonZeroWnd, fmt.Errorf("%w: for %v, with %d bytes waiting", ErrZeroWindow, idle, m.queuedBytes()))
		} else {
			m.reset(ReasonFailed, fmt.Errorf("%w: nothing acknowledged for %v", ErrPeerUnreachable, idle))
		}
		return
	}
	if m.stall > 0 && now.Sub(m.movedAt) >= m.stall {
		m.reset(ReasonStalled, fmt.Errorf("%w for %v", ErrStalled, m.stall))
		return
	}
	if !m.lingerAt.IsZero() && !now.Before(m.lingerAt) {
		if !m.rcv.complete() {
			m.resetDue, m.resetReason = true, ReasonClosed
		}
		m.finish()
		return
	}
	if !m.snd.reoAt.IsZero() && !now.Before(m.snd.reoAt) {
		m.snd.onReorderTimer(now, m.trace)
	}
	if !m.snd.tlpAt.IsZero() && !now.Before(m.snd.tlpAt) {
		m.snd.tlpAt = time.Time{}
		m.probes = max(m.probes, 1)
	}
	if !m.snd.rtoAt.IsZero() && !now.Before(m.snd.rtoAt) {
		m.probes = m.snd.onTimeout(now, m.trace)
	}
	if m.finSent && !m.finAcked && !now.Before(m.finAt) {
		if m.snd.idle() {
			m.rtt.Backoff()
			m.finDue = true
		}
		m.finAt = now.Add(m.rtt.RTO())
	}
	if m.zeroWnd && !now.Before(m.persistAt) {
		m.pingDue = true // a window probe: the peer answers with its window
		m.persistGap = min(2*m.persistGap, m.cfg.rtoCap())
		m.persistAt = now.Add(m.persistGap)
	}
	if now.Sub(m.lastSend) >= m.cfg.KeepAlive {
		m.pingDue = true
	}
	m.settle(now)
}

func (m *Machine) queuedBytes() int {
	n := 0
	for q := m.snd.nxt; q < m.snd.max; q++ {
		n += len(m.snd.seg(q).payload())
	}
	return n
}

// stamp finishes a packet to send.
func (m *Machine) stamp(p *Packet, now time.Time) {
	p.Conn = m.id
	p.Sent = now.UnixNano()
	m.st.PacketsSent++
	m.st.WireBytesSent += uint64(p.Len())
	m.lastSend = now
	if p.Type == TypeAck {
		m.st.AcksSent++
	}
}

// Next fills p with the next packet to send now, and reports false when
// there is none. p.Payload aliases the Machine's buffers: encode p before
// the next call. Call it until it returns false after every Receive,
// Tick, Write and Recv.
func (m *Machine) Next(now time.Time, p *Packet) bool {
	now = m.clock(now)
	if m.resetDue {
		m.resetDue = false
		*p = Packet{Type: TypeReset, Reason: m.resetReason}
		m.stamp(p, now)
		return true
	}
	if m.done {
		if m.err == nil && m.finAckDue && m.rcv.complete() {
			// a clean end still owes the peer the FIN-ACK of its FIN
			m.finAckDue = false
			*p = Packet{Type: TypeFinAck}
			m.stamp(p, now)
			return true
		}
		return false
	}
	switch m.state {
	case stateSynSent, stateCookieSent:
		if !m.hsDue {
			return false
		}
		m.hsDue = false
		m.hsSends++
		m.hsSentAt = now
		m.hsAt = now.Add(m.rtt.RTO())
		if m.state == stateSynSent {
			*p = Packet{Type: TypeSyn, Window: m.rcv.advertise(), MSS: uint16(m.cfg.MSS)}
		} else {
			*p = Packet{Type: TypeCookie, Window: m.rcv.advertise(), MSS: uint16(m.cfg.MSS), Cookie: m.cookie}
		}
		m.stamp(p, now)
		return true
	}
	if m.rcv.ackNow || m.rcv.sinceAck > 0 {
		*p = Packet{}
		m.rcv.ack(p)
		m.stamp(p, now)
		return true
	}
	if m.finAckDue && m.rcv.complete() {
		m.finAckDue = false
		*p = Packet{Type: TypeFinAck}
		m.stamp(p, now)
		m.settle(now)
		return true
	}
	if m.pingDue {
		m.pingDue = false
		*p = Packet{Type: TypePing}
		m.stamp(p, now)
		return true
	}
	if q, retx, ok := m.snd.next(now); ok {
		g := m.snd.seg(q)
		*p = Packet{Type: TypeData, Seq: q, Payload: g.payload(), frame: *g.buf}
		if g.end {
			p.Flags |= FlagEnd
		}
		if retx {
			p.Flags |= FlagRetx
			m.trace(TraceEvent{Kind: "retransmit", Seq: q, Why: "sent"})
		}
		m.snd.sent(q, retx, now)
		m.stamp(p, now)
		m.settle(now)
		return true
	}
	if m.finQueued && m.snd.nxt == m.snd.max && (!m.finSent || m.finDue) {
		if !m.finSent {
			m.finSeq = m.snd.max
			m.finSent, m.finAt = true, now.Add(m.rtt.RTO())
		}
		m.finDue = false
		*p = Packet{Type: TypeFin, Seq: m.finSeq}
		if m.rcv.complete() {
			p.Flags = FinAcks
		}
		m.stamp(p, now)
		m.settle(now)
		return true
	}
	for m.probes > 0 {
		m.probes--
		if q, fresh, ok := m.snd.probe(m.probes == 0 && m.snd.tlpOut); ok {
			g := m.snd.seg(q)
			*p = Packet{Type: TypeData, Seq: q, Payload: g.payload(), frame: *g.buf}
			if g.end {
				p.Flags |= FlagEnd
			}
			if fresh {
				m.snd.sent(q, false, now)
			} else {
				p.Flags |= FlagRetx
				m.trace(TraceEvent{Kind: "retransmit", Seq: q, Why: "tail loss probe"})
				m.snd.probed(q, now)
			}
			m.stamp(p, now)
			m.settle(now)
			return true
		}
	}
	return false
}

// Stats returns the connection's counters and current state.
func (m *Machine) Stats() Stats {
	s := m.st
	s.SRTT, s.RTTVAR, s.RTO = m.rtt.SRTT(), m.rtt.RTTVAR(), m.rtt.RTO()
	s.Cwnd, s.PeerWindow = m.snd.cwnd(), uint32(m.snd.rwnd)
	if hi := m.snd.cc.inflightHi; hi < inf {
		s.InflightHi = hi
	}
	s.PacingRate, s.BtlBw, s.MinRTT, s.Mode = m.snd.pacingRate(), m.snd.cc.bwMax, m.snd.cc.minRTT, m.snd.cc.mode.String()
	s.ReorderWindow = m.snd.reoWnd()
	s.Buffered = m.rcv.held
	return s
}

// releaseIdle frees the buffers of a connection that ended, except the
// messages that wait for Recv.
func (m *Machine) releaseIdle() {
	if !m.done {
		return
	}
	m.snd.release()
	m.rcv.releaseIdle()
}

// releaseAll frees every buffer, unread messages included: the connection
// is gone.
func (m *Machine) releaseAll() {
	m.done = true
	m.snd.release()
	m.rcv.releaseAll()
}
