// Package arqsim runs an arq transfer in virtual time: two arq.Machines,
// a client and a server, joined by two seeded netem links (one each
// way), with no socket, no goroutine and no real clock. The same
// configuration, seed and messages give the same run every time, timing
// included: `udpchat demo reliable` shows one, and tests use it to drive
// the protocol through losses, reordering and outages exactly.
//
// The client opens the connection (SYN, SYN-ACK with the server's cookie,
// COOKIE), writes every message as its send buffer allows, and closes;
// the server reads every message as soon as it is whole, and closes once
// the client did. Each packet crosses its link after Propagation plus
// whatever the link's netem configuration adds.
//
//	res, err := arqsim.Run(arqsim.Config{Up: netem.Config{Loss: 0.1}, Seed: 1}, msgs)
//	// res.Delivered == msgs, res.Elapsed is virtual time
package arqsim

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/udpchat/udpchat/dgram/arq"
	"github.com/udpchat/udpchat/dgram/netem"
)

// Config describes a simulated transfer.
type Config struct {
	// Client and Server configure the two ends.
	Client, Server arq.Config
	// Up (client to server) and Down (server to client) impair the links.
	Up, Down netem.Config
	// Seed seeds Up; Down uses Seed+1.
	Seed uint64
	// Propagation is each link's one-way delay before netem's own
	// (default 50us: a loopback-like round trip of 100us).
	Propagation time.Duration
	// Limit bounds the run in virtual time (default one hour).
	Limit time.Duration
	// Outages cut both links: every packet sent during one is lost.
	Outages []Outage
	// ReadLimit, if positive, is how many messages the server's
	// application reads before it stops reading (its window then closes).
	ReadLimit int
	// OnDeliver, if set, is called with each message the server receives,
	// in order, and the virtual time since the start.
	OnDeliver func(msg []byte, at time.Duration)
	// OnSend, if set, is called with every packet an end hands to its
	// link (toServer: the client's), its size and the virtual time since
	// the start: what a sender puts on the wire, before the link decides
	// its fate.
	OnSend func(toServer bool, p *arq.Packet, size int, at time.Duration)
}

// Outage is a span of virtual time, from the start of the run, when the
// path carries nothing.
type Outage struct{ From, To time.Duration }

// Result is what a run did.
type Result struct {
	// Delivered holds the messages the server received, in order.
	Delivered [][]byte
	// Client and Server are the two ends' counters at the end.
	Client, Server arq.Stats
	// ClientErr and ServerErr are why an end failed (nil: it closed
	// cleanly).
	ClientErr, ServerErr error
	// Elapsed is the virtual time from the first SYN until both ends
	// closed.
	Elapsed time.Duration
	// Up and Down are what the links did.
	Up, Down netem.Snapshot
	// OutageDrops counts the packets lost to Outages.
	OutageDrops int
}

// ErrLimit is returned when a run goes past Config.Limit.
var ErrLimit = errors.New("arqsim: the transfer did not end within the limit")

// start is the virtual time a run starts at.
var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// clientAddr is the client's address, as the server's cookie sees it.
var clientAddr = netip.MustParseAddrPort("192.0.2.1:40000")

type arrival struct {
	toServer bool
	b        []byte
}

type run struct {
	cfg    Config
	now    time.Time
	client *arq.Machine
	server *arq.Machine
	gate   *arq.Gate
	up     *netem.Sim
	down   *netem.Sim
	inbox  []arrival
	buf    []byte
	pkt    arq.Packet
	res    Result

	msgs    [][]byte
	next    int // message being written
	off     int // bytes of it written
	closing bool
	srvDone bool // the server app called Close
}

// Run sends msgs from the client to the server over the simulated links
// and returns what happened. It fails only for a bad configuration or a
// run past Limit; a connection that fails is reported in the Result.
func Run(cfg Config, msgs [][]byte) (*Result, error) {
	if cfg.Propagation == 0 {
		cfg.Propagation = 50 * time.Microsecond
	}
	if cfg.Limit == 0 {
		cfg.Limit = time.Hour
	}
	r := &run{cfg: cfg, now: start, msgs: msgs}
	var err error
	if r.client, err = arq.NewClient(cfg.Client, 1, start); err != nil {
		return nil, err
	}
	secret := sha256.Sum256([]byte("arqsim"))
	r.gate = arq.NewGate(cfg.Server, secret[:])
	up, down := cfg.Up, cfg.Down
	up.Delay += cfg.Propagation
	down.Delay += cfg.Propagation
	if r.up, err = netem.NewSim(up, cfg.Seed, nil, func(b []byte, _ time.Time) { r.arrive(true, b) }); err != nil {
		return nil, fmt.Errorf("arqsim: up: %w", err)
	}
	if r.down, err = netem.NewSim(down, cfg.Seed+1, nil, func(b []byte, _ time.Time) { r.arrive(false, b) }); err != nil {
		return nil, fmt.Errorf("arqsim: down: %w", err)
	}
	if err := r.loop(); err != nil {
		return &r.res, err
	}
	return &r.res, nil
}

