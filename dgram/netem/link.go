package netem

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Counters count what one direction of a link did. Every field is updated
// atomically; read a consistent copy with Snapshot.
type Counters struct {
	In, InBytes   atomic.Uint64 // datagrams (and bytes) that entered the link
	Out, OutBytes atomic.Uint64 // datagrams (and bytes) that left it, duplicates included

	Dropped    atomic.Uint64 // all drops, by any cause below
	DropLoss   atomic.Uint64 // random loss
	DropBurst  atomic.Uint64 // Gilbert-Elliott burst loss
	DropScript atomic.Uint64 // scripted drops
	DropQueue  atomic.Uint64 // rate limiter queue full
	DropLimit  atomic.Uint64 // Limit or LimitBytes reached, or an output failed
	DropHeld   atomic.Uint64 // a proxy's global bound on held bytes reached (ProxyConfig.MaxHeldBytes)

	Duplicated atomic.Uint64 // extra copies sent
	Reordered  atomic.Uint64 // datagrams held back to be overtaken (random or scripted)
	Corrupted  atomic.Uint64 // datagrams with a flipped bit
	Delayed    atomic.Uint64 // datagrams held for a delay or jitter above zero
	OutErrors  atomic.Uint64 // datagrams the output failed to send (counted in Out too)
}

// Snapshot is a copy of Counters.
type Snapshot struct {
	In, InBytes, Out, OutBytes                           uint64
	Dropped, DropLoss, DropBurst, DropScript             uint64
	DropQueue, DropLimit, DropHeld                       uint64
	Duplicated, Reordered, Corrupted, Delayed, OutErrors uint64
}

// Snapshot returns the counters' current values.
func (c *Counters) Snapshot() Snapshot {
	return Snapshot{
		In: c.In.Load(), InBytes: c.InBytes.Load(), Out: c.Out.Load(), OutBytes: c.OutBytes.Load(),
		Dropped: c.Dropped.Load(), DropLoss: c.DropLoss.Load(), DropBurst: c.DropBurst.Load(),
		DropScript: c.DropScript.Load(), DropQueue: c.DropQueue.Load(), DropLimit: c.DropLimit.Load(), DropHeld: c.DropHeld.Load(),
		Duplicated: c.Duplicated.Load(), Reordered: c.Reordered.Load(), Corrupted: c.Corrupted.Load(),
		Delayed: c.Delayed.Load(), OutErrors: c.OutErrors.Load(),
	}
}

func (c *Counters) drop(cause Cause) {
	c.Dropped.Add(1)
	switch cause {
	case CauseLoss:
		c.DropLoss.Add(1)
	case CauseBurst:
		c.DropBurst.Add(1)
	case CauseScript:
		c.DropScript.Add(1)
	case CauseQueue:
		c.DropQueue.Add(1)
	case CauseHeld:
		c.DropHeld.Add(1)
	default:
		c.DropLimit.Add(1)
	}
}

// output receives the datagrams a link releases.
type output interface {
	// send delivers the items (all of this output) in order. It must not
	// keep them: their buffers are recycled when it returns.
	send(items []*item)
}

// Link is one direction of an impaired link: it decides each datagram's
// fate with its Model and, for delayed, held or rate-limited datagrams,
// schedules their release on a Scheduler. Its timing is computed from the
// arrival time passed in, so a test can drive it with a virtual clock.
type Link struct {
	name     string // "up", "down", "write" or "read", for the log
	peer     string // the proxy client, for the log
	model    *Model
	cfg      Config
	c        *Counters
	sched    *Scheduler
	out      output
	log      *Logger
	pass     bool // nothing to impair or log: forward and count only
	onDecide func(*Decision)
	budget   *heldBudget // shared by every link of a proxy; nil: none

	mu          sync.Mutex
	lastDelayed time.Time   // without JitterReorders, nothing leaves the delay stage before this
	busyUntil   time.Time   // the rate limiter is sending until then
	rateQ       []time.Time // finish times of datagrams in the rate limiter, a FIFO
	held        []*item     // datagrams held back, waiting to be overtaken
	pending     atomic.Int64
	pendBytes   atomic.Int64
}

