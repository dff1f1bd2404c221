// Package guard keeps a UDP echo server from becoming a reflector: it
// decides, datagram by datagram, whether an answer may go back to its
// source.
//
// UDP source addresses are not checked by anyone, so an echo server
// answers whoever a sender claims to be. An attacker who forges a
// victim's address turns it into a traffic gun (amplification, RFC 8085
// section 3.11), and two echo servers pointed at each other bounce one
// datagram forever. The guard refuses, and counts:
//
//   - source port 0, which no real sender uses;
//   - well-known ports of other reflecting services (DefaultBlockedPorts:
//     7 echo, 19 chargen, 53 DNS, 123 NTP, 1900 SSDP, 11211 memcached),
//     so two reflectors cannot be made to talk to each other;
//   - answers beyond a token bucket per source IP address (all ports of
//     one address share it) and a global one;
//   - loops: a source that sends back exactly what we last answered it,
//     within LoopGap of our answer (faster than a person or a paced
//     sender: the datagram is our own reply coming back at once),
//     LoopLimit times in a row, is another reflector, so we stop.
//
// The limits are meant to let honest clients through untouched: 2,000
// replies a second for one address (ping at 5 ms, or a test at 1,000 a
// second, gets every reply), and a client that repeats one payload at
// its own pace is not a loop. One kind of client looks exactly like a
// loop for a while: one that waits for each reply and, having fallen
// behind its schedule, sends the same payload again the moment the reply
// arrives. Refusing one reply tells them apart: a loop carries one
// datagram, so it dies; a client sends again. A port that sends our
// reply back after we refused it as a loop is therefore a client, and is
// never taken for a loop again (while the table remembers its address).
// A loop slower than LoopGap is not recognised as one; the rate limit
// bounds it, and ends it the first time it refuses a reply.
//
// The table of per-address buckets is bounded; when it is full the least
// recently used address is forgotten (and starts again with a full bucket
// if it comes back: the global bucket still holds).
//
// Limiter is the same token buckets without the rest, for any server that
// must bound what strangers make it do (dgram/seal uses one for the key
// derivations of new sessions).
package guard

import (
	"hash/maphash"
	"net/netip"
	"time"

	"github.com/udpchat/udpchat/dgram/internal/lru"
)

// Verdict is the guard's decision about one reply.
type Verdict uint8

// Verdicts. Allow lets the reply go; the others say why it did not.
const (
	Allow       Verdict = iota
	PortZero            // the source port is 0
	BlockedPort         // the source port is a blocked well-known port
	SourceRate          // the source address used up its bucket
	TotalRate           // the global bucket is empty
	Loop                // the source keeps sending back what we answered
	NumVerdicts         // the number of Verdict values
)

var verdictNames = [NumVerdicts]string{"allowed", "port zero", "blocked port", "source rate", "total rate", "loop"}

// String returns the verdict as shown to users ("source rate").
func (v Verdict) String() string {
	if v < NumVerdicts {
		return verdictNames[v]
	}
	return "unknown"
}

// Key returns the verdict as a JSON object key ("source_rate").
func (v Verdict) Key() string {
	switch v {
	case PortZero:
		return "port_zero"
	case BlockedPort:
		return "blocked_port"
	case SourceRate:
		return "source_rate"
	case TotalRate:
		return "total_rate"
	}
	return v.String()
}

// DefaultBlockedPorts are the source ports never answered by default: the
// well-known UDP services that reflect or amplify.
var DefaultBlockedPorts = []uint16{7, 19, 53, 123, 1900, 11211}

// Defaults.
const (
	DefaultPerSource  = 2000                   // replies per second per source address
	DefaultTotal      = 10_000                 // replies per second in all
	DefaultMaxSources = 16384                  // addresses with a bucket
	DefaultLoopLimit  = 256                    // quick identical bounces in a row before a source counts as a reflector
	DefaultLoopGap    = 500 * time.Microsecond // a bounce this soon after our reply is our reply coming back
)

