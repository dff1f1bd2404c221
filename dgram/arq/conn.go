package arq

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Errors that end a connection. They match with errors.Is.
var (
	// ErrPeerUnreachable: MaxRetries timeouts in a row without an answer.
	ErrPeerUnreachable = errors.New("arq: the peer does not answer")
	// ErrIdle: nothing heard from the peer for IdleTimeout.
	ErrIdle = errors.New("arq: the peer went silent")
	// ErrReset: the peer aborted the connection.
	ErrReset = errors.New("arq: the peer reset the connection")
	// ErrClosed: the connection was closed here.
	ErrClosed = net.ErrClosed
	// ErrTooLarge: a message over MaxMessage.
	ErrTooLarge = errors.New("arq: message too large")
)

// Stats counts what a connection did. Figures about the congestion state
// are current values.
type Stats struct {
	MessagesSent, MessagesReceived uint64
	BytesSent, BytesReceived       uint64 // payload bytes, first transmissions / delivered
	SegmentsSent                   uint64 // DATA packets, first transmissions
	Retransmits                    uint64 // DATA packets sent again
	Timeouts                       uint64 // retransmission timer expiries
	Recoveries                     uint64 // fast recoveries (loss found by duplicate ACKs or SACK)
	Probes                         uint64 // tail loss probes
	PacketsSent, PacketsReceived   uint64 // every arq packet
	WireBytesSent                  uint64 // every byte of every packet sent, headers included
	AcksSent, AcksReceived         uint64
	SegmentsReceived               uint64 // DATA packets received, duplicates included
	DuplicateSegments              uint64
	OutOfOrder                     uint64 // segments that arrived ahead of a gap
	OutOfWindow                    uint64 // segments beyond the advertised window, dropped
	Corrupt                        uint64 // packets with a bad checksum, dropped (whole socket)
	HOLMessages                    uint64 // messages that waited behind a gap before delivery
	HOLWait, HOLMax                time.Duration
	SRTT, RTTVAR, RTO              time.Duration
	Cwnd, Ssthresh                 float64
	PeerWindow                     uint32
}

// Conn is a reliable, ordered, message-preserving connection over UDP:
// every message sent with Send comes out of the peer's Recv once, whole,
// and in order, whatever the network lost, reordered, duplicated or
// corrupted on the way. Its methods are safe for concurrent use.
type Conn struct {
	ep     *endpoint
	peer   netip.AddrPort
	id     uint32
	cfg    Config
	client bool

	mu   sync.Mutex
	cond *sync.Cond
	rtt  *RTT
	snd  *sender
	rcv  *receiver
	st   Stats
	mss  int

	established bool
	synSends    int
	synAt       time.Time
	synSentAt   time.Time
	finQueued   bool
	finSeq      uint64
	finSent     bool
	finAt       time.Time
	finAcked    bool
	finRetries  int
	finAckDue   bool
	err         error // set once: why the connection ended
	done        bool  // torn down
	lastRecv    time.Time
	lastSend    time.Time
	rdeadline   time.Time
	rtimer      *time.Timer

	wake    chan struct{}
	timerAt time.Time // when the timer goroutine wakes next
	stop    chan struct{}
	wg      sync.WaitGroup
	pkt     Packet
	ownsEP  bool
}

func newConn(ep *endpoint, peer netip.AddrPort, id uint32, cfg Config, client bool, now time.Time) *Conn {
	c := &Conn{ep: ep, peer: peer, id: id, cfg: cfg, client: client, mss: cfg.MSS,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), lastRecv: now, lastSend: now}
	c.cond = sync.NewCond(&c.mu)
	c.rtt = NewRTT(cfg.MinRTO, cfg.MaxRTO, cfg.InitialRTO, cfg.Granularity)
	c.snd = newSender(&c.cfg, c.rtt, &c.st)
	c.rcv = newReceiver(&c.cfg, &c.st)
	return c
}

// start runs the connection's timer goroutine.
func (c *Conn) start() {
	c.wg.Add(1)
	go c.timerLoop()
}

