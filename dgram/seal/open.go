package seal

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"net/netip"
	"time"

	"github.com/udpchat/udpchat/dgram/guard"
	"github.com/udpchat/udpchat/dgram/internal/lru"
)

// Cause says why an Opener rejected a datagram.
type Cause uint8

// Causes of rejection. None means the datagram was accepted.
const (
	None           Cause = iota
	Unsealed             // not a sealed datagram
	BadTag               // authentication failed: wrong key, tampered, truncated
	Replay               // a seq already accepted, or one of our own sessions reflected
	Stale                // older than the anti-replay window
	UnknownSession       // a new session sent before this receiver (or its table) knew it: a replay it cannot check
	Throttled            // a new session from an address (or a world) that started too many: not checked
	NumCauses            // the number of Cause values
)

var causeNames = [NumCauses]string{"", "unsealed", "bad tag", "replay", "stale", "unknown session", "throttled"}

// String returns the cause as shown to users and in JSON ("bad tag").
func (c Cause) String() string {
	if c < NumCauses {
		return causeNames[c]
	}
	return "unknown"
}

// Key returns the cause as a JSON object key ("bad_tag").
func (c Cause) Key() string {
	switch c {
	case BadTag:
		return "bad_tag"
	case UnknownSession:
		return "unknown_session"
	}
	return c.String()
}

// Rejections counts rejected datagrams by cause; index None is unused.
type Rejections [NumCauses]uint64

// Total is the number of rejected datagrams.
func (r Rejections) Total() uint64 {
	var n uint64
	for _, v := range r[1:] {
		n += v
	}
	return n
}

// Map returns the non-zero counts keyed by Cause.Key, for JSON; every
// cause appears when all is true.
func (r Rejections) Map(all bool) map[string]uint64 {
	m := make(map[string]uint64, NumCauses)
	for c := Unsealed; c < NumCauses; c++ {
		if all || r[c] > 0 {
			m[c.Key()] = r[c]
		}
	}
	return m
}

// Window is the anti-replay window: how many seq numbers below the highest
// accepted one a session still accepts (once each).
const Window = 2048

// window is an RFC 6479 style bitmap of the last Window seq numbers.
type window struct {
	top  uint64 // highest accepted seq + 1; 0: none yet
	bits [Window / 64]uint64
}

// check classifies seq n without changing anything.
func (w *window) check(n uint64) Cause {
	if n >= w.top {
		return None
	}
	if w.top-n > Window {
		return Stale
	}
	i := n % Window
	if w.bits[i/64]&(1<<(i%64)) != 0 {
		return Replay
	}
	return None
}

// accept records n, which check passed.
func (w *window) accept(n uint64) {
	if n >= w.top {
		if n-w.top >= Window {
			w.bits = [Window / 64]uint64{}
		} else {
			for i := w.top; i < n; {
				j := i % Window
				if j%64 == 0 && n-i >= 64 {
					w.bits[j/64] = 0
					i += 64
					continue
				}
				w.bits[j/64] &^= 1 << (j % 64)
				i++
			}
		}
		w.top = n + 1
	}
	i := n % Window
	w.bits[i/64] |= 1 << (i % 64)
}

// session is one sender session the Opener knows.
type session struct {
	id       uint64
	aead     cipher.AEAD
	win      window
	lastSent int64
}

// Config tunes an Opener. The zero value is the default.
type Config struct {
	// MaxSessions bounds the session table (default DefaultMaxSessions).
	MaxSessions int
	// NewSessionRate and NewSessionTotal bound the key derivations a
	// datagram of a session the Opener does not know costs, per source
	// address and in all, per second (token buckets, a burst of one
	// second's worth; defaults DefaultNewSessionRate and
	// DefaultNewSessionTotal; negative: no limit). Past them, such a
	// datagram is rejected as Throttled without being checked. Sessions
	// already known are never limited.
	NewSessionRate, NewSessionTotal float64
	// MaxPeers bounds the table of per-address counts (default
	// DefaultMaxPeers); addresses past it are counted only in the totals.
	MaxPeers int
	// Start is the earliest send time a new session's datagram may carry
	// (default: when the Opener was made). Older ones are UnknownSession.
	Start time.Time
}

// Table bounds and rates.
const (
	DefaultMaxSessions     = 4096
	DefaultMaxPeers        = 4096
	DefaultNewSessionRate  = 50   // new-session key derivations per second per source address
	DefaultNewSessionTotal = 2000 // new-session key derivations per second in all
)

// PeerStats is what an Opener counted for one sender address that has
// authenticated at least once.
type PeerStats struct {
	Accepted uint64
	Rejected Rejections
}

// Opener checks and opens sealed datagrams. It is not safe for concurrent
// use.
type Opener struct {
	key   *Key
	cfg   Config
	floor int64 // earliest send time for a new session
	mac   hash.Hash
	limit *guard.Limiter
	now   func() time.Time

	sessions map[uint64]*lru.Node[session]
	lru      lru.List[session] // most recently used first
	own      []uint64

	peers map[netip.AddrPort]*PeerStats

	accepted uint64
	rejected Rejections
	evicted  uint64
	nonce    [12]byte
}

