package arq

import (
	"math/bits"
	"time"
	"unsafe"
)

// recvSeg is a segment that arrived ahead of a gap.
type recvSeg struct {
	buf *[]byte
	end bool
	at  time.Time
}

const recvSegSize = int(unsafe.Sizeof(recvSeg{}))

// initialRing is the receive ring's size at the start, in segments; it
// doubles, up to RecvWindow, each time the peer has delivered half of it
// in order (so a peer that only sends out-of-order segments, or nothing,
// never costs more than this).
const initialRing = 64

// message is a whole message waiting to be read.
type message struct {
	data []byte
	segs int
}

// receiver is the receiving half of a connection: a window of segments
// from nxt (the next expected), a bitmap of those that arrived out of
// order, the message being reassembled, and the queue of whole messages
// waiting for the application. Its free space, in segments and in bytes,
// is the window it advertises. It does no I/O.
//
// Memory: everything it holds (out-of-order segments, the message being
// reassembled, unread messages, the ring itself) is counted in held, kept
// under Config.RecvBuffer bytes, and drawn from the Listener's shared
// budget beyond a small reserve. What does not fit is dropped and
// counted; the peer sends it again.
type receiver struct {
	cfg     *Config
	bud     *budget
	ring    []recvSeg
	bufs    bufCache
	present []uint64 // bit q%len(ring): segment q arrived
	maxRing int
	nxt     uint64
	edge    uint64 // the right edge of the window advertised: it never shrinks
	high    uint64 // one past the highest segment received
	ooo     int    // segments held beyond a gap
	grownAt uint64 // nxt when the ring last grew
	held    int    // bytes held (buffers' capacity), the ring included

	msg        []byte   // the message being reassembled
	hint       int      // the length of the last message: the next is likely as long
	spare      [][]byte // messages' memory the application gave back (held)
	spareBytes int
	msgSegs    int
	msgLastAt  time.Time // the latest arrival among its segments
	queue      []message
	queueHead  int
	queued     int // segments in queued messages

	fin    uint64
	hasFin bool

	sinceAck int   // in-order segments since the last ACK
	ackNow   bool  // an ACK is due at once (out of order, duplicate, window)
	echo     int64 // the latest sent field of the DATA since the last ACK
	dsack    [maxDSACKHeld]Range
	ndsack   int // duplicates to report in the next ACKs (D-SACK)
	lastWnd  uint32
	recent   [MaxSACK]uint64 // segments that arrived beyond a gap, the latest first: their blocks lead the SACK ranges
	nrecent  int
	st       *Stats
}

// reserve is what a connection may hold whatever the shared budget says.
func (r *receiver) reserve() int { return 16 * (r.cfg.MSS + DataOverhead) }

func newReceiver(cfg *Config, st *Stats, bud *budget) *receiver {
	maxRing := (cfg.RecvWindow + 63) &^ 63 // whole bitmap words
	n := min(initialRing, maxRing)
	r := &receiver{cfg: cfg, bud: bud, maxRing: maxRing, st: st}
	r.ring, r.present = make([]recvSeg, n), make([]uint64, (n+63)/64)
	r.held = n * recvSegSize
	bud.take(r.held, 0, r.held) // the first ring is always granted
	r.lastWnd = r.advertise()
	return r
}

// advertise returns the window to announce and moves the edge it offers:
// the segments up to nxt plus the window may come, whatever arrives
// meanwhile (an edge never shrinks, RFC 9293 3.8.6).
func (r *receiver) advertise() uint32 {
	w := r.window()
	r.edge = max(r.edge, r.nxt+uint64(w))
	return w
}

func (r *receiver) bit(q uint64) (int, uint64) {
	i := q % uint64(len(r.ring))
	return int(i / 64), 1 << (i % 64)
}

func (r *receiver) has(q uint64) bool {
	w, m := r.bit(q)
	return r.present[w]&m != 0
}

// window is the free receive buffer, in segments: what the ring has room
// for, and what the byte limit has room for.
//
// The message being reassembled counts in bytes only: it is in order,
// out of the ring, and counting its segments too closed the window by a
// whole message (47 segments of a 64 KiB chunk, of the ring's first 64)
// while it was read.
func (r *receiver) window() uint32 {
	used := r.ooo + r.queued
	segs := min(len(r.ring), r.cfg.RecvWindow) - used
	bytes := (r.cfg.RecvBuffer - r.held) / (r.cfg.MSS + DataOverhead)
	return uint32(max(min(segs, bytes), 0))
}