func (c *Conn) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Conn) trace(ev TraceEvent) {
	if c.cfg.Trace == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.SRTT, ev.RTTVAR, ev.RTO = c.rtt.SRTT(), c.rtt.RTTVAR(), c.rtt.RTO()
	ev.Cwnd, ev.Ssthresh, ev.InFlight, ev.Window = c.snd.cwnd, c.snd.ssthresh, c.snd.pipe, uint32(c.snd.rwnd)
	c.cfg.Trace(ev)
}

// emit sends one packet to the peer (queued in the endpoint's writer).
func (c *Conn) emit(p *Packet, now time.Time) {
	p.Conn = c.id
	if p.Sent == 0 {
		p.Sent = now.UnixNano()
	}
	n := c.ep.send(p, c.peer)
	c.st.PacketsSent++
	c.st.WireBytesSent += uint64(n)
	c.lastSend = now
	if p.Type == TypeAck {
		c.st.AcksSent++
	}
}

func (c *Conn) sendCtl(typ uint8, now time.Time) {
	c.pkt = Packet{Type: typ}
	if typ == TypeFin {
		c.pkt.Seq = c.finSeq
		if c.rcv.complete() {
			c.pkt.Flags = FinAcks
		}
	}
	if typ == TypeSyn || typ == TypeSynAck {
		c.pkt.Window, c.pkt.MSS = c.rcv.window(), uint16(c.cfg.MSS)
	}
	c.emit(&c.pkt, now)
}

func (c *Conn) sendReset(reason uint8, now time.Time) {
	c.pkt = Packet{Type: TypeReset, Reason: reason}
	c.emit(&c.pkt, now)
}

func (c *Conn) sendAck(now time.Time) {
	c.pkt = Packet{}
	c.rcv.ack(&c.pkt)
	c.emit(&c.pkt, now)
}

// pump sends what the windows allow: retransmissions first, then new data,
// then the FIN once everything queued was sent.
func (c *Conn) pump(now time.Time) {
	if !c.established || c.done {
		return
	}
	for {
		q, retx, ok := c.snd.next()
		if !ok {
			break
		}
		g := c.snd.seg(q)
		c.pkt = Packet{Type: TypeData, Seq: q, Payload: *g.buf}
		if g.end {
			c.pkt.Flags |= FlagEnd
		}
		if retx {
			c.pkt.Flags |= FlagRetx
			c.trace(TraceEvent{Kind: "retransmit", Seq: q, Why: "sent"})
		}
		c.emit(&c.pkt, now)
		c.snd.sent(q, retx, now)
	}
	if c.finQueued && !c.finSent && c.snd.nxt == c.snd.max {
		c.finSeq = c.snd.max
		c.finSent, c.finAt = true, now.Add(c.rtt.RTO())
		c.sendCtl(TypeFin, now)
	}
}

// handle processes one packet from the peer. Called with c.mu held.
func (c *Conn) handle(p *Packet, now time.Time) {
	if c.done {
		return
	}
	c.lastRecv = now
	c.st.PacketsReceived++
	switch p.Type {
	case TypeSynAck:
		if c.client && !c.established {
			c.established = true
			if c.synSends == 1 {
				c.rtt.Sample(now.Sub(c.synSentAt))
			}
			c.adoptPeer(p)
			c.trace(TraceEvent{Kind: "state", State: "established"})
			c.cond.Broadcast()
		}
	case TypeSyn:
		if !c.client {
			c.sendCtl(TypeSynAck, now) // our SYN-ACK was lost
		}
	case TypeData:
		c.established = true
		if !c.rcv.onData(p.Seq, p.Flags&FlagEnd != 0, p.Payload, now) {
			c.sendReset(ReasonTooLarge, now)
			c.fail(fmt.Errorf("%w: the peer sent more than MaxMessage (%d bytes) in one message", ErrTooLarge, c.cfg.MaxMessage))
			return
		}
		if len(c.rcv.queue) > c.rcv.queueHead {
			c.cond.Broadcast()
		}
	case TypeAck:
		c.st.AcksReceived++
		if c.snd.onAck(p.Seq, p.SACK[:p.NSACK], p.Window, now, c.trace) {
			c.cond.Broadcast()
		}
		if c.finSent && !c.finAcked && c.snd.idle() {
			c.finAt = now.Add(c.rtt.RTO()) // data acked; the FIN-ACK comes next
		}
	case TypeFin:
		if !c.rcv.hasFin {
			if p.Seq < c.rcv.nxt {
				c.sendReset(ReasonFailed, now)
				c.fail(fmt.Errorf("arq: protocol error: the peer ended at segment %d after sending %d", p.Seq, c.rcv.nxt))
				return
			}
			c.rcv.hasFin, c.rcv.fin = true, p.Seq
		}
		c.finAckDue = true // once everything before it is here
		c.rcv.ackNow = true
		if p.Flags&FinAcks != 0 && c.finSent && !c.finAcked && c.snd.idle() {
			c.finAcked = true // the peer's FIN acknowledges ours
		}
		c.cond.Broadcast()
	case TypeFinAck:
		if c.finSent && !c.finAcked {
			c.finAcked = true
			c.trace(TraceEvent{Kind: "state", State: "fin acknowledged"})
			c.cond.Broadcast()
		}
	case TypeReset:
		if c.rcv.complete() && c.snd.idle() {
			// Both directions were finished: the peer only stopped
			// waiting for our FIN. That is a clean end.
			c.done = true
			c.cond.Broadcast()
			c.kick()
			return
		}
		c.fail(ErrReset)
	case TypePing:
		c.rcv.ackNow = true
	}
}

