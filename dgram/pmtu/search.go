package pmtu

import (
	"errors"
	"fmt"
	"slices"
)

// Header overheads: the IP and UDP headers around a UDP payload.
const (
	Overhead4 = 20 + 8 // IPv4 header without options, UDP header
	Overhead6 = 40 + 8 // IPv6 header without extensions, UDP header
)

// Sizes of RFC 8899 and the IP specifications, in bytes of IP packet.
const (
	// Base4 is the first size probed over IPv4: RFC 8899's recommended
	// BASE_PLPMTU, which nearly every path carries.
	Base4 = 1200
	// Base6 is the first size probed over IPv6: its minimum link MTU
	// (RFC 8200), which every IPv6 path must carry.
	Base6 = 1280
	// Min4 is the smallest MTU an IPv4 path may have (RFC 791): the
	// search falls back to it when the base size gets no echo.
	Min4 = 68
	// Min6 is IPv6's minimum link MTU.
	Min6 = 1280
	// Max4 is the largest IPv4 packet (the 16-bit total length).
	Max4 = 65535
	// Max6 is the largest IPv6 packet without jumbograms: a 65535-byte
	// payload after the 40-byte header.
	Max6 = 65535 + 40
	// DefaultTries is RFC 8899's MAX_PROBES: a size is taken to be too
	// big after this many probes of it went unanswered.
	DefaultTries = 3
)

// Plateaus are MTUs common on real paths, tried before plain bisection
// so that a typical path is found in few probes (RFC 1191 section 7
// lists the plateaus of its time; these are today's): jumbo frames,
// Ethernet, PPPoE, tunnels (IPsec, VXLAN, WireGuard, GRE), IPv6's minimum.
var Plateaus = []int{9000, 1500, 1492, 1480, 1450, 1420, 1400, 1380, 1280, 1006, 576, 296}

// Config configures a Search. Sizes are IP packet sizes, headers
// included, as an MTU is.
type Config struct {
	// IPv6 selects IPv6's sizes (Base6, Min6) and overhead.
	IPv6 bool
	// Base is the first size probed (default Base4 or Base6).
	Base int
	// Min is the size tried when Base gets no echo (default Min4 or Min6).
	Min int
	// Max is the largest size to consider: the local route's MTU, or what
	// the caller will ever send (default and limit Max4 or Max6).
	Max int
	// Tries is how many unanswered probes make a size too big (default
	// DefaultTries).
	Tries int
	// Plateaus are sizes preferred as probe points (default Plateaus).
	Plateaus []int
}

// Overhead returns the IP and UDP header bytes around a payload.
func (c Config) Overhead() int {
	if c.IPv6 {
		return Overhead6
	}
	return Overhead4
}

// withDefaults fills in the zero fields.
func (c Config) withDefaults() Config {
	limit, base, low := Max4, Base4, Min4
	if c.IPv6 {
		limit, base, low = Max6, Base6, Min6
	}
	if c.Max <= 0 || c.Max > limit {
		c.Max = limit
	}
	if c.Min <= 0 {
		c.Min = low
	}
	if c.Base <= 0 {
		c.Base = base
	}
	c.Base = min(c.Base, c.Max)
	c.Min = min(c.Min, c.Base)
	if c.Tries <= 0 {
		c.Tries = DefaultTries
	}
	if c.Plateaus == nil {
		c.Plateaus = Plateaus
	}
	return c
}

// validate checks a configuration after defaults.
func (c Config) validate() error {
	if c.Min < c.Overhead()+1 {
		return fmt.Errorf("pmtu: Min %d leaves no room for a payload after %d bytes of headers", c.Min, c.Overhead())
	}
	if c.Tries > 100 {
		return fmt.Errorf("pmtu: Tries %d is more than 100", c.Tries)
	}
	return nil
}

// Bound says how the search learned that one byte more does not pass.
type Bound uint8

