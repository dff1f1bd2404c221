package seq

import (
	"cmp"
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/udpchat/udpchat/dgram/internal/lru"
)

// Kind is what a datagram's arrival meant for its sender's sequence.
type Kind uint8

// Event kinds.
const (
	// InOrder: the next seq expected (highest+1), or a sender's first
	// datagram with seq 0.
	InOrder Kind = iota
	// Gap: a seq above highest+1; the seqs in between are missing (so far).
	Gap
	// Late: a seq below highest, not seen before: it was reordered.
	Late
	// Duplicate: a seq already received (within the window).
	Duplicate
	// Stale: a seq older than the duplicate window; whether it is a
	// duplicate cannot be told. It is counted as unique.
	Stale
	// Restart: the sender started a new session (its counter went back).
	Restart
	// Malformed: not a v1 data header (short, bad magic, unknown version
	// or type).
	Malformed
	// Suspect: a seq too far from the sender's sequence to be believed
	// at once (RFC 3550 appendix A.1 probation): more than
	// Config.MaxDropout above the highest (or, for a sender's first
	// datagram, above 0), a restart (a seq that went back after a
	// pause), or seq 2^64-1. It is not counted as received until the next
	// datagram from the sender follows it (seq+1); then both count, and
	// that next datagram's event is the Gap, Restart or InOrder the
	// suspect would have been. A single forged datagram therefore cannot
	// move a sender's counts.
	Suspect
)

var kindNames = [...]string{"in-order", "gap", "late", "duplicate", "stale", "restart", "malformed", "suspect"}

// String returns the name used in output and JSON: "in-order", "gap",
// "late", "duplicate", "stale", "restart", "malformed" or "suspect".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Event is the outcome of one datagram.
type Event struct {
	Kind    Kind
	From    netip.AddrPort
	Header  Header // valid unless Kind is Malformed
	Payload []byte // the bytes after the header; aliases the datagram
	Len     int    // the whole datagram's length

	// Gap, and Restart or a first datagram that skips seqs: the missing
	// seqs are MissingFrom .. MissingFrom+Missing-1.
	MissingFrom, Missing uint64

	// Late: the RFC 4737 reordering extent, the number of arrivals since
	// the first one with a larger seq. ExtentCapped marks a lower bound
	// (that arrival is older than the tracker remembers).
	Extent       uint64
	ExtentCapped bool

	// Malformed: ErrShort, ErrMagic, ErrVersion or ErrType.
	Err error
}

// Cause returns why a malformed datagram was rejected, in a few words:
// "short", "bad magic", "unknown version" or "unknown type".
func (e *Event) Cause() string {
	if e.Err == nil {
		return ""
	}
	return (&DecodeError{Err: e.Err}).Cause()
}

// Config sets a Tracker's bounds. The zero value works.
type Config struct {
	// Window is how many seqs below the highest the duplicate bitmap
	// covers (default DefaultWindow; rounded up to a power of two, at
	// least 64). An arrival further below is Stale.
	Window int
	// MaxSenders bounds the table of senders with valid headers (default
	// DefaultMaxSenders). When it is full, the least recently seen sender
	// is evicted and counted. Senders that have sent only malformed
	// datagrams live in a separate table of MaxSenders/4 (at least 16),
	// so a flood of garbage cannot evict real senders.
	MaxSenders int
	// RestartIdle is the silence after which a seq that does not advance
	// starts a new session (default 1s); see the package doc.
	RestartIdle time.Duration
	// MaxDropout is the largest jump above the highest seq that is
	// believed at once (default DefaultMaxDropout, as RFC 3550's
	// MAX_DROPOUT); a larger one is Suspect until the next datagram
	// follows it.
	MaxDropout uint64
	// MaxClockSkew is how far a send time may be from the receiver's
	// clock and still feed the jitter estimate (default
	// DefaultMaxClockSkew). Datagrams sent "further away" are counted in
	// Stats.Skewed and otherwise tracked as usual.
	MaxClockSkew time.Duration
}