// hold reserves n more bytes, from the connection's limit and the shared
// budget.
func (r *receiver) hold(n int) bool {
	if r.held+n > r.cfg.RecvBuffer || !r.bud.take(n, r.held, r.reserve()) {
		return false
	}
	r.held += n
	return true
}

func (r *receiver) unhold(n int) {
	r.held -= n
	r.bud.give(n)
}

// grow doubles the ring (up to maxRing) once the peer has delivered half
// of it in order since it last grew.
func (r *receiver) grow() {
	if len(r.ring) >= r.maxRing || r.nxt-r.grownAt < uint64(len(r.ring)/2) {
		return
	}
	n := min(2*len(r.ring), r.maxRing)
	if !r.hold((n - len(r.ring)) * recvSegSize) {
		return // the ring stays as it is
	}
	old, oldPresent := r.ring, r.present
	r.ring, r.present = make([]recvSeg, n), make([]uint64, (n+63)/64)
	for q := r.nxt; q < r.high; q++ {
		i := q % uint64(len(old))
		if oldPresent[i/64]&(1<<(i%64)) == 0 {
			continue
		}
		w, m := r.bit(q)
		r.present[w] |= m
		r.ring[q%uint64(n)] = old[i]
	}
	r.grownAt = r.nxt
	r.st.RingGrowths++
}

// onData takes a DATA segment (at most MSS bytes: the caller checked). It
// returns false when the segment breaks the protocol (a message over
// MaxMessage), which ends the connection.
func (r *receiver) onData(q uint64, end bool, payload []byte, sent int64, now time.Time) bool {
	r.st.SegmentsReceived++
	r.echo = max(r.echo, sent)
	if r.hasFin && q >= r.fin {
		r.st.OutOfWindow++
		r.ackNow = true
		return true
	}
	if q < r.nxt || (q < r.high && r.has(q)) {
		r.st.DuplicateSegments++
		r.noteDuplicate(q)
		r.ackNow = true
		return r.drain(now)
	}
	if q >= r.edge || q >= r.nxt+uint64(len(r.ring)) {
		r.st.OutOfWindow++
		r.ackNow = true
		return true
	}
	if q != r.nxt {
		// keep it until the gap fills
		r.ackNow = true
		buf := r.bufs.get(len(payload))
		if !r.hold(cap(*buf)) {
			r.bufs.put(buf)
			r.st.DroppedMemory++
			return true
		}
		r.st.OutOfOrder++
		w, m := r.bit(q)
		r.present[w] |= m
		g := &r.ring[q%uint64(len(r.ring))]
		g.buf = buf
		*g.buf = append(*g.buf, payload...)
		g.end, g.at = end, now
		r.ooo++
		r.high = max(r.high, q+1)
		r.noteRecent(q)
		return true
	}
	// in order: this one, then whatever it unblocks
	ok, taken := r.take(payload, end, now, now)
	if !ok {
		return false
	}
	if !taken {
		r.st.DroppedMemory++
		r.ackNow = true // no memory now: the peer sends it again
		return true
	}
	r.nxt++
	r.high = max(r.high, r.nxt)
	r.sinceAck++
	return r.drain(now)
}

// noteDuplicate reports segment q, which arrived again, in the next ACK
// (D-SACK, RFC 2883): it tells the sender that a retransmission was
// needless. Neighbouring duplicates share a range; beyond MaxDSACK
// ranges, the oldest are reported and the others not.
func (r *receiver) noteDuplicate(q uint64) {
	for i := range r.dsack[:r.ndsack] {
		d := &r.dsack[i]
		switch {
		case q >= d.Start && q < d.End:
			return
		case q == d.End:
			d.End++
			return
		case q+1 == d.Start:
			d.Start--
			return
		}
	}
	if r.ndsack < maxDSACKHeld {
		r.dsack[r.ndsack] = Range{q, q + 1}
		r.ndsack++
	}
}

// maxDSACKHeld is how many ranges of duplicates the receiver keeps to
// report, MaxDSACK per ACK: more than one ACK's worth go in the ACKs
// that follow at once.
const maxDSACKHeld = 4 * MaxDSACK