// NewOpener returns an Opener for datagrams sealed under k.
func (k *Key) NewOpener(cfg Config) *Opener {
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = DefaultMaxPeers
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	if cfg.NewSessionRate == 0 {
		cfg.NewSessionRate = DefaultNewSessionRate
	}
	if cfg.NewSessionTotal == 0 {
		cfg.NewSessionTotal = DefaultNewSessionTotal
	}
	return &Opener{key: k, cfg: cfg, floor: cfg.Start.UnixNano(), mac: hmac.New(sha256.New, k.prk), now: time.Now,
		limit:    guard.NewLimiter(guard.LimiterConfig{PerSource: cfg.NewSessionRate, Total: cfg.NewSessionTotal}),
		sessions: make(map[uint64]*lru.Node[session]), peers: make(map[netip.AddrPort]*PeerStats)}
}

// Ignore makes the Opener reject datagrams of session id as replays: an
// endpoint passes its own Sealer's session, so that what it sent, reflected
// back at it, is not taken for the peer's.
func (o *Opener) Ignore(id uint64) { o.own = append(o.own, id) }

// Open checks datagram b from the address from and, when it is authentic
// and new, appends its plaintext to dst and returns it with None. Otherwise
// it returns dst unchanged and the cause, counted. To open in place, pass
// b[HeaderLen:HeaderLen] as dst (b is then overwritten).
//
// A datagram of a session the Opener does not know costs a key
// derivation; it is rejected before that work when its send time is
// before the Opener started (UnknownSession) or when its source address,
// or all sources together, started too many sessions (Throttled). Nothing
// is kept for such a session until one of its datagrams authenticates.
func (o *Opener) Open(dst []byte, from netip.AddrPort, b []byte) ([]byte, Header, Cause) {
	h, ok := ParseHeader(b)
	if !ok {
		return dst, h, o.reject(from, Unsealed)
	}
	for _, id := range o.own {
		if id == h.Session {
			return dst, h, o.reject(from, Replay)
		}
	}
	node := o.sessions[h.Session]
	var s *session
	a := (cipher.AEAD)(nil)
	if node != nil {
		s = &node.Value
		a = s.aead
	} else {
		if h.Sent < o.floor {
			// Whether authentic or not, it would be refused: spare the work.
			return dst, h, o.reject(from, UnknownSession)
		}
		if o.limit.Allow(from.Addr(), o.now()) != guard.Allow {
			return dst, h, o.reject(from, Throttled)
		}
		var err error
		if a, err = o.key.sessionAEAD(o.mac, h.Session); err != nil {
			return dst, h, o.reject(from, BadTag)
		}
	}
	o.nonce = nonce(h.Seq)
	out, err := a.Open(dst, o.nonce[:], b[HeaderLen:], b[:HeaderLen])
	if err != nil {
		return dst, h, o.reject(from, BadTag)
	}
	if s != nil {
		if c := s.win.check(h.Seq); c != None {
			return dst, h, o.reject(from, c)
		}
		o.lru.MoveToFront(node)
	} else {
		s = o.insert(h.Session, a)
	}
	s.win.accept(h.Seq)
	s.lastSent = max(s.lastSent, h.Sent)
	o.accepted++
	if p := o.peer(from, true); p != nil {
		p.Accepted++
	}
	return out, h, None
}

func (o *Opener) reject(from netip.AddrPort, c Cause) Cause {
	o.rejected[c]++
	if p := o.peer(from, false); p != nil {
		p.Rejected[c]++
	}
	return c
}

// peer returns the counts of from; add creates them (table permitting).
func (o *Opener) peer(from netip.AddrPort, add bool) *PeerStats {
	p := o.peers[from]
	if p == nil && add && len(o.peers) < o.cfg.MaxPeers {
		p = &PeerStats{}
		o.peers[from] = p
	}
	return p
}

// insert adds a session, evicting the least recently used one if the
// table is full.
func (o *Opener) insert(id uint64, a cipher.AEAD) *session {
	var node *lru.Node[session]
	if len(o.sessions) >= o.cfg.MaxSessions {
		node = o.lru.Back()
		o.lru.Remove(node)
		delete(o.sessions, node.Value.id)
		o.evicted++
		// Replays of the forgotten session can no longer be recognised:
		// from now on, new sessions must be newer than its last datagram.
		o.floor = max(o.floor, node.Value.lastSent)
	} else {
		node = new(lru.Node[session])
	}
	node.Value = session{id: id, aead: a}
	o.sessions[id] = node
	o.lru.PushFront(node)
	return &node.Value
}

// Accepted is the number of datagrams opened.
func (o *Opener) Accepted() uint64 { return o.accepted }

// Rejected returns the rejection counts over all senders.
func (o *Opener) Rejected() Rejections { return o.rejected }

// Peer returns the counts of one sender address; ok is false unless it has
// authenticated at least once (rejections from addresses that never did are
// only in the totals).
func (o *Opener) Peer(from netip.AddrPort) (PeerStats, bool) {
	if p := o.peers[from]; p != nil {
		return *p, true
	}
	return PeerStats{}, false
}

// Sessions is the number of sessions in the table.
func (o *Opener) Sessions() int { return len(o.sessions) }

// Evicted is the number of sessions dropped from the full table.
func (o *Opener) Evicted() uint64 { return o.evicted }