// Defaults for Config.
const (
	DefaultWindow      = 2048
	DefaultMaxSenders  = 4096
	DefaultRestartIdle = time.Second
	// DefaultMaxDropout is RFC 3550's MAX_DROPOUT.
	DefaultMaxDropout = 3000
	// DefaultMaxClockSkew tolerates hosts whose clocks are not
	// synchronised, and refuses send times that no clock would give.
	DefaultMaxClockSkew = 10 * time.Minute
	maxWindow           = 1 << 20
	// extentRing is how many in-order or gap arrivals each sender
	// remembers to measure reordering extents; older ones give a lower bound.
	extentRing = 128
)

func (c Config) withDefaults() Config {
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	// a power of two, at least 64, so that the bitmap index is a mask
	w := 64
	for w < c.Window && w < maxWindow {
		w *= 2
	}
	c.Window = w
	if c.MaxSenders <= 0 {
		c.MaxSenders = DefaultMaxSenders
	}
	if c.RestartIdle <= 0 {
		c.RestartIdle = DefaultRestartIdle
	}
	if c.MaxDropout == 0 {
		c.MaxDropout = DefaultMaxDropout
	}
	if c.MaxClockSkew <= 0 || c.MaxClockSkew > 100*365*24*time.Hour {
		c.MaxClockSkew = DefaultMaxClockSkew
	}
	return c
}

// Tracker keeps receive statistics per sender: it classifies every
// datagram (Observe) and sums up each sender (Senders). It does no I/O and
// reads no clock: the caller passes each arrival's time. Its memory is
// bounded by Config whatever arrives. It is not safe for concurrent use.
type Tracker struct {
	cfg       Config
	m         map[netip.AddrPort]*sender
	main      lruList
	probation lruList
	order     uint64
	last      *sender // the sender of the previous datagram: most are from the same one

	// buffers of the last evicted sender, for the next new one
	spareBits []uint64
	spareAdv  []advance

	datagrams, malformed, evicted, evictedProbation uint64
}

// NewTracker returns a Tracker with cfg's bounds (zero fields take the
// defaults).
func NewTracker(cfg Config) *Tracker {
	return &Tracker{cfg: cfg.withDefaults(), m: make(map[netip.AddrPort]*sender)}
}

// Config returns the tracker's configuration with defaults filled in.
func (t *Tracker) Config() Config { return t.cfg }

// Observe classifies one datagram b from from, arrived at now, updates the
// statistics and returns the event. The Event's Payload aliases b. It
// does not allocate, except for the first datagram of a new sender.
func (t *Tracker) Observe(from netip.AddrPort, b []byte, now time.Time) Event {
	var ev Event
	t.ObserveTo(&ev, from, b, now)
	return ev
}

// ObserveTo is Observe writing the event into *ev, for hot loops that
// reuse one Event rather than copy it.
func (t *Tracker) ObserveTo(ev *Event, from netip.AddrPort, b []byte, now time.Time) {
	t.datagrams++
	h, payload, bad := parse(b)
	if bad == nil && h.Type != TypeData {
		bad = ErrType
	}
	s := t.lookup(from, bad == nil, now)
	if bad != nil {
		t.malformed++
		s.malformed++
		*ev = Event{Kind: Malformed, From: from, Payload: b, Len: len(b), Err: bad}
		return
	}
	s.observe(ev, h, now, &t.cfg)
	ev.From, ev.Payload, ev.Len = from, payload, len(b)
}

// ObserveRun is ObserveTo for a run of datagrams from one sender, such as
// the segments of a coalesced (GRO) buffer: b holds datagrams of seg bytes
// each (the last may be shorter). Datagrams that arrive in order take a
// fast path that tracks them one by one without building events; at the
// first that does not (a gap, a late one, a malformed one...), ObserveRun
// stops and returns how many bytes of b it consumed, and the caller gives
// the rest to ObserveTo. The statistics are the same either way.
func (t *Tracker) ObserveRun(from netip.AddrPort, b []byte, seg int, now time.Time) (consumed int) {
	if seg < HeaderLen {
		return 0
	}
	s := t.m[from]
	if t.last != nil && t.last.addr == from {
		s = t.last
	}
	if s == nil || s.list != &t.main || !s.hasHighest {
		return 0
	}
	nowNs := now.UnixNano()
	for consumed < len(b) {
		d := b[consumed:min(consumed+seg, len(b))]
		if len(d) < HeaderLen || d[0] != Magic0 || d[1] != Magic1 || d[2] != Version || d[3] != byte(TypeData) {
			break
		}
		q := binary.BigEndian.Uint64(d[4:12])
		if q != s.highest+1 || q == math.MaxUint64 {
			break
		}
		h := Header{Seq: q, Sent: int64(binary.BigEndian.Uint64(d[12:20]))}
		t.datagrams++
		s.received++
		s.arrivals++
		s.advanceTo(h)
		s.unique++
		s.updateJitter(h, nowNs, t.cfg.MaxClockSkew)
		consumed += len(d)
	}
	if consumed > 0 {
		s.lastArrival, s.lastSeen = now, now
		if t.last != s {
			s.list.moveToFront(s)
			t.last = s
		}
	}
	return consumed
}

