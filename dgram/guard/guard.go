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
//   - loops: a source that sends back, LoopLimit times in a row, exactly
//     what we last answered it is another reflector, so we stop.
//
// The table of per-address buckets is bounded; when it is full the least
// recently used address is forgotten (and starts again with a full bucket
// if it comes back: the global bucket still holds).
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
	DefaultPerSource  = 100    // replies per second per source address
	DefaultTotal      = 10_000 // replies per second in all
	DefaultMaxSources = 16384  // addresses with a bucket
	DefaultLoopLimit  = 256    // identical bounces before a source counts as a reflector
)

// Config sets the guard's limits. The zero value of a field means its
// default; a negative rate means no limit.
type Config struct {
	PerSource  float64  // replies per second per source address; burst is one second's worth
	Total      float64  // replies per second in all; burst is one second's worth
	Blocked    []uint16 // source ports never answered (nil: DefaultBlockedPorts; empty, non-nil: none)
	MaxSources int      // bound of the per-address table
	LoopLimit  int      // identical bounces before Loop
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

// source is what the guard remembers about one address.
type source struct {
	addr     netip.Addr
	bucket   bucket
	lastPort uint16 // the port we last answered
	lastHash uint64 // the payload we last answered
	streak   int    // consecutive datagrams that were our last answer, sent back
}

// Guard decides which replies may go. It is not safe for concurrent use.
type Guard struct {
	cfg     Config
	blocked map[uint16]bool
	seed    maphash.Seed
	total   bucket

	sources map[netip.Addr]*lru.Node[source]
	lru     lru.List[source] // most recently used first

	counts  [NumVerdicts]uint64
	evicted uint64
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
	g := &Guard{cfg: cfg, blocked: make(map[uint16]bool), seed: maphash.MakeSeed(), sources: make(map[netip.Addr]*lru.Node[source])}
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
// sent: the next datagram from src that equals it counts towards Loop.
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
	addr := src.Addr().Unmap()
	s := g.source(addr, now)
	h := maphash.Bytes(g.seed, payload)
	if s.lastPort == port && s.lastHash == h {
		s.streak++
		if s.streak >= g.cfg.LoopLimit {
			return Loop
		}
	} else {
		s.streak = 0
	}
	if !s.bucket.take(now, g.cfg.PerSource) {
		return SourceRate
	}
	if !g.total.take(now, g.cfg.Total) {
		return TotalRate
	}
	s.lastPort, s.lastHash = port, h
	return Allow
}

// source returns addr's entry, making room in the table if needed.
func (g *Guard) source(addr netip.Addr, now time.Time) *source {
	if n := g.sources[addr]; n != nil {
		g.lru.MoveToFront(n)
		return &n.Value
	}
	var n *lru.Node[source]
	if len(g.sources) >= g.cfg.MaxSources {
		n = g.lru.Back() // reuse the least recently used entry
		g.lru.Remove(n)
		delete(g.sources, n.Value.addr)
		g.evicted++
	} else {
		n = new(lru.Node[source])
	}
	n.Value = source{addr: addr, bucket: bucket{tokens: max(g.cfg.PerSource, 0), last: now}}
	g.sources[addr] = n
	g.lru.PushFront(n)
	return &n.Value
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
func (g *Guard) Sources() int { return len(g.sources) }

// Evicted is the number of addresses forgotten to keep the table bounded.
func (g *Guard) Evicted() uint64 { return g.evicted }
