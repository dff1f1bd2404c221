package arq

import (
	"math/bits"
	"time"
)

// recvSeg is a segment that arrived ahead of a gap.
type recvSeg struct {
	buf *[]byte
	end bool
	at  time.Time
}

// message is a whole message waiting to be read.
type message struct {
	data []byte
	segs int
}

// receiver is the receiving half of a connection: a window of segments
// from nxt (the next expected), a bitmap of those that arrived out of
// order, the message being reassembled, and the queue of whole messages
// waiting for the application. Its free space is the window it
// advertises. It does no I/O.
type receiver struct {
	cfg     *Config
	ring    []recvSeg
	present []uint64 // bit q%len(ring): segment q arrived
	nxt     uint64
	high    uint64 // one past the highest segment received
	ooo     int    // segments held beyond a gap

	msg       []byte // the message being reassembled
	msgSegs   int
	msgLastAt time.Time // the latest arrival among its segments
	queue     []message
	queueHead int
	queued    int // segments in queued messages

	fin    uint64
	hasFin bool

	sinceAck int  // in-order segments since the last ACK
	ackNow   bool // an ACK is due at once (out of order, duplicate, window)
	lastWnd  uint32
	tooLarge bool
	lastOoo  uint64 // the latest segment that arrived beyond a gap
	st       *Stats
}

func newReceiver(cfg *Config, st *Stats) *receiver {
	n := (cfg.RecvWindow + 63) &^ 63 // whole bitmap words
	return &receiver{cfg: cfg, ring: make([]recvSeg, n), present: make([]uint64, (n+63)/64),
		st: st, lastWnd: uint32(n)}
}

func (r *receiver) bit(q uint64) (int, uint64) {
	i := q % uint64(len(r.ring))
	return int(i / 64), 1 << (i % 64)
}

func (r *receiver) has(q uint64) bool {
	w, m := r.bit(q)
	return r.present[w]&m != 0
}

// window is the free receive buffer, in segments.
func (r *receiver) window() uint32 {
	used := r.ooo + r.queued + r.msgSegs
	return uint32(max(len(r.ring)-used, 0))
}

// onData takes a DATA segment. It returns false when the segment breaks
// the protocol (a message over MaxMessage), which ends the connection.
func (r *receiver) onData(q uint64, end bool, payload []byte, now time.Time) bool {
	r.st.SegmentsReceived++
	if r.hasFin && q >= r.fin {
		r.st.OutOfWindow++
		r.ackNow = true
		return true
	}
	if q < r.nxt || (q < r.high && r.has(q)) {
		r.st.DuplicateSegments++
		r.ackNow = true
		return true
	}
	if q >= r.nxt+uint64(r.window()) {
		r.st.OutOfWindow++
		r.ackNow = true
		return true
	}
	if q != r.nxt {
		r.st.OutOfOrder++
		r.ackNow = true
		// keep it until the gap fills
		w, m := r.bit(q)
		r.present[w] |= m
		g := &r.ring[q%uint64(len(r.ring))]
		g.buf = getSegBuf(len(payload))
		*g.buf = append(*g.buf, payload...)
		g.end, g.at = end, now
		r.ooo++
		r.high = max(r.high, q+1)
		r.lastOoo = q
		return true
	}
	// in order: this one, then whatever it unblocks
	if !r.take(payload, end, now, now) {
		return false
	}
	r.nxt++
	r.high = max(r.high, r.nxt)
	r.sinceAck++
	for r.nxt < r.high && r.has(r.nxt) {
		w, m := r.bit(r.nxt)
		r.present[w] &^= m
		g := &r.ring[r.nxt%uint64(len(r.ring))]
		r.ooo--
		ok := r.take(*g.buf, g.end, g.at, now)
		putSegBuf(g.buf)
		*g = recvSeg{}
		if !ok {
			return false
		}
		r.nxt++
		r.sinceAck++
	}
	return true
}