// newLink returns a link; sched may be nil when cfg needs no timing.
func newLink(name, peer string, cfg Config, seed, stream uint64, c *Counters, sched *Scheduler, out output, log *Logger) *Link {
	m := NewModel(cfg, seed, stream)
	return &Link{name: name, peer: peer, model: m, cfg: m.Config(), c: c, sched: sched, out: out, log: log,
		pass: cfg.IsZero() && log == nil}
}

// timed reports whether the link needs a scheduler.
func (l *Link) timed() bool { return l.cfg.timed() }

// decide decides an untimed link's next datagram of size bytes and counts
// it: the caller sends it 0 times (dropped), once, or twice (Dup), after
// flipping bit Bit when Corrupt. Only for links that are not timed.
func (l *Link) decide(size int) Decision {
	d := l.model.Decide(size)
	l.c.In.Add(1)
	l.c.InBytes.Add(uint64(size))
	l.log.decision(l, &d, "")
	if l.onDecide != nil {
		l.onDecide(&d)
	}
	if d.Drop {
		l.c.drop(d.Cause)
		return d
	}
	n := uint64(1)
	if d.Corrupt {
		l.c.Corrupted.Add(1)
	}
	if d.Dup {
		l.c.Duplicated.Add(1)
		n = 2
	}
	l.c.Out.Add(n)
	l.c.OutBytes.Add(n * uint64(size))
	return d
}

// filter applies an untimed link's decision to b in place and returns how
// many copies to send (0, 1 or 2).
func (l *Link) filter(b []byte) int {
	if l.pass {
		l.c.In.Add(1)
		l.c.InBytes.Add(uint64(len(b)))
		l.c.Out.Add(1)
		l.c.OutBytes.Add(uint64(len(b)))
		return 1
	}
	d := l.decide(len(b))
	switch {
	case d.Drop:
		return 0
	case d.Corrupt:
		flip(b, d.Bit)
	}
	if d.Dup {
		return 2
	}
	return 1
}

func flip(b []byte, bit int) { b[bit/8] ^= 1 << (bit % 8) }

// record logs a decision and reports it to onDecide.
func (l *Link) record(d *Decision) {
	l.log.decision(l, d, "")
	if l.onDecide != nil {
		l.onDecide(d)
	}
}

// push takes a datagram that arrived at now (b is copied), decides its
// fate and schedules its release for dst.
func (l *Link) push(now time.Time, b []byte, dst netip.AddrPort) {
	l.pushFrom(now, b, dst, netip.AddrPort{}, 0)
}