// lookup finds or creates from's entry and marks it most recently seen.
func (t *Tracker) lookup(from netip.AddrPort, valid bool, now time.Time) *sender {
	if s := t.last; s != nil && s.addr == from && (!valid || s.list == &t.main) {
		// the same sender as last time: already at the front of its list
		s.lastSeen = now
		return s
	}
	s := t.m[from]
	switch {
	case s == nil:
		t.order++
		s = &sender{addr: from, order: t.order, firstSeen: now}
		t.m[from] = s
		if valid {
			t.makeRoom(&t.main, t.cfg.MaxSenders, &t.evicted)
			t.initSender(s)
			t.main.pushFront(s)
		} else {
			t.makeRoom(&t.probation, max(16, t.cfg.MaxSenders/4), &t.evictedProbation)
			t.probation.pushFront(s)
		}
	case valid && s.list == &t.probation:
		// a sender's first valid datagram: promote it
		t.probation.remove(s)
		t.makeRoom(&t.main, t.cfg.MaxSenders, &t.evicted)
		t.initSender(s)
		t.main.pushFront(s)
	default:
		s.list.moveToFront(s)
	}
	s.lastSeen = now
	t.last = s
	return s
}

func (t *Tracker) makeRoom(l *lruList, limit int, evicted *uint64) {
	for l.Len() >= limit && l.back() != nil {
		old := l.back()
		l.remove(old)
		delete(t.m, old.addr)
		if t.last == old {
			t.last = nil
		}
		if old.bits != nil {
			// Keep its buffers for the sender that takes its place, so a
			// flood of new senders does not churn the heap.
			t.spareBits, t.spareAdv = old.bits, old.adv
		}
		*evicted++
	}
}

// Stats summarises one sender, with the definitions of RFC 3550 section
// 6.4 and appendix A.3 (expected, lost), A.8 (jitter) and RFC 4737
// (reordering).
type Stats struct {
	Peer       netip.AddrPort
	Received   uint64  // datagrams with a valid header, suspect ones not (yet) included
	Unique     uint64  // distinct seqs (stale ones included, see Stale)
	Expected   uint64  // highest+1 (from the session's first seq, after a confirmed jump), summed over the sender's sessions
	Lost       uint64  // Expected - Unique, never negative
	Duplicates uint64  // Received - Unique
	Reordered  uint64  // late arrivals
	Stale      uint64  // arrivals older than the window (assumed unique)
	Malformed  uint64  // datagrams that were not valid v1 data headers
	Restarts   uint64  // new sessions after the first
	Suspect    uint64  // datagrams put on probation and never confirmed (see Suspect)
	Skewed     uint64  // datagrams whose send time was more than MaxClockSkew from the receiver's clock: not used for jitter
	MaxExtent  uint64  // largest reordering extent seen
	Jitter     float64 // RFC 3550 interarrival jitter, seconds
	Highest    uint64  // highest seq of the current session
	HasHighest bool    // false until a valid datagram arrived
	FirstSeen  time.Time
	LastSeen   time.Time
}

// JitterMs returns the jitter in milliseconds.
func (s Stats) JitterMs() float64 { return s.Jitter * 1e3 }