// take appends an in-order segment that arrived at `at` to the message
// being assembled and queues the message when it ends (now).
func (r *receiver) take(payload []byte, end bool, at, now time.Time) bool {
	if len(r.msg)+len(payload) > r.cfg.MaxMessage {
		r.tooLarge = true
		return false
	}
	r.msg = append(r.msg, payload...)
	r.msgSegs++
	if at.After(r.msgLastAt) {
		r.msgLastAt = at
	}
	if end {
		r.deliver(now)
	}
	return true
}

func (r *receiver) deliver(now time.Time) {
	data := r.msg
	if data == nil {
		data = []byte{}
	}
	// A message whose last segment arrived before now waited behind a
	// gap: head-of-line blocking.
	if wait := now.Sub(r.msgLastAt); wait > time.Millisecond/10 && !r.msgLastAt.IsZero() {
		r.st.HOLMessages++
		r.st.HOLWait += wait
		r.st.HOLMax = max(r.st.HOLMax, wait)
	}
	r.queue = append(r.queue, message{data: data, segs: r.msgSegs})
	r.queued += r.msgSegs
	r.st.MessagesReceived++
	r.st.BytesReceived += uint64(len(data))
	r.msg, r.msgSegs, r.msgLastAt = nil, 0, time.Time{}
}

// pop returns the oldest queued message.
func (r *receiver) pop() (message, bool) {
	if r.queueHead == len(r.queue) {
		return message{}, false
	}
	m := r.queue[r.queueHead]
	r.queue[r.queueHead] = message{}
	r.queueHead++
	if r.queueHead == len(r.queue) {
		r.queue, r.queueHead = r.queue[:0], 0
	}
	r.queued -= m.segs
	// A window that was small and opened wide deserves an update at once,
	// or the sender waits for its next probe.
	if w := r.window(); r.lastWnd < uint32(len(r.ring)/4) && w >= uint32(len(r.ring)/2) {
		r.ackNow = true
	}
	return m, true
}

// eof reports whether every segment before the peer's FIN was read.
func (r *receiver) complete() bool { return r.hasFin && r.nxt == r.fin && r.msgSegs == 0 }

// ack fills p with the acknowledgement to send: cumulative, window, and
// SACK ranges of the segments held beyond gaps, lowest first.
func (r *receiver) ack(p *Packet) {
	p.Type, p.Seq = TypeAck, r.nxt
	p.Window = r.window()
	r.lastWnd = p.Window
	p.NSACK = 0
	if r.ooo > 0 {
		// RFC 2018: the first range holds the latest arrival, so a sender
		// hears of every range eventually; the others follow lowest first,
		// where the holes that hold up delivery are.
		if r.lastOoo >= r.nxt && r.lastOoo < r.high && r.has(r.lastOoo) {
			start, end := r.lastOoo, r.lastOoo+1
			for start > r.nxt && r.has(start-1) {
				start--
			}
			for end < r.high && r.has(end) {
				end++
			}
			p.SACK[0] = Range{start, end}
			p.NSACK = 1
		}
		q := r.nxt + 1
		for q < r.high && p.NSACK < MaxSACK {
			// find the next present segment, a word at a time
			for q < r.high && !r.has(q) {
				w, _ := r.bit(q)
				if rest := r.present[w] >> (q % 64); rest != 0 {
					q += uint64(bits.TrailingZeros64(rest))
				} else {
					q += 64 - q%64 // the rest of this word is empty
				}
			}
			if q >= r.high {
				break
			}
			start := q
			for q < r.high && r.has(q) {
				q++
			}
			if p.NSACK > 0 && p.SACK[0].Start == start {
				continue // the first range already
			}
			p.SACK[p.NSACK] = Range{start, q}
			p.NSACK++
		}
	}
	r.sinceAck, r.ackNow = 0, false
}

// release frees every buffer.
func (r *receiver) release() {
	for i := range r.ring {
		putSegBuf(r.ring[i].buf)
		r.ring[i] = recvSeg{}
	}
	r.queue, r.msg = nil, nil
}