// Bounds.
const (
	BoundNone  Bound = iota // the search is not complete
	BoundRoute              // the local route's MTU (Config.Max): nothing larger can be sent
	BoundICMP               // the network said so (ICMP fragmentation needed / packet too big)
	BoundLost               // probes one byte larger went unanswered Config.Tries times
)

// String returns "route", "icmp", "lost" or "none".
func (b Bound) String() string {
	switch b {
	case BoundRoute:
		return "route"
	case BoundICMP:
		return "icmp"
	case BoundLost:
		return "lost"
	}
	return "none"
}

// ErrNoEcho is the error when not even the smallest probe was echoed: no
// echo server answers at the destination, or the path carries nothing.
var ErrNoEcho = errors.New("pmtu: no probe was echoed")

// Search is the probing logic of DPLPMTUD (RFC 8899) as a pure state
// machine: it chooses the size of each probe and learns from what
// happened to it, and does no I/O and reads no clock, so a test can drive
// it probe by probe. The driver (Run) sends what Next asks, waits, and
// reports Acked (the probe's echo came back), Lost (no echo within the
// probe timer) or TooBig (an ICMP message, or the local stack, said the
// packet is too big, with the MTU it gave).
//
// The search confirms Base first (falling back to Min), then tries Max
// (most paths carry the first hop's MTU); then it bisects the interval
// between the largest size confirmed and the smallest size known to fail,
// preferring a plateau near the middle. After confirming a size an ICMP
// message named, or the largest plateau in the interval, it probes the
// size one byte above, which ends the search at once when it fails. A size fails after Tries
// unanswered probes or one TooBig. An echo that comes late still
// confirms its size. The search ends when the largest confirmed size and
// the smallest failed size are one byte apart, or when the largest size
// is confirmed.
type Search struct {
	cfg     Config
	lo      int   // largest size confirmed; 0 until one is
	failed  []int // sizes that failed, ascending; bounded by the distinct sizes probed
	bounds  map[int]Bound
	current int // the size being probed, 0 when a new one is due
	tries   int // unanswered probes of current so far
	hint    int // a size an ICMP message named, to probe next
	edge    int // one above a hint (an MTU an ICMP message named): the size to probe after it
	probes  int
	baseOut bool // Base failed: fall back to Min
	noEcho  bool // Min failed too
}

// NewSearch returns a Search for cfg.
func NewSearch(cfg Config) (*Search, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Search{cfg: cfg, bounds: map[int]Bound{}}, nil
}

// Config returns the configuration with its defaults.
func (s *Search) Config() Config { return s.cfg }

// hi is the smallest size known not to pass: the smallest failed size
// above lo, or Max+1.
func (s *Search) hi() int {
	for _, f := range s.failed {
		if f > s.lo {
			return f
		}
	}
	return s.cfg.Max + 1
}

// Done reports whether the search is over: complete, or failed because
// nothing was echoed.
func (s *Search) Done() bool {
	return s.noEcho || s.lo > 0 && s.hi() == s.lo+1
}

// Next returns the size of the next probe to send, and false when the
// search is over. It returns the same size again while a size has tries
// left.
func (s *Search) Next() (int, bool) {
	if s.Done() {
		return 0, false
	}
	if s.current == 0 {
		s.current = s.choose()
		s.tries = 0
	}
	s.probes++
	return s.current, true
}

func (s *Search) choose() int {
	lo, hi := s.lo, s.hi()
	switch {
	case lo == 0 && !s.baseOut:
		return s.cfg.Base
	case lo == 0:
		return s.cfg.Min
	case s.hint > lo && s.hint < hi:
		h := s.hint
		s.hint = 0
		s.edge = h + 1
		return h
	case s.edge == lo+1 && s.edge < hi:
		s.edge = 0
		return lo + 1
	case hi == s.cfg.Max+1 && !s.tried(s.cfg.Max):
		return s.cfg.Max
	}
	s.edge = 0
	mid := lo + (hi-lo)/2
	best := 0
	for _, p := range s.cfg.Plateaus {
		if p > lo && p < hi && (best == 0 || abs(p-mid) < abs(best-mid)) {
			best = p
		}
	}
	switch {
	case best != 0:
		return best
	case slices.Contains(s.cfg.Plateaus, lo) && lo+1 < hi:
		return lo + 1 // the largest plateau passed: is it the edge?
	}
	return mid
}