func (c *Conn) adoptPeer(p *Packet) {
	c.snd.rwnd = uint64(p.Window)
	if p.MSS > 0 && int(p.MSS) < c.mss {
		c.mss = int(p.MSS)
	}
}

// afterBatch answers what a batch of packets asked for: an ACK, a FIN-ACK,
// and more data as the windows opened. Called with c.mu held.
func (c *Conn) afterBatch(now time.Time) {
	if c.done {
		return
	}
	if c.rcv.ackNow || c.rcv.sinceAck > 0 {
		c.sendAck(now)
	}
	if c.finAckDue && c.rcv.complete() {
		c.sendCtl(TypeFinAck, now)
		c.finAckDue = false
		c.cond.Broadcast()
	}
	c.pump(now)
	c.rearm()
}

// rearm wakes the timer goroutine if a deadline moved before the time it
// sleeps until. Called with c.mu held.
func (c *Conn) rearm() {
	if next := c.nextDeadline(); next.Before(c.timerAt) {
		c.timerAt = next
		c.kick()
	}
}

// fail ends the connection with err (the first error wins). Called with
// c.mu held.
func (c *Conn) fail(err error) {
	if c.err == nil {
		c.err = err
		c.trace(TraceEvent{Kind: "state", State: "failed: " + err.Error()})
	}
	c.done = true
	c.cond.Broadcast()
	c.kick()
}