// pushFrom is push for a datagram that carries a source address and
// interface (dgram.Message's Local and IfIndex) to its release.
func (l *Link) pushFrom(now time.Time, b []byte, dst, src netip.AddrPort, ifIndex int) {
	d := l.model.Decide(len(b))
	l.c.In.Add(1)
	l.c.InBytes.Add(uint64(len(b)))
	if d.Drop {
		l.record(&d)
		l.c.drop(d.Cause)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	copies := 1
	if d.Dup {
		copies = 2
	}
	if int(l.pending.Load())+copies > l.cfg.Limit || int(l.pendBytes.Load())+copies*len(b) > l.cfg.LimitBytes {
		d.Drop, d.Cause = true, CauseLimit
		l.record(&d)
		l.c.drop(CauseLimit)
		return
	}
	if !l.budget.reserve(int64(copies) * itemCost(len(b))) {
		d.Drop, d.Cause = true, CauseHeld
		l.record(&d)
		l.c.drop(CauseHeld)
		return
	}
	// The delay stage: without JitterReorders nothing leaves it before
	// the datagram that entered before.
	release := now.Add(d.Delay)
	if !l.cfg.JitterReorders && release.Before(l.lastDelayed) {
		release = l.lastDelayed
	}
	if release.After(l.lastDelayed) {
		l.lastDelayed = release
	}
	var finishes [2]time.Time
	if l.cfg.Rate > 0 {
		// Drain what has left the rate limiter by the time this datagram
		// reaches it; tail-drop when the queue is full.
		i := 0
		for i < len(l.rateQ) && !l.rateQ[i].After(release) {
			i++
		}
		l.rateQ = append(l.rateQ[:0], l.rateQ[i:]...)
		if len(l.rateQ)+copies > l.cfg.Queue {
			l.budget.release(int64(copies) * itemCost(len(b)))
			d.Drop, d.Cause = true, CauseQueue
			l.record(&d)
			l.c.drop(CauseQueue)
			return
		}
		tx := time.Duration(float64(len(b)*8) / l.cfg.Rate * float64(time.Second))
		for k := 0; k < copies; k++ {
			start := release
			if l.busyUntil.After(start) {
				start = l.busyUntil
			}
			l.busyUntil = start.Add(tx)
			finishes[k] = l.busyUntil
			l.rateQ = append(l.rateQ, l.busyUntil)
		}
		release = finishes[0]
	}
	l.record(&d)
	if d.Delay > 0 {
		l.c.Delayed.Add(1)
	}
	if d.Corrupt {
		l.c.Corrupted.Add(1)
	}

	s := l.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	it := l.newItem(b, dst, d.Corrupt, d.Bit)
	it.src, it.ifIndex = src, ifIndex
	if d.Hold || d.Swap {
		l.c.Reordered.Add(1)
		it.holding = l.cfg.ReorderGap
		if d.Swap {
			it.holding = 1
		}
		it.held = true
		l.held = append(l.held, it)
		s.add(it, release.Add(l.cfg.ReorderHold))
	} else {
		s.add(it, release)
		// Datagrams held back before this one are overtaken by it, and
		// those passed often enough leave right after it.
		l.overtake(release)
	}
	if d.Dup {
		l.c.Duplicated.Add(1)
		dup := l.newItem(b, dst, d.Corrupt, d.Bit)
		dup.src, dup.ifIndex = src, ifIndex
		at := release
		if l.cfg.Rate > 0 {
			at = finishes[1]
		}
		s.add(dup, at)
	}
	s.kick()
}

// overtake counts one more datagram passing every held one; those that
// have been passed by ReorderGap datagrams (1 for a scripted swap) leave
// right after it, at release. Called with l.mu and the scheduler's lock.
func (l *Link) overtake(release time.Time) {
	kept := l.held[:0]
	for _, h := range l.held {
		if h.index < 0 { // already released by its time limit (and orphaned)
			continue
		}
		h.holding--
		if h.holding <= 0 {
			h.held = false
			if release.Before(h.at) {
				l.sched.move(h, release)
			}
			continue
		}
		kept = append(kept, h)
	}
	clear(l.held[len(kept):])
	l.held = kept
}

func (l *Link) newItem(b []byte, dst netip.AddrPort, corrupt bool, bit int) *item {
	it := getItem(len(b))
	copy(it.buf, b)
	if corrupt {
		flip(it.buf, bit)
	}
	it.dst, it.link = dst, l
	l.pending.Add(1)
	l.pendBytes.Add(int64(len(b)))
	return it
}

// released accounts for items leaving the link.
func (l *Link) released(it *item) {
	l.pending.Add(-1)
	l.pendBytes.Add(-int64(len(it.buf)))
	l.budget.release(itemCost(len(it.buf)))
}

// passed counts n datagrams (bytes in all) forwarded untouched through a
// link with nothing to impair, as filter does one by one.
func (l *Link) passed(n, bytes int) {
	l.c.In.Add(uint64(n))
	l.c.InBytes.Add(uint64(bytes))
	l.c.Out.Add(uint64(n))
	l.c.OutBytes.Add(uint64(bytes))
}

// heldBudget bounds the memory that the links of one proxy hold at once
// for delay, reordering and rate limiting, over all its clients and both
// directions. A nil *heldBudget bounds nothing.
type heldBudget struct {
	limit int64
	used  atomic.Int64
}

// itemCost is the memory a held datagram of n bytes takes: its buffer (a
// pooled one of pooledSize for small datagrams) and its bookkeeping.
func itemCost(n int) int64 {
	const overhead = 160 // the item, its heap slot and list entries
	return int64(max(n, pooledSize) + overhead)
}

// reserve takes n bytes of the budget, or reports that they do not fit.
func (b *heldBudget) reserve(n int64) bool {
	if b == nil {
		return true
	}
	for {
		u := b.used.Load()
		if u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// release gives n bytes back.
func (b *heldBudget) release(n int64) {
	if b != nil {
		b.used.Add(-n)
	}
}

// Counters returns the counters this link updates (shared by the links of
// one direction of a proxy).
func (l *Link) Counters() *Counters { return l.c }