// Senders returns every sender's statistics, in the order they were first
// seen. Senders that sent only malformed datagrams are included.
func (t *Tracker) Senders() []Stats {
	out := make([]Stats, 0, len(t.m))
	for _, s := range t.m {
		out = append(out, s.stats())
	}
	slices.SortFunc(out, func(a, b Stats) int {
		return cmp.Compare(t.m[a.Peer].order, t.m[b.Peer].order)
	})
	return out
}

// Lookup returns one sender's statistics.
func (t *Tracker) Lookup(from netip.AddrPort) (Stats, bool) {
	s := t.m[from]
	if s == nil {
		return Stats{}, false
	}
	return s.stats(), true
}

// Totals counts over all senders, evicted ones included.
type Totals struct {
	Datagrams        uint64 // every datagram observed
	Malformed        uint64 // of which malformed
	Senders          int    // senders in the tables now
	Evicted          uint64 // senders with valid headers evicted from the full table
	EvictedMalformed uint64 // malformed-only senders evicted from theirs
}

// Totals returns the tracker-wide counters.
func (t *Tracker) Totals() Totals {
	return Totals{Datagrams: t.datagrams, Malformed: t.malformed, Senders: len(t.m),
		Evicted: t.evicted, EvictedMalformed: t.evictedProbation}
}

// sender is one sender's state.
type sender struct {
	addr  netip.AddrPort
	order uint64
	node  lru.Node[*sender] // in list
	list  *lruList

	firstSeen, lastSeen time.Time
	lastArrival         time.Time // last valid datagram

	received, unique, duplicates, reordered, stale, malformed, restarts, maxExtent uint64
	suspect, skewed                                                                uint64
	expectedBase                                                                   uint64

	// probation (RFC 3550 A.1): a suspect datagram waiting for the next
	// one to follow it
	prob        probation
	probHeader  Header
	probPending bool

	// session state
	hasHighest  bool
	base        uint64 // the session's first seq: 0, unless it began with a confirmed suspect
	highest     uint64
	highestSent int64
	arrivals    uint64   // valid arrivals in this session, from 1
	bits        []uint64 // duplicate window: bit seq%window
	window      uint64
	adv         []advance // ring of arrivals that raised highest
	advHead     int       // index of the oldest entry
	advLen      int
	advWrapped  bool // entries were overwritten

	hasTransit  bool
	lastTransit int64 // ns
	jitter16    int64 // jitter in ns, times 16 (RFC 3550 A.8's integer form)
}

type advance struct{ seq, idx uint64 }

// probation is why a datagram is suspect.
type probation uint8

const (
	probFirst   probation = iota // a sender's first datagram, far above 0
	probJump                     // far above the highest
	probRestart                  // back to a lower seq after a pause
	probNever                    // seq 2^64-1: nothing can follow it
)

// initSender gives s its duplicate window and extent ring: those of the
// last evicted sender if there is one, cleared, or new ones.
func (t *Tracker) initSender(s *sender) {
	if s.bits != nil {
		return
	}
	s.window = uint64(t.cfg.Window)
	if t.spareBits != nil {
		s.bits, s.adv = t.spareBits, t.spareAdv
		t.spareBits, t.spareAdv = nil, nil
		clear(s.bits)
		clear(s.adv)
		return
	}
	s.bits = make([]uint64, t.cfg.Window/64)
	s.adv = make([]advance, extentRing)
}

func (s *sender) stats() Stats {
	st := Stats{
		Peer: s.addr, Received: s.received, Unique: s.unique, Duplicates: s.duplicates,
		Reordered: s.reordered, Stale: s.stale, Malformed: s.malformed, Restarts: s.restarts,
		Suspect: s.suspect, Skewed: s.skewed, MaxExtent: s.maxExtent, Jitter: float64(s.jitter16) / 16 / 1e9, Highest: s.highest, HasHighest: s.hasHighest,
		FirstSeen: s.firstSeen, LastSeen: s.lastSeen,
	}
	st.Expected = s.expectedBase
	if s.hasHighest {
		st.Expected = satAdd(st.Expected, s.highest-s.base+1)
	}
	if st.Expected > st.Unique {
		st.Lost = st.Expected - st.Unique
	}
	return st
}

func (s *sender) bit(q uint64) (word int, mask uint64) {
	i := q & (s.window - 1)
	return int(i / 64), 1 << (i % 64)
}