// timerLoop runs the connection's timers until it ends.
func (c *Conn) timerLoop() {
	defer c.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		c.mu.Lock()
		now := time.Now()
		c.onTimers(now)
		c.ep.flush()
		next := c.nextDeadline()
		c.timerAt = next
		done := c.done
		c.mu.Unlock()
		if done {
			return
		}
		t.Reset(max(time.Until(next), 0))
		select {
		case <-c.stop:
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

func (c *Conn) nextDeadline() time.Time {
	next := c.lastRecv.Add(c.cfg.IdleTimeout)
	earlier := func(t time.Time) {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	if !c.established && c.client {
		earlier(c.synAt)
	}
	if c.established {
		earlier(c.snd.rtoAt)
		earlier(c.snd.tlpAt)
		earlier(c.lastSend.Add(c.cfg.KeepAlive))
		if c.finSent && !c.finAcked {
			earlier(c.finAt)
		}
	}
	return next
}

// onTimers handles every deadline that has passed. Called with c.mu held.
func (c *Conn) onTimers(now time.Time) {
	if c.done {
		return
	}
	if !c.established && now.Sub(c.lastRecv) >= c.cfg.IdleTimeout {
		c.fail(fmt.Errorf("%w: no answer to %d connection requests in %v", ErrPeerUnreachable, c.synSends, c.cfg.IdleTimeout))
		return
	}
	if now.Sub(c.lastRecv) >= c.cfg.IdleTimeout {
		if c.finSent && c.snd.idle() && c.rcv.complete() {
			// Both sides were finished; the peer left without the last
			// acknowledgement. That is a clean end.
			c.done = true
			c.cond.Broadcast()
			return
		}
		c.sendReset(ReasonFailed, now)
		c.fail(fmt.Errorf("%w: nothing heard for %v", ErrIdle, c.cfg.IdleTimeout))
		return
	}
	if !c.established {
		if c.client && !now.Before(c.synAt) {
			if c.synSends > c.cfg.MaxRetries {
				c.fail(fmt.Errorf("%w: no answer to %d connection requests", ErrPeerUnreachable, c.synSends))
				return
			}
			if c.synSends > 0 {
				c.rtt.Backoff()
			}
			c.synSends++
			c.synSentAt = now
			c.synAt = now.Add(c.rtt.RTO())
			c.sendCtl(TypeSyn, now)
		}
		return
	}
	if !c.snd.tlpAt.IsZero() && !now.Before(c.snd.tlpAt) {
		if q, ok := c.snd.probe(); ok {
			g := c.snd.seg(q)
			c.pkt = Packet{Type: TypeData, Seq: q, Payload: *g.buf, Flags: FlagRetx}
			if g.end {
				c.pkt.Flags |= FlagEnd
			}
			c.trace(TraceEvent{Kind: "retransmit", Seq: q, Why: "tail loss probe"})
			c.emit(&c.pkt, now)
			g.sends++ // Karn: no RTT sample from it
		}
	}
	if !c.snd.rtoAt.IsZero() && !now.Before(c.snd.rtoAt) {
		if !c.snd.onTimeout(now, c.trace) {
			c.sendReset(ReasonFailed, now)
			c.fail(fmt.Errorf("%w: no acknowledgement after %d retransmissions", ErrPeerUnreachable, c.cfg.MaxRetries))
			return
		}
	}
	if c.finSent && !c.finAcked && !now.Before(c.finAt) {
		if c.snd.idle() {
			c.finRetries++
			if c.finRetries > c.cfg.MaxRetries {
				c.sendReset(ReasonFailed, now)
				c.fail(fmt.Errorf("%w: the end of the transfer was not acknowledged after %d tries", ErrPeerUnreachable, c.cfg.MaxRetries))
				return
			}
			c.rtt.Backoff()
			c.sendCtl(TypeFin, now)
		}
		c.finAt = now.Add(c.rtt.RTO())
	}
	if now.Sub(c.lastSend) >= c.cfg.KeepAlive {
		c.sendCtl(TypePing, now)
	}
	c.pump(now)
}

// Send sends one message. It blocks while the send buffer is full (the
// peer's window or the network's pace) and returns an error once the
// connection has failed or been closed. The message is copied.
func (c *Conn) Send(msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(msg) > c.cfg.MaxMessage {
		return fmt.Errorf("%w: %d bytes, over the limit of %d", ErrTooLarge, len(msg), c.cfg.MaxMessage)
	}
	if c.finQueued && c.err == nil {
		return fmt.Errorf("arq: send after CloseWrite: %w", ErrClosed)
	}
	for first := true; first || len(msg) > 0; first = false {
		for c.err == nil && !c.done && c.snd.space() == 0 {
			c.cond.Wait()
		}
		if c.err != nil {
			return c.err
		}
		if c.done {
			return ErrClosed
		}
		for c.snd.space() > 0 && (first || len(msg) > 0) {
			n := min(len(msg), c.mss)
			c.snd.queue(msg[:n], n == len(msg))
			msg = msg[n:]
			first = false
		}
		c.pump(time.Now())
		c.rearm()
		c.ep.flush()
	}
	c.st.MessagesSent++
	return nil
}

// Recv returns the next message, whole. It returns io.EOF once the peer has
// closed its side and every message was read, and the connection's error
// if it failed. It honours SetReadDeadline.
func (c *Conn) Recv() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if m, ok := c.rcv.pop(); ok {
			if c.rcv.ackNow {
				c.sendAck(time.Now())
				c.ep.flush()
			}
			return m.data, nil
		}
		if c.rcv.complete() {
			return nil, io.EOF
		}
		if c.err != nil {
			return nil, c.err
		}
		if c.done {
			return nil, ErrClosed
		}
		if !c.rdeadline.IsZero() && !time.Now().Before(c.rdeadline) {
			return nil, &net.OpError{Op: "read", Net: "arq", Err: os.ErrDeadlineExceeded}
		}
		c.cond.Wait()
	}
}

// SetReadDeadline makes Recv fail with a timeout after t (zero: never).
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdeadline = t
	if c.rtimer != nil {
		c.rtimer.Stop()
	}
	if !t.IsZero() {
		c.rtimer = time.AfterFunc(time.Until(t), func() {
			c.mu.Lock()
			c.cond.Broadcast()
			c.mu.Unlock()
		})
	}
	c.cond.Broadcast()
	return nil
}