// drain moves the segments held in the ring from nxt on into the message
// being assembled, as far as they go without a gap and memory allows.
func (r *receiver) drain(now time.Time) bool {
	if r.ring == nil {
		return true // released
	}
	for r.nxt < r.high && r.has(r.nxt) {
		g := &r.ring[r.nxt%uint64(len(r.ring))]
		ok, taken := r.take(*g.buf, g.end, g.at, now)
		if !ok {
			return false
		}
		if !taken {
			break // no memory for it in the message yet: it waits in the ring
		}
		w, m := r.bit(r.nxt)
		r.present[w] &^= m
		r.ooo--
		r.unhold(cap(*g.buf))
		r.bufs.put(g.buf)
		*g = recvSeg{}
		r.nxt++
		r.sinceAck++
	}
	r.grow()
	return true
}

// take appends an in-order segment that arrived at `at` to the message
// being assembled and queues the message when it ends (now). It returns
// ok=false when the message goes over MaxMessage (a protocol error), and
// taken=false when there is no memory for it now.
func (r *receiver) take(payload []byte, end bool, at, now time.Time) (ok, taken bool) {
	if len(r.msg)+len(payload) > r.cfg.MaxMessage {
		return false, false
	}
	if need := len(r.msg) + len(payload); need > cap(r.msg) {
		c := min(max(need, 2*cap(r.msg), 2*r.cfg.MSS), max(r.cfg.MaxMessage, need))
		if cap(r.msg) == 0 && !end {
			// a new message of several segments: as long as the last
			// one, most likely (a stream of equal chunks), and in the
			// memory the application gave back if it fits
			c = max(c, min(r.hint, r.cfg.MaxMessage))
			if k := len(r.spare); k > 0 && cap(r.spare[k-1]) >= c {
				r.msg = r.spare[k-1][:0] // held already
				r.spare[k-1] = nil
				r.spare = r.spare[:k-1]
				r.spareBytes -= cap(r.msg)
				c = cap(r.msg)
			}
		}
		if end {
			c = need // the message is whole: no room to grow
		}
		if c > cap(r.msg) {
			if !r.hold(c - cap(r.msg)) {
				return true, false
			}
			m := make([]byte, len(r.msg), c)
			copy(m, r.msg)
			r.msg = m
		}
	}
	r.msg = append(r.msg, payload...)
	r.msgSegs++
	if at.After(r.msgLastAt) {
		r.msgLastAt = at
	}
	if end {
		r.deliver(now)
	}
	return true, true
}