func (r *run) arrive(toServer bool, b []byte) {
	r.inbox = append(r.inbox, arrival{toServer, append([]byte(nil), b...)})
}

// maxSteps bounds a run's iterations, whatever its virtual time does.
const maxSteps = 100_000_000

func (r *run) loop() error {
	end := start.Add(r.cfg.Limit)
	for step := 0; ; step++ {
		if step == maxSteps {
			r.finish()
			return ErrLimit
		}
		r.deliver()
		r.apps()
		r.output()
		if len(r.inbox) > 0 {
			continue // arrivals at this same instant
		}
		if r.client.Done() && (r.server == nil || r.server.Done()) {
			break
		}
		next, ok := r.nextEvent()
		if !ok || next.After(end) {
			r.finish()
			return ErrLimit
		}
		if next.After(r.now) {
			r.now = next
		}
		r.up.Advance(r.now)
		r.down.Advance(r.now)
		if !r.client.Deadline().After(r.now) {
			r.client.Tick(r.now)
		}
		if r.server != nil && !r.server.Deadline().After(r.now) {
			r.server.Tick(r.now)
		}
	}
	r.finish()
	return nil
}

func (r *run) finish() {
	r.res.Elapsed = r.now.Sub(start)
	r.res.Client, r.res.ClientErr = r.client.Stats(), r.client.Err()
	if r.server != nil {
		r.res.Server, r.res.ServerErr = r.server.Stats(), r.server.Err()
	} else {
		r.res.ServerErr = errors.New("arqsim: the connection never reached the server")
	}
	r.res.Up, r.res.Down = r.up.Counters(), r.down.Counters()
}

// nextEvent is the earliest of the ends' deadlines and the links' next
// releases.
func (r *run) nextEvent() (time.Time, bool) {
	var next time.Time
	earlier := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if !r.client.Done() {
		earlier(r.client.Deadline())
	}
	if r.server != nil && !r.server.Done() {
		earlier(r.server.Deadline())
	}
	if t, ok := r.up.Next(); ok {
		earlier(t)
	}
	if t, ok := r.down.Next(); ok {
		earlier(t)
	}
	return next, !next.IsZero()
}

// deliver hands what arrived to the ends.
func (r *run) deliver() {
	for len(r.inbox) > 0 {
		a := r.inbox[0]
		r.inbox = r.inbox[1:]
		if err := arq.Decode(a.b, &r.pkt); err != nil {
			continue // corrupted on the way: the CRC caught it
		}
		if !a.toServer {
			r.client.Receive(&r.pkt, r.now)
			continue
		}
		switch {
		case r.server != nil:
			r.server.Receive(&r.pkt, r.now)
		case r.pkt.Type == arq.TypeSyn:
			var ack arq.Packet
			r.gate.SynAck(&r.pkt, clientAddr, r.now, &ack)
			r.pkt = ack
			r.send(r.down)
		case r.gate.Check(&r.pkt, clientAddr, r.now):
			m, err := arq.NewServer(r.cfg.Server, r.pkt.Conn, r.pkt.Window, r.pkt.MSS, r.now)
			if err == nil {
				r.server = m
			}
		}
	}
}

// apps runs the two applications: the client writes and closes, the
// server reads and closes after the client.
func (r *run) apps() {
	c := r.client
	for c.Established() && !c.Done() && r.next < len(r.msgs) {
		n, all := c.Write(r.msgs[r.next][r.off:], true)
		r.off += n
		if !all {
			break
		}
		r.next, r.off = r.next+1, 0
	}
	if c.Established() && !r.closing && r.next == len(r.msgs) {
		r.closing = true
		c.Close(r.now)
	}
	s := r.server
	if s == nil {
		return
	}
	for r.cfg.ReadLimit <= 0 || len(r.res.Delivered) < r.cfg.ReadLimit {
		msg, ok := s.Recv(r.now)
		if !ok {
			break
		}
		r.res.Delivered = append(r.res.Delivered, msg)
		if r.cfg.OnDeliver != nil {
			r.cfg.OnDeliver(msg, r.now.Sub(start))
		}
	}
	if s.EOF() && !r.srvDone {
		r.srvDone = true
		s.Close(r.now)
	}
}

// output sends what each end has to send onto its link.
func (r *run) output() {
	for r.client.Next(r.now, &r.pkt) {
		r.send(r.up)
	}
	if r.server != nil {
		for r.server.Next(r.now, &r.pkt) {
			r.send(r.down)
		}
	}
}

func (r *run) send(l *netem.Sim) {
	at := r.now.Sub(start)
	if r.cfg.OnSend != nil {
		r.cfg.OnSend(l == r.up, &r.pkt, r.pkt.Len(), at)
	}
	for _, o := range r.cfg.Outages {
		if at >= o.From && at < o.To {
			r.res.OutageDrops++
			return
		}
	}
	r.buf = r.pkt.Append(r.buf[:0])
	l.Send(r.now, r.buf)
}