// isRestart reports whether h, with a seq not above highest, begins a new
// session: it comes after at least cfg.RestartIdle of silence, and it was
// not sent before the datagram that set highest (when both carry a send
// time). Without the pause it is reordering or duplication, whatever its
// send time says: peers that reorder on purpose stamp each datagram when
// they send it.
func (s *sender) isRestart(h Header, now time.Time, cfg *Config) bool {
	if now.Sub(s.lastArrival) < cfg.RestartIdle {
		return false
	}
	return h.Sent == 0 || s.highestSent == 0 || h.Sent > s.highestSent
}

func (s *sender) observe(ev *Event, h Header, now time.Time, cfg *Config) {
	*ev = Event{Header: h}
	if s.probPending && s.confirms(h) {
		s.confirm(ev, h, now, cfg)
		return
	}
	if p, suspect := s.suspicious(h, now, cfg); suspect {
		// RFC 3550 A.1: believe it only if the next datagram follows it.
		s.prob, s.probHeader, s.probPending = p, h, true
		s.suspect++
		ev.Kind = Suspect
		return
	}
	s.received++
	s.lastArrival = now
	s.arrivals++
	s.track(ev, h, now, cfg)
}

// suspicious reports whether h, from a sender with no datagram on
// probation that it confirms, must be put on probation, and why.
func (s *sender) suspicious(h Header, now time.Time, cfg *Config) (probation, bool) {
	switch {
	case h.Seq == math.MaxUint64:
		return probNever, true
	case !s.hasHighest:
		return probFirst, h.Seq > cfg.MaxDropout
	case h.Seq > s.highest:
		return probJump, h.Seq-s.highest > cfg.MaxDropout
	}
	return probRestart, s.isRestart(h, now, cfg)
}

// confirms reports whether h follows the datagram on probation, as
// nothing but the suspect's sender would send it: the next seq, and not
// one that the sequence so far explains.
func (s *sender) confirms(h Header) bool {
	p := s.probHeader.Seq
	if h.Seq != p+1 || h.Seq == math.MaxUint64 || s.prob == probNever {
		return false
	}
	switch s.prob {
	case probFirst:
		return !s.hasHighest
	case probJump:
		return s.hasHighest && p > s.highest
	default: // probRestart: h is no advance of the old session
		return s.hasHighest && h.Seq <= s.highest
	}
}

// confirm accepts the datagram on probation and then h, which follows
// it: both count, and h's event is what the suspect would have been (a
// restart, a gap, or the start of the sender's sequence).
func (s *sender) confirm(ev *Event, h Header, now time.Time, cfg *Config) {
	p := s.probHeader
	s.probPending = false
	s.suspect--
	var first Event
	switch s.prob {
	case probRestart:
		s.expectedBase = satAdd(s.expectedBase, s.highest-s.base+1)
		s.restarts++
		s.hasHighest, s.arrivals, s.advLen, s.advHead, s.advWrapped = false, 0, 0, 0, false
		s.hasTransit = false
		s.base = 0
	case probFirst:
		s.base = p.Seq // the sequence starts where we began to hear it
	}
	s.received++
	s.arrivals++
	s.track(&first, p, now, cfg)
	s.received++
	s.lastArrival = now
	s.arrivals++
	s.track(ev, h, now, cfg)
	ev.Kind, ev.MissingFrom, ev.Missing = first.Kind, first.MissingFrom, first.Missing
	if s.prob == probRestart {
		ev.Kind = Restart
	}
}