// CloseWrite says that no message follows: the peer's Recv returns io.EOF
// after the last one. It does not wait.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.finQueued = true
	c.pump(time.Now())
	c.rearm()
	c.ep.flush()
	return nil
}

// closeLinger is how long Close waits for the peer's FIN after its own was
// acknowledged.
func (c *Conn) closeLinger() time.Duration {
	return min(c.cfg.IdleTimeout/2, max(4*c.rtt.RTO(), 200*time.Millisecond))
}

// Close finishes the connection: it sends what is queued, waits until the
// peer acknowledged everything (or the connection fails: then it returns
// the error), answers the peer's own FIN if it comes soon, and stops the
// connection's goroutines. It is idempotent.
func (c *Conn) Close() error {
	c.mu.Lock()
	if !c.done && c.err == nil {
		c.finQueued = true
		c.pump(time.Now())
		c.rearm()
		c.ep.flush()
		// Wait until the peer acknowledged everything. When every byte of
		// ours was acknowledged and the peer's side is finished too, only
		// the FIN-ACK is missing: after a linger, that is a clean end
		// (its loss cannot be told from the peer having left).
		var lingerEnd time.Time
		wakeUp := time.AfterFunc(time.Hour, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
		for !c.done && c.err == nil && !c.finAcked {
			if c.finSent && c.snd.idle() && c.rcv.complete() {
				if lingerEnd.IsZero() {
					wait := c.closeLinger()
					lingerEnd = time.Now().Add(wait)
					wakeUp.Reset(wait)
				}
				if !time.Now().Before(lingerEnd) {
					break
				}
			}
			c.cond.Wait()
		}
		wakeUp.Stop()
		// our side is done; give the peer a moment to finish its own
		deadline := time.Now().Add(c.closeLinger())
		t := time.AfterFunc(time.Until(deadline), func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
		for !c.done && c.err == nil && !c.rcv.complete() && time.Now().Before(deadline) {
			c.cond.Wait()
		}
		t.Stop()
		if !c.done && c.err == nil && !c.rcv.complete() {
			c.sendReset(ReasonClosed, time.Now())
			c.ep.flush()
		}
	}
	err := c.err
	c.done = true
	c.cond.Broadcast()
	c.mu.Unlock()
	c.teardown()
	return err
}

// Abort ends the connection at once, telling the peer (RESET).
func (c *Conn) Abort() {
	c.mu.Lock()
	if !c.done {
		c.sendReset(ReasonClosed, time.Now())
		c.ep.flush()
		if c.err == nil {
			c.err = ErrClosed
		}
		c.done = true
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	c.teardown()
}

// teardown stops the goroutines and releases the buffers. Called without
// c.mu.
func (c *Conn) teardown() {
	c.ep.remove(c)
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
	if c.ownsEP {
		c.ep.close()
	}
	c.mu.Lock()
	if c.rtimer != nil {
		c.rtimer.Stop()
	}
	c.snd.release()
	c.rcv.release()
	c.mu.Unlock()
}

// Err returns why the connection ended, or nil.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Stats returns the connection's counters and current state.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	s.SRTT, s.RTTVAR, s.RTO = c.rtt.SRTT(), c.rtt.RTTVAR(), c.rtt.RTO()
	s.Cwnd, s.Ssthresh, s.PeerWindow = c.snd.cwnd, c.snd.ssthresh, uint32(c.snd.rwnd)
	s.Corrupt = c.ep.corrupt.Load()
	return s
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(c.peer) }

// LocalAddr returns the socket's address.
func (c *Conn) LocalAddr() net.Addr { return c.ep.pc.LocalAddr() }

// ID returns the connection ID.
func (c *Conn) ID() uint32 { return c.id }
