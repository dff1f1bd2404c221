package netem

import (
	"math"
	"math/rand/v2"
	"time"
)

// Cause says why a datagram was dropped.
type Cause uint8

// Drop causes.
const (
	NoCause     Cause = iota
	CauseLoss         // random independent loss
	CauseBurst        // Gilbert-Elliott burst loss
	CauseScript       // a scripted drop
	CauseQueue        // the rate limiter's queue was full (tail drop)
	CauseLimit        // the link held Limit datagrams or LimitBytes already
	CauseHeld         // the proxy held ProxyConfig.MaxHeldBytes already, over all its clients
)

var causeNames = [...]string{"", "loss", "burst", "script", "queue", "limit", "held"}

// String returns "loss", "burst", "script", "queue", "limit" or "held".
func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "unknown"
}

// Decision is what the model decided for one datagram.
type Decision struct {
	Index   uint64        // the datagram's number, from 1
	Size    int           // its size in bytes
	Drop    bool          // dropped (Cause says why)
	Cause   Cause         //
	Dup     bool          // sent twice
	Corrupt bool          // one bit flipped: Bit
	Bit     int           //
	Delay   time.Duration // held this long (delay, jitter and scripted delay)
	Hold    bool          // held back for reordering
	Swap    bool          // held back by the script until the next datagram passes
}

// Model draws the decisions for one direction of a link from a seeded
// PRNG (PCG from math/rand/v2). Every datagram consumes the same draws in
// the same order, whatever is decided:
//
//  1. loss: one uniform draw, against Loss or the Gilbert-Elliott state's
//     loss probability (then one more draw moves the state);
//  2. duplication: one uniform draw against Dup;
//  3. corruption: one uniform draw against Corrupt and one 64-bit draw for
//     the bit;
//  4. jitter: two uniform draws (Box-Muller for normal jitter);
//  5. reordering: one uniform draw against Reorder.
//
// So the same seed and the same sequence of datagram sizes give the same
// decisions, whatever the timing; and a datagram's decisions do not
// depend on what was decided for the ones before it (except through the
// Gilbert-Elliott state). A Model does no I/O and reads no clock.
type Model struct {
	cfg   Config
	rng   *rand.Rand
	bad   bool // Gilbert-Elliott state
	index uint64
}

// NewModel returns a Model for cfg whose PRNG is seeded with (seed,
// stream): use one stream per direction (and per proxy client) so that
// each draws its own sequence.
func NewModel(cfg Config, seed, stream uint64) *Model {
	return &Model{cfg: cfg.WithDefaults(), rng: rand.New(rand.NewPCG(seed, stream))}
}

// Config returns the model's configuration (with defaults).
func (m *Model) Config() Config { return m.cfg }

// Decide decides the fate of the next datagram, of size bytes.
func (m *Model) Decide(size int) Decision {
	m.index++
	d := Decision{Index: m.index, Size: size}
	c := &m.cfg

	// 1. loss
	uLoss, uState := m.rng.Float64(), m.rng.Float64()
	if g := c.GE; g != nil {
		p := g.LossGood
		if m.bad {
			p = g.LossBad
		}
		if uLoss < p {
			d.Drop, d.Cause = true, CauseBurst
		}
		if m.bad {
			m.bad = uState >= g.R
		} else {
			m.bad = uState < g.P
		}
	} else if uLoss < c.Loss {
		d.Drop, d.Cause = true, CauseLoss
	}
	// 2. duplication
	d.Dup = m.rng.Float64() < c.Dup
	// 3. corruption
	uCorrupt, bit := m.rng.Float64(), m.rng.Uint64()
	if uCorrupt < c.Corrupt && size > 0 {
		d.Corrupt, d.Bit = true, int(bit%uint64(size*8))
	}
	// 4. delay and jitter
	u1, u2 := m.rng.Float64(), m.rng.Float64()
	delay := float64(c.Delay)
	if c.Jitter > 0 {
		switch c.JitterDist {
		case Normal:
			z := math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
			delay += z * float64(c.Jitter)
		default:
			delay += (2*u1 - 1) * float64(c.Jitter)
		}
	}
	d.Delay = time.Duration(max(delay, 0))
	// 5. reordering
	d.Hold = m.rng.Float64() < c.Reorder

	if s := c.Script; s != nil {
		i := d.Index
		if s.drop[i] {
			d.Drop, d.Cause = true, CauseScript
		}
		if s.dup[i] {
			d.Dup = true
		}
		if s.corrupt[i] && size > 0 && !d.Corrupt {
			d.Corrupt, d.Bit = true, int(bit%uint64(size*8))
		}
		if s.swap[i] {
			d.Swap = true
		}
		d.Delay += s.delay[i]
	}
	if d.Drop {
		d.Dup, d.Corrupt, d.Hold, d.Swap, d.Bit = false, false, false, false, 0
	}
	return d
}
