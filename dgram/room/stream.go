package room

import (
	"math/bits"
	"time"
)

// A link between a member and the server carries, each way, a stream of
// numbered events (EVENT packets, numbered from 1). The sender keeps each
// event until it is acknowledged and sends it again when the
// acknowledgement is late; the receiver processes events in number order,
// once, holding those that arrive early, and acknowledges with the
// highest number it processed in order (cumulative) and a map of the 64
// numbers above the next one that it holds.

// event is one event in a stream, as the sender keeps it or as the
// receiver holds it. Byte slices are owned (copied from packets).
type event struct {
	kind  Kind
	id    uint64
	nick  string
	text  []byte // shared between the recipients of one message; never changed
	code  uint8
	count uint64
	more  bool
	list  []byte
	nlist int

	sent  time.Time // last transmission (zero: never sent)
	first time.Time // first transmission
	tries int       // transmissions so far
	acked bool
}

// fill sets p's event fields from e.
func (e *event) fill(p *Packet) {
	p.Type = TypeEvent
	p.Kind = e.kind
	p.ID = e.id
	p.Nick = append(p.Nick[:0], e.nick...)
	p.Text = e.text
	p.Code = e.code
	p.Count = e.count
	p.More = e.more
	p.List = e.list
	p.NList = e.nlist
}

// eventOf copies a received EVENT packet's fields.
func eventOf(p *Packet) event {
	e := event{kind: p.Kind, id: p.ID, nick: string(p.Nick), code: p.Code, count: p.Count, more: p.More, nlist: p.NList}
	if len(p.Text) > 0 {
		e.text = append([]byte(nil), p.Text...)
	}
	if len(p.List) > 0 {
		e.list = append([]byte(nil), p.List...)
	}
	return e
}

// rtt estimates the round-trip time and the retransmission timeout as
// RFC 6298 does: SRTT, RTTVAR, RTO = SRTT + 4 RTTVAR within [min, max].
type rtt struct {
	srtt, rttvar, rto time.Duration
	has               bool
	min, max          time.Duration
}

func newRTT(initial, min, max time.Duration) rtt {
	return rtt{rto: initial, min: min, max: max}
}

func (r *rtt) sample(m time.Duration) {
	m = max(m, time.Microsecond)
	if !r.has {
		r.srtt, r.rttvar, r.has = m, m/2, true
	} else {
		d := r.srtt - m
		if d < 0 {
			d = -d
		}
		r.rttvar = (3*r.rttvar + d) / 4
		r.srtt = (7*r.srtt + m) / 8
	}
	r.rto = min(max(r.srtt+4*r.rttvar, r.min), r.max)
}

// timeout returns how long to wait before sending an event again after
// tries transmissions: RTO, doubled for each retry, at most max.
func (r *rtt) timeout(tries int) time.Duration {
	d := r.rto
	for i := 1; i < tries && d < r.max; i++ {
		d *= 2
	}
	return min(d, r.max)
}

// sendStream is the sending side of an event stream.
type sendStream struct {
	base   uint64  // the number of q[0]; every number below it is acknowledged
	q      []event // queued and unacknowledged events, from base on
	window int     // most events in flight beyond base
	rtt    rtt

	retransmits uint64
}

func newSendStream(window int, r rtt) sendStream {
	return sendStream{base: 1, window: window, rtt: r}
}

// len is the number of events queued, acknowledged or not, not yet
// released.
func (s *sendStream) len() int { return len(s.q) }

// next is the number the next event pushed gets.
func (s *sendStream) next() uint64 { return s.base + uint64(len(s.q)) }

// push queues e and returns its number.
func (s *sendStream) push(e event) uint64 {
	s.q = append(s.q, e)
	return s.next() - 1
}

