package netem

import (
	"net/netip"
	"time"
)

// Sim runs one direction of an impaired link in virtual time: datagrams
// go in with a virtual send time, and come out in the order, and at the
// virtual times, the link releases them. Nothing depends on the real
// clock, so the same seed and input always give the same output, timing
// included; demos and tests use it to know exactly what a link did.
type Sim struct {
	l     *Link
	s     *Scheduler
	c     Counters
	out   simOut
	clock time.Time
}

type simOut struct {
	f  func(b []byte, at time.Time)
	at *time.Time
}

func (o *simOut) send(items []*item) {
	for _, it := range items {
		o.f(it.buf, *o.at)
	}
}

// NewSim returns a Sim for cfg seeded with seed (stream 0), logging to
// log when it is not nil, calling release with every datagram that leaves
// the link: b is only valid during the call.
func NewSim(cfg Config, seed uint64, log *Logger, release func(b []byte, at time.Time)) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sim := &Sim{s: NewScheduler()}
	sim.out = simOut{f: release, at: &sim.clock}
	sim.l = newLink("sim", "", cfg, seed, 0, &sim.c, sim.s, &sim.out, log)
	sim.l.pass = false // count and log every decision
	return sim, nil
}

// Send puts datagram b into the link at virtual time at (not before the
// previous Send), first releasing everything due by then.
func (sim *Sim) Send(at time.Time, b []byte) {
	sim.Advance(at)
	if sim.l.timed() {
		sim.l.push(at, b, netip.AddrPort{})
		sim.Advance(at)
		return
	}
	buf := append([]byte(nil), b...)
	for range sim.l.filter(buf) {
		sim.out.f(buf, at)
	}
}

// Advance releases, in order, every datagram due by virtual time t.
func (sim *Sim) Advance(t time.Time) {
	for {
		at, ok := sim.s.next()
		if !ok || at.After(t) {
			break
		}
		if at.After(sim.clock) {
			sim.clock = at
		}
		sim.s.release(sim.clock)
	}
	if t.After(sim.clock) {
		sim.clock = t
	}
}

// Drain releases everything still held, however far in the future, and
// returns the virtual time of the last release.
func (sim *Sim) Drain() time.Time {
	for {
		at, ok := sim.s.next()
		if !ok {
			return sim.clock
		}
		sim.Advance(at)
	}
}

// Counters returns what the link did so far.
func (sim *Sim) Counters() Snapshot { return sim.c.Snapshot() }

// OnDecide calls f with every decision, as the link makes it, for callers
// that need more than the counters (a demo that explains each datagram).
func (sim *Sim) OnDecide(f func(*Decision)) { sim.l.onDecide = f }

// Next returns the virtual time at which the link releases its next held
// datagram, and false when it holds none: a simulation that runs other
// events besides the link's (the two ends of a protocol, say) advances its
// clock to the earliest of them.
func (sim *Sim) Next() (time.Time, bool) { return sim.s.next() }