func (s *Search) tried(size int) bool {
	_, failed := s.bounds[size]
	return failed || size <= s.lo
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Acked records that a probe of size was echoed (late echoes of earlier
// probes too: any echo proves its size passes).
func (s *Search) Acked(size int) {
	if size <= 0 {
		return
	}
	if size > s.lo {
		s.lo = size
		if s.edge != size+1 {
			s.edge = 0
		}
		// a size confirmed above one taken for failed: that failure was
		// loss, not size
		s.failed = slices.DeleteFunc(s.failed, func(f int) bool {
			if f <= size {
				delete(s.bounds, f)
				return true
			}
			return false
		})
	}
	if size == s.current {
		s.current = 0
	}
	if size == s.cfg.Base || size == s.cfg.Min {
		s.baseOut = false
	}
}

// Lost records that the probe of size sent last got no echo in time.
func (s *Search) Lost(size int) {
	if size != s.current || size == 0 {
		return
	}
	s.tries++
	if s.tries < s.cfg.Tries {
		return // probe it again
	}
	s.fail(size, BoundLost)
}

// TooBig records that a probe of size was refused as too big, by the
// network (an ICMP message) or the local stack, which said the path
// carries mtu bytes (0 when it did not say). An mtu between the largest
// confirmed size and size is probed next (RFC 8899 section 4.6.2), then
// the size one byte above it; an mtu equal to the largest confirmed size
// has the byte above probed next. Other values are ignored, as is a size
// already confirmed.
func (s *Search) TooBig(size, mtu int) {
	if size <= s.lo || size <= 0 {
		return
	}
	s.fail(size, BoundICMP)
	switch {
	case mtu > s.lo && mtu < size && mtu >= s.cfg.Min:
		s.hint = mtu
	case mtu == s.lo && mtu < size:
		s.edge = mtu + 1 // the size confirmed is what the router names: check the byte above
	}
}

func (s *Search) fail(size int, b Bound) {
	if _, ok := s.bounds[size]; !ok {
		i, _ := slices.BinarySearch(s.failed, size)
		s.failed = slices.Insert(s.failed, i, size)
	}
	if old, ok := s.bounds[size]; !ok || old != BoundICMP {
		s.bounds[size] = b
	}
	if size == s.current {
		s.current = 0
	}
	if s.lo == 0 {
		switch size {
		case s.cfg.Base:
			s.baseOut = true
		case s.cfg.Min:
			if s.cfg.Min < s.cfg.Base || s.baseOut {
				s.noEcho = true
			}
		}
		if s.cfg.Min == s.cfg.Base && size == s.cfg.Base {
			s.noEcho = true
		}
	}
}

// Result is what a search found.
type Result struct {
	// PathMTU is the largest IP packet confirmed to cross the path; 0 if
	// none was.
	PathMTU int
	// MaxPayload is the UDP payload of such a packet: PathMTU minus the
	// IP and UDP headers.
	MaxPayload int
	// Probes counts the probes sent, retries included.
	Probes int
	// Complete reports that PathMTU+1 is known not to pass (or PathMTU
	// is the largest size considered).
	Complete bool
	// Bound says how the size above PathMTU was found too big.
	Bound Bound
}

// Result returns what the search has found so far.
func (s *Search) Result() Result {
	r := Result{PathMTU: s.lo, Probes: s.probes}
	if s.lo > 0 {
		r.MaxPayload = s.lo - s.cfg.Overhead()
		hi := s.hi()
		r.Complete = hi == s.lo+1
		if r.Complete {
			r.Bound = BoundRoute
			if b, ok := s.bounds[hi]; ok {
				r.Bound = b
			}
		}
	}
	return r
}