// ack applies an acknowledgement: every number up to cum, and cum+2+i for
// each bit i. It returns how many events it released from the queue.
// Round-trip samples come from events sent once only (Karn's rule).
func (s *sendStream) ack(cum, bitmap uint64, now time.Time) int {
	mark := func(n uint64) {
		if n < s.base || n >= s.next() {
			return
		}
		e := &s.q[n-s.base]
		if e.acked || e.tries == 0 {
			return
		}
		e.acked = true
		if e.tries == 1 {
			s.rtt.sample(now.Sub(e.first))
		}
	}
	// Mark at most the queue's length: cum may be far ahead (hostile).
	hi := min(cum, s.next()-1)
	for n := s.base; n <= hi; n++ {
		mark(n)
	}
	for b := bitmap; b != 0; b &= b - 1 {
		mark(cum + 2 + uint64(bits.TrailingZeros64(b)))
	}
	released := 0
	for len(s.q) > 0 && s.q[0].acked {
		s.q[0] = event{}
		s.q = s.q[1:]
		s.base++
		released++
	}
	if len(s.q) == 0 {
		s.q = nil // let the backing array go
	}
	return released
}

// due calls send for every event in the window that was never sent, or
// whose acknowledgement is overdue, marks it sent at now, and returns when
// the next one falls due (zero if none). mayStart, when not nil, is asked
// before an event is sent for the first time (pacing); once it says no,
// no later event starts either.
func (s *sendStream) due(now time.Time, mayStart func(e *event) bool, send func(n uint64, e *event)) time.Time {
	var next time.Time
	limit := min(len(s.q), s.window)
	starting := true
	for i := range limit {
		e := &s.q[i]
		if e.acked {
			continue
		}
		if e.tries == 0 {
			if !starting || mayStart != nil && !mayStart(e) {
				starting = false
				continue
			}
			e.first = now
		} else if at := e.sent.Add(s.rtt.timeout(e.tries)); now.Before(at) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		} else {
			s.retransmits++
		}
		e.sent = now
		e.tries++
		send(s.base+uint64(i), e)
		at := now.Add(s.rtt.timeout(e.tries))
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// pending reports whether events wait to be sent for the first time
// (held back by the window or by pacing).
func (s *sendStream) pending() bool {
	for i := range s.q {
		if s.q[i].tries == 0 {
			return true
		}
	}
	return false
}

// recvStream is the receiving side of an event stream.
type recvStream struct {
	cum    uint64           // every number up to cum was processed
	held   map[uint64]event // arrived early: cum+2 and above, within the window (and cum+1 when it waits)
	window uint64

	duplicates uint64
	early      uint64 // held for a while: arrived before an earlier one
	beyond     uint64 // dropped: beyond the window
}

func newRecvStream(window int) recvStream {
	return recvStream{window: uint64(window)}
}

// offer decides what to do with event n: false when it is a duplicate or
// beyond the window (counted), true when it was stored to be processed.
func (r *recvStream) offer(n uint64, e event) bool {
	if n <= r.cum {
		r.duplicates++
		return false
	}
	if n > r.cum+r.window {
		r.beyond++
		return false
	}
	if _, ok := r.held[n]; ok {
		r.duplicates++
		return false
	}
	if r.held == nil {
		r.held = make(map[uint64]event)
	}
	if n > r.cum+1 {
		r.early++
	}
	r.held[n] = e
	return true
}

// ready returns the next event in order, if it arrived.
func (r *recvStream) ready() (*event, bool) {
	e, ok := r.held[r.cum+1]
	if !ok {
		return nil, false
	}
	return &e, true
}

// done marks the next event processed.
func (r *recvStream) done() {
	delete(r.held, r.cum+1)
	r.cum++
}

// bitmap returns the acknowledgement map: bit i is set when event cum+2+i
// is held.
func (r *recvStream) bitmap() uint64 {
	var b uint64
	if len(r.held) == 0 {
		return 0
	}
	for n := range r.held {
		if n >= r.cum+2 && n < r.cum+2+64 {
			b |= 1 << (n - r.cum - 2)
		}
	}
	return b
}