// Config sets the guard's limits. The zero value of a field means its
// default; a negative rate means no limit.
type Config struct {
	PerSource  float64       // replies per second per source address; burst is one second's worth
	Total      float64       // replies per second in all; burst is one second's worth
	Blocked    []uint16      // source ports never answered (nil: DefaultBlockedPorts; empty, non-nil: none)
	MaxSources int           // bound of the per-address table
	LoopLimit  int           // quick identical bounces in a row before Loop
	LoopGap    time.Duration // how soon after our reply a bounce counts as quick
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// take refills b at rate up to burst since its last use and takes one
// token if there is one.
func (b *bucket) take(now time.Time, rate float64) bool {
	if rate < 0 {
		return true
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(rate, b.tokens+d.Seconds()*rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// has refills b like take and reports whether it holds a token, without
// taking it.
func (b *bucket) has(now time.Time, rate float64) bool {
	if rate < 0 {
		return true
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(rate, b.tokens+d.Seconds()*rate)
		b.last = now
	}
	return b.tokens >= 1
}

// entry is what a table remembers about one address: its bucket and v.
type entry[T any] struct {
	addr   netip.Addr
	bucket bucket
	v      T
}

// table is a bounded map from addresses to entries, least recently used
// out.
type table[T any] struct {
	m       map[netip.Addr]*lru.Node[entry[T]]
	lru     lru.List[entry[T]] // most recently used first
	max     int
	evicted uint64
}

func newTable[T any](max int) table[T] {
	return table[T]{m: make(map[netip.Addr]*lru.Node[entry[T]]), max: max}
}

// get returns addr's entry, making room if needed; a new entry's bucket
// holds fill tokens.
func (t *table[T]) get(addr netip.Addr, now time.Time, fill float64) *entry[T] {
	if n := t.m[addr]; n != nil {
		t.lru.MoveToFront(n)
		return &n.Value
	}
	var n *lru.Node[entry[T]]
	if len(t.m) >= t.max {
		n = t.lru.Back() // reuse the least recently used entry
		t.lru.Remove(n)
		delete(t.m, n.Value.addr)
		t.evicted++
	} else {
		n = new(lru.Node[entry[T]])
	}
	n.Value = entry[T]{addr: addr, bucket: bucket{tokens: max(fill, 0), last: now}}
	t.m[addr] = n
	t.lru.PushFront(n)
	return &n.Value
}

// loopState is what the guard remembers of its last reply to an address.
type loopState struct {
	lastPort  uint16    // the port we last answered
	lastHash  uint64    // the payload we last answered
	lastReply time.Time // when
	streak    int       // quick bounces of our last answer in a row
	refused   bool      // the last datagram from lastPort was refused as a loop
	client    uint16    // a port that proved to be a client, not a reflector (0: none)
}

// Guard decides which replies may go. It is not safe for concurrent use.
type Guard struct {
	cfg     Config
	blocked map[uint16]bool
	seed    maphash.Seed
	total   bucket
	sources table[loopState]

	counts [NumVerdicts]uint64
}

// New returns a Guard with cfg's limits.
func New(cfg Config) *Guard {
	if cfg.PerSource == 0 {
		cfg.PerSource = DefaultPerSource
	}
	if cfg.Total == 0 {
		cfg.Total = DefaultTotal
	}
	if cfg.Blocked == nil {
		cfg.Blocked = DefaultBlockedPorts
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	if cfg.LoopLimit <= 0 {
		cfg.LoopLimit = DefaultLoopLimit
	}
	if cfg.LoopGap <= 0 {
		cfg.LoopGap = DefaultLoopGap
	}
	g := &Guard{cfg: cfg, blocked: make(map[uint16]bool), seed: maphash.MakeSeed(), sources: newTable[loopState](cfg.MaxSources)}
	for _, p := range cfg.Blocked {
		g.blocked[p] = true
	}
	g.total.tokens = max(cfg.Total, 0)
	return g
}

// Config returns the guard's settings, defaults filled in.
func (g *Guard) Config() Config { return g.cfg }

// Check decides whether payload, just received from src, may be answered
// at time now, and counts the verdict. A reply that is allowed is assumed
// sent at now: the next datagram from src that equals it, if it comes
// within LoopGap, counts towards Loop.
func (g *Guard) Check(src netip.AddrPort, payload []byte, now time.Time) Verdict {
	v := g.check(src, payload, now)
	g.counts[v]++
	return v
}

func (g *Guard) check(src netip.AddrPort, payload []byte, now time.Time) Verdict {
	port := src.Port()
	if port == 0 {
		return PortZero
	}
	if g.blocked[port] {
		return BlockedPort
	}
	e := g.sources.get(src.Addr().Unmap(), now, g.cfg.PerSource)
	s := &e.v
	h := maphash.Bytes(g.seed, payload)
	switch {
	case s.client == port:
	case s.lastPort == port && s.refused:
		// A loop dies when we refuse its datagram; this port sent again:
		// a client that repeats itself.
		s.client, s.refused, s.streak = port, false, 0
	case s.lastPort == port && s.lastHash == h && now.Sub(s.lastReply) < g.cfg.LoopGap:
		// our own reply, back at once
		s.streak++
		if s.streak >= g.cfg.LoopLimit {
			s.refused = true
			return Loop
		}
	default:
		s.streak = 0
	}
	if !e.bucket.take(now, g.cfg.PerSource) {
		return SourceRate
	}
	if !g.total.take(now, g.cfg.Total) {
		return TotalRate
	}
	s.lastPort, s.lastHash, s.lastReply = port, h, now
	return Allow
}

// Counts returns how many datagrams got each verdict.
func (g *Guard) Counts() [NumVerdicts]uint64 { return g.counts }

// Suppressed is the number of replies refused, for any reason.
func (g *Guard) Suppressed() uint64 {
	var n uint64
	for _, c := range g.counts[1:] {
		n += c
	}
	return n
}

// Sources is the number of addresses in the table; Evicted how many were
// forgotten to make room.
func (g *Guard) Sources() int { return len(g.sources.m) }

// Evicted is the number of addresses forgotten to keep the table bounded.
func (g *Guard) Evicted() uint64 { return g.sources.evicted }