func (r *receiver) deliver(now time.Time) {
	data := r.msg
	r.hint = len(data)
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

// pop returns the oldest queued message; its memory is the caller's from
// now on. It returns ok=false with an error-free empty message when none
// waits, and fails (proto=false) only if segments held in the ring break
// the protocol once memory lets them in.
func (r *receiver) pop(now time.Time) (m message, ok, proto bool) {
	if r.queueHead == len(r.queue) {
		return message{}, false, true
	}
	m = r.queue[r.queueHead]
	r.queue[r.queueHead] = message{}
	r.queueHead++
	if r.queueHead == len(r.queue) {
		r.queue, r.queueHead = r.queue[:0], 0
	}
	r.queued -= m.segs
	r.unhold(cap(m.data))
	// A window that was small and opened wide deserves an update at once,
	// or the sender waits for its next probe.
	full := uint32(min(len(r.ring), r.cfg.RecvWindow))
	if w := r.window(); r.lastWnd < full/4 && w >= full/2 {
		r.ackNow = true
	}
	return m, true, r.drain(now)
}

// maxSpare bounds the memory of messages kept for reuse.
const maxSpare = 1 << 20

// release takes back the memory of a message pop returned, to reuse for
// a later one, if it is worth keeping and the limits allow.
func (r *receiver) release(b []byte) {
	if r.ring == nil || cap(b) < 2*r.cfg.MSS || r.spareBytes+cap(b) > maxSpare || !r.hold(cap(b)) {
		return
	}
	r.spare = append(r.spare, b[:0])
	r.spareBytes += cap(b)
}

// pending reports whether a message waits to be read.
func (r *receiver) pending() bool { return r.queueHead < len(r.queue) }

// complete reports whether every segment before the peer's FIN arrived.
func (r *receiver) complete() bool { return r.hasFin && r.nxt == r.fin && r.msgSegs == 0 }

// noteRecent puts q, which just arrived beyond a gap, at the head of the
// blocks to report first. A segment that extends the block of the latest
// one takes its place, so a run of arrivals takes one entry.
func (r *receiver) noteRecent(q uint64) {
	if r.nrecent > 0 && r.recent[0]+1 == q {
		r.recent[0] = q
		return
	}
	n := min(r.nrecent, MaxSACK-1)
	copy(r.recent[1:n+1], r.recent[:n])
	r.recent[0] = q
	r.nrecent = n + 1
}

// block returns the run of held segments around q (which is held).
func (r *receiver) block(q uint64) Range {
	start, end := q, q+1
	for start > r.nxt+1 && r.has(start-1) {
		start--
	}
	return Range{start, r.runEnd(end)}
}

// runEnd returns the first segment from q on that is not held (or high),
// a bitmap word at a time.
func (r *receiver) runEnd(q uint64) uint64 {
	for q < r.high {
		i := q % uint64(len(r.ring))
		rest := ^r.present[i/64] >> (i % 64) // zeros: held
		if rest != 0 {
			q += uint64(bits.TrailingZeros64(rest))
			break
		}
		q += 64 - i%64
	}
	return min(q, r.high)
}

// runStart returns the first held segment from q on (or high).
func (r *receiver) runStart(q uint64) uint64 {
	for q < r.high {
		i := q % uint64(len(r.ring))
		if rest := r.present[i/64] >> (i % 64); rest != 0 {
			q += uint64(bits.TrailingZeros64(rest))
			break
		}
		q += 64 - i%64
	}
	return min(q, r.high)
}

// ack fills p with the acknowledgement to send: cumulative, window, SACK
// ranges of the segments held beyond gaps, and the duplicates to report.
// As RFC 2018 asks, the first ranges are the blocks that changed most
// recently (so that the sender hears of every arrival, even when there
// are more blocks than an ACK carries, and again if an ACK is lost); the
// others follow lowest first, where the holes that hold up delivery are.
func (r *receiver) ack(p *Packet) {
	p.Type, p.Seq = TypeAck, r.nxt
	p.Window = r.advertise()
	p.Echo, r.echo = r.echo, 0
	r.lastWnd = p.Window
	p.NSACK = 0
	if r.ooo > 0 {
		add := func(b Range) bool {
			for _, o := range p.SACK[:p.NSACK] {
				if b.Start < o.End && o.Start < b.End {
					return false
				}
			}
			p.SACK[p.NSACK] = b
			p.NSACK++
			return true
		}
		kept := 0
		for _, q := range r.recent[:r.nrecent] {
			if q < r.nxt || q >= r.high || !r.has(q) {
				continue // delivered since
			}
			r.recent[kept] = q
			kept++
			add(r.block(q))
		}
		r.nrecent = kept
		for q := r.runStart(r.nxt + 1); q < r.high && p.NSACK < MaxSACK; {
			end := r.runEnd(q)
			add(Range{q, end})
			q = r.runStart(end)
		}
	} else {
		r.nrecent = 0
	}
	p.NDSACK = copy(p.DSACK[:], r.dsack[:r.ndsack])
	r.ndsack = copy(r.dsack[:], r.dsack[p.NDSACK:r.ndsack])
	r.sinceAck, r.ackNow = 0, r.ndsack > 0 // the rest of the duplicates go in the next ACK
}

// releaseIdle frees the buffers of a connection that ended, except the
// messages that wait to be read (pop gives their memory back), and
// returns the memory to the budget.
func (r *receiver) releaseIdle() {
	if r.ring == nil {
		return
	}
	for i := range r.ring {
		if r.ring[i].buf != nil {
			r.unhold(cap(*r.ring[i].buf))
			putSegBuf(r.ring[i].buf)
		}
	}
	r.unhold(len(r.ring)*recvSegSize + cap(r.msg) + r.spareBytes)
	r.ooo, r.msg, r.msgSegs, r.spare, r.spareBytes = 0, nil, 0, nil, 0
	r.bufs.release()
	r.ring, r.present = nil, nil
}

// releaseAll frees everything, unread messages included.
func (r *receiver) releaseAll() {
	r.releaseIdle()
	for _, m := range r.queue[r.queueHead:] {
		r.unhold(cap(m.data))
	}
	r.queue, r.queueHead, r.queued = nil, 0, 0
}