// track classifies h, a datagram the sender's sequence accepts, and
// updates the session.
func (s *sender) track(ev *Event, h Header, now time.Time, cfg *Config) {
	switch {
	case !s.hasHighest:
		clear(s.bits)
		s.advanceTo(h)
		s.unique++
		ev.Kind = InOrder
		if h.Seq > s.base {
			ev.Kind, ev.MissingFrom, ev.Missing = Gap, s.base, h.Seq-s.base
		}
	case h.Seq > s.highest:
		ev.Kind = InOrder
		if h.Seq > s.highest+1 {
			ev.Kind, ev.MissingFrom, ev.Missing = Gap, s.highest+1, h.Seq-s.highest-1
		}
		s.advanceTo(h)
		s.unique++
	case s.highest-h.Seq >= s.window || h.Seq < s.base:
		ev.Kind = Stale
		s.stale++
		s.unique++
	default:
		w, m := s.bit(h.Seq)
		if s.bits[w]&m != 0 {
			ev.Kind = Duplicate
			s.duplicates++
			return // duplicates do not feed the jitter estimate
		}
		s.bits[w] |= m
		s.unique++
		s.reordered++
		ev.Kind = Late
		ev.Extent, ev.ExtentCapped = s.extent(h.Seq)
		s.maxExtent = max(s.maxExtent, ev.Extent)
	}
	s.updateJitter(h, now.UnixNano(), cfg.MaxClockSkew)
}

// satAdd adds without wrapping past the largest uint64.
func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// advanceTo makes h.Seq the highest: the window slides up, clearing the
// bits of the seqs skipped, and the arrival is remembered for extents.
func (s *sender) advanceTo(h Header) {
	if s.hasHighest {
		if h.Seq-s.highest >= s.window {
			clear(s.bits)
		} else {
			for q := s.highest + 1; q < h.Seq; q++ {
				w, m := s.bit(q)
				s.bits[w] &^= m
			}
		}
	}
	w, m := s.bit(h.Seq)
	s.bits[w] |= m
	s.highest, s.highestSent, s.hasHighest = h.Seq, h.Sent, true
	// remember (seq, arrival index) in the ring
	pos := (s.advHead + s.advLen) & (extentRing - 1)
	s.adv[pos] = advance{seq: h.Seq, idx: s.arrivals}
	if s.advLen < len(s.adv) {
		s.advLen++
	} else {
		s.advHead = (s.advHead + 1) & (extentRing - 1)
		s.advWrapped = true
	}
}

// extent returns the RFC 4737 reordering extent of a late seq q arriving
// now (arrival s.arrivals): the distance to the earliest arrival with a
// larger seq. That arrival always raised highest (every arrival before it
// had a smaller seq), so it is in the ring, unless the ring has moved past
// it, in which case the result is a lower bound.
func (s *sender) extent(q uint64) (uint64, bool) {
	at := func(i int) advance { return s.adv[(s.advHead+i)&(extentRing-1)] }
	// entries are in increasing seq order: binary search the first > q
	lo, hi := 0, s.advLen
	for lo < hi {
		mid := (lo + hi) / 2
		if at(mid).seq > q {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == s.advLen { // cannot happen for q < highest; be safe
		return 0, true
	}
	capped := lo == 0 && s.advWrapped
	return s.arrivals - at(lo).idx, capped
}

// updateJitter applies RFC 3550 A.8: D is the change in transit time
// (arrival minus send time) between consecutive arrivals, J += (|D|-J)/16,
// kept as 16*J in integers as the RFC's sample code does. Datagrams
// without a send time are skipped; those whose send time is more than
// skew from the receiver's clock are skipped and counted.
func (s *sender) updateJitter(h Header, nowNs int64, skew time.Duration) {
	if h.Sent == 0 {
		return
	}
	if h.Sent < nowNs-int64(skew) || h.Sent > nowNs+int64(skew) {
		s.skewed++
		return
	}
	transit := nowNs - h.Sent
	if s.hasTransit {
		d := transit - s.lastTransit
		if d < 0 {
			d = -d
		}
		s.jitter16 += d - ((s.jitter16 + 8) >> 4)
	}
	s.lastTransit, s.hasTransit = transit, true
}

// lruList orders one of the Tracker's tables, most recently seen first,
// and records in each sender which table it is in.
type lruList struct {
	lru.List[*sender]
}

func (l *lruList) pushFront(s *sender) {
	s.node.Value, s.list = s, l
	l.PushFront(&s.node)
}

func (l *lruList) remove(s *sender) {
	l.Remove(&s.node)
	s.list = nil
}

func (l *lruList) moveToFront(s *sender) { l.MoveToFront(&s.node) }

// back is the least recently seen sender, nil when the list is empty.
func (l *lruList) back() *sender {
	if n := l.Back(); n != nil {
		return n.Value
	}
	return nil
}
