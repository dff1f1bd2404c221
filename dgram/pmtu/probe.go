package pmtu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seq"
)

// Mode is a don't-fragment mode for SetDF.
type Mode uint8

// Modes.
const (
	// Do sets DF and refuses sends larger than the path MTU the kernel
	// learned (IP_PMTUDISC_DO, IPV6_PMTUDISC_DO).
	Do Mode = iota + 1
	// Probe sets DF and ignores the learned path MTU (IP_PMTUDISC_PROBE,
	// IPV6_PMTUDISC_PROBE): for probes.
	Probe
)

// report is one error the kernel queued for a socket (IP_RECVERR).
type report struct {
	errno     syscall.Errno
	origin    uint8
	typ, code uint8
	mtu       int        // ee_info: the MTU, for "too big" errors
	from      netip.Addr // the offender: the router that answered
	payload   []byte     // the start of the datagram it refused (its UDP payload)
}

// tooBig reports whether the error says a datagram was too big, and who
// said it (local: this host's stack).
func (r report) tooBig() (yes, local bool) {
	switch {
	case r.origin == originICMP && r.typ == 3 && r.code == 4: // fragmentation needed and DF set
		return true, false
	case r.origin == originICMP6 && r.typ == 2: // packet too big
		return true, false
	case r.origin == originLocal && r.errno == syscall.EMSGSIZE:
		return true, true
	}
	return false, false
}

// EventKind says what happened to a probe.
type EventKind uint8

// Event kinds.
const (
	// Echo: the probe's echo came back, so its size crosses the path.
	Echo EventKind = iota + 1
	// Lost: no echo within the probe timer.
	Lost
	// TooBig: an ICMP message (or this host) refused the probe as too big.
	TooBig
)

// String returns "echo", "lost" or "too_big".
func (k EventKind) String() string {
	switch k {
	case Echo:
		return "echo"
	case Lost:
		return "lost"
	case TooBig:
		return "too_big"
	}
	return "unknown"
}

// Event is one probe's outcome, as Run observes it.
type Event struct {
	Kind EventKind
	// Probe numbers the probe, from 1 (retries get numbers of their own).
	Probe int
	// Size is the probe's IP packet size; Payload its UDP payload.
	Size, Payload int
	// Try counts the probes of this size so far, from 1; Tries is the
	// configured limit.
	Try, Tries int
	// RTT is the round trip of an echo.
	RTT time.Duration
	// Timeout is how long a lost probe was waited for.
	Timeout time.Duration
	// Late marks an echo that came after its probe was given up.
	Late bool
	// MTU is the MTU a TooBig message gave (0 when it gave none).
	MTU int
	// From is the router that sent the TooBig message, when known.
	From netip.Addr
	// Local marks a TooBig from this host's stack (larger than the
	// interface's MTU), not from the network.
	Local bool
	// Failed reports that this outcome made the size fail: a TooBig, or
	// the last of Tries losses.
	Failed bool
}

// Options configure Run.
type Options struct {
	// Config is the search's configuration; Config.Max defaults to the
	// MTU of the interface that holds the socket's local address (see
	// Report.Iface), and IPv6 follows the peer's family.
	Config Config
	// Timeout is how long to wait for each probe's echo. Zero adapts it:
	// 1s until the first echo, then 4 round trips of the slowest echo
	// that came in time, at least MinTimeout.
	Timeout time.Duration
	// OnStart, when not nil, is called once before the first probe, with
	// what Run learned about the socket and the configuration it will use.
	OnStart func(Report, Config)
	// OnEvent, when not nil, is called with each probe's outcome.
	OnEvent func(Event)
}

// MinTimeout is the shortest adaptive probe timeout: loopback and
// namespace round trips are microseconds, but a loaded machine can hold
// an echo back for tens of milliseconds.
const MinTimeout = 200 * time.Millisecond

// firstTimeout is the adaptive timeout before any echo.
const firstTimeout = time.Second

// Report is what Run found.
type Report struct {
	Result
	// Peer is the destination probed.
	Peer netip.AddrPort
	// Iface and IfaceMTU are the interface that holds the socket's local
	// address, as net.Interfaces sees it from the calling thread's network
	// namespace, and its MTU: the largest packet that can leave without
	// being fragmented here. Empty and 0 when not found.
	Iface    string
	IfaceMTU int
	// KernelBefore is the path MTU the kernel knew before the first probe
	// (IP_MTU: the route's MTU, or less if an ICMP message lowered it
	// earlier); KernelMTU is what it knows after the last. 0 when unknown.
	KernelBefore, KernelMTU int
	// Strangers counts datagrams that were not echoes of our probes.
	Strangers int
}

// ifaceMTU finds the interface that holds addr and its MTU.
func ifaceMTU(addr netip.Addr) (string, int) {
	addr = addr.Unmap()
	ifs, err := net.Interfaces()
	if err != nil {
		return "", 0
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == addr {
					return ifc.Name, ifc.MTU
				}
			}
		}
	}
	return "", 0
}

// ErrNotConnected is the error of Run on a socket that is not connected: it needs one (Dial).
var ErrNotConnected = errors.New("pmtu: the socket is not connected")

// probeRing remembers the sizes of the latest probes, to recognise late
// echoes and the datagrams ICMP messages quote.
const probeRing = 256

// probePad fills probes after the sequence header.
const probePad = "udpchat mtu probe "

// Run searches the path MTU to c's peer, which must echo every datagram
// (udpchat listen --echo, socat, any UDP echo server). c must be a
// connected socket; Run sets don't-fragment on it (SetDF with Probe) and
// asks for ICMP errors (IP_RECVERR). Each probe is a sequence header v1
// (dgram/seq: its seq numbers the probe) padded to the size being tried;
// an echo of the same length and seq confirms the size.
//
// Run returns when the search is complete, when ctx ends (with what was
// found so far and ctx's error), or on an error that ends it: ErrNoEcho
// when nothing was echoed, a dgram.ErrRefused when the peer's host said
// nobody listens on its port.
func Run(ctx context.Context, c *net.UDPConn, o Options) (Report, error) {
	ra, ok := c.RemoteAddr().(*net.UDPAddr)
	if !ok || ra == nil {
		return Report{}, ErrNotConnected
	}
	peer := ra.AddrPort()
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	rep := Report{Peer: peer}
	cfg := o.Config
	cfg.IPv6 = peer.Addr().Is6()
	if err := SetDF(c, Probe); err != nil {
		return rep, fmt.Errorf("pmtu: setting don't-fragment: %w", err)
	}
	errq := enableErrQueue(c) == nil
	if mtu, err := PathMTU(c); err == nil {
		rep.KernelBefore = mtu
	}
	rep.Iface, rep.IfaceMTU = ifaceMTU(dgram.LocalAddrPort(c).Addr())
	if cfg.Max <= 0 {
		cfg.Max = rep.IfaceMTU
		if cfg.Max <= 0 {
			cfg.Max = rep.KernelBefore
		}
	}
	s, err := NewSearch(cfg)
	if err != nil {
		return rep, err
	}
	cfg = s.Config()
	if o.OnStart != nil {
		o.OnStart(rep, cfg)
	}
	r := &runner{c: c, s: s, o: o, cfg: cfg, errq: errq, rep: &rep, peer: peer.String(),
		reader: dgram.NewReader(c, 0), ebuf: make([]byte, 2048), eoob: make([]byte, 512)}
	err = r.run(ctx)
	rep.Result = s.Result()
	if mtu, merr := PathMTU(c); merr == nil {
		rep.KernelMTU = mtu
	}
	if err == nil && rep.PathMTU == 0 {
		err = fmt.Errorf("%w: no echo from %s to a probe of %d or %d bytes: is an echo server running there (udpchat listen --echo)?",
			ErrNoEcho, peer, cfg.Base, cfg.Min)
	}
	return rep, err
}

type sentProbe struct {
	seq  uint64
	size int
	at   time.Time
	try  int
	done bool // echoed or refused
}

type runner struct {
	c      *net.UDPConn
	s      *Search
	o      Options
	cfg    Config
	errq   bool
	rep    *Report
	peer   string
	reader *dgram.Reader
	ring   [probeRing]sentProbe
	next   uint64
	maxRTT time.Duration
	buf    []byte
	ebuf   []byte
	eoob   []byte
	tries  map[int]int
}

func (r *runner) emit(e Event) {
	e.Tries = r.cfg.Tries
	e.Payload = e.Size - r.cfg.Overhead()
	if r.o.OnEvent != nil {
		r.o.OnEvent(e)
	}
}

func (r *runner) timeout() time.Duration {
	switch {
	case r.o.Timeout > 0:
		return r.o.Timeout
	case r.maxRTT == 0:
		return firstTimeout
	}
	return max(MinTimeout, 4*r.maxRTT)
}

// lookup finds a probe by its seq.
func (r *runner) lookup(q uint64) *sentProbe {
	p := &r.ring[q%probeRing]
	if p.size == 0 || p.seq != q {
		return nil
	}
	return p
}

func (r *runner) run(ctx context.Context) error {
	r.tries = map[int]int{}
	for {
		size, ok := r.s.Next()
		if !ok {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r.tries[size]++
		q := r.next
		r.next++
		p := &r.ring[q%probeRing]
		*p = sentProbe{seq: q, size: size, at: time.Now(), try: r.tries[size]}
		r.buf = seq.Header{Type: seq.TypeData, Seq: q, Sent: p.at.UnixNano()}.Append(r.buf[:0])
		for len(r.buf) < size-r.cfg.Overhead() {
			r.buf = append(r.buf, probePad[len(r.buf)%len(probePad)])
		}
		if _, err := r.c.Write(r.buf); err != nil {
			if err := r.failed(err, p); err != nil {
				return err
			}
			continue
		}
		if err := r.wait(ctx, p); err != nil {
			return err
		}
	}
}

// wait reads until probe p is echoed or refused, or its timer expires.
func (r *runner) wait(ctx context.Context, p *sentProbe) error {
	timeout := r.timeout()
	deadline := p.at.Add(timeout)
	for !p.done {
		d, err := r.reader.ReadContext(ctx, deadline)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, dgram.ErrTimeout) {
				r.s.Lost(p.size)
				r.emit(Event{Kind: Lost, Probe: int(p.seq) + 1, Size: p.size, Try: p.try, Timeout: timeout,
					Failed: p.try >= r.cfg.Tries})
				return nil
			}
			if err := r.failed(err, p); err != nil {
				return err
			}
			continue
		}
		h, _, herr := seq.Decode(d.Data)
		var e *sentProbe
		if herr == nil {
			e = r.lookup(h.Seq)
		}
		if e == nil || len(d.Data) != e.size-r.cfg.Overhead() || e.done {
			r.rep.Strangers++
			continue
		}
		e.done = true
		rtt := time.Since(e.at)
		if e == p {
			// a late echo (a first packet that waited for neighbour
			// discovery, say) would stretch every later timer
			r.maxRTT = max(r.maxRTT, rtt)
		}
		r.s.Acked(e.size)
		r.emit(Event{Kind: Echo, Probe: int(e.seq) + 1, Size: e.size, Try: e.try, RTT: rtt, Late: e != p})
	}
	return nil
}

// failed handles an error from a send or a receive: the kernel's verdict
// on a probe (too big, nobody listening) or a real failure.
func (r *runner) failed(err error, cur *sentProbe) error {
	switch {
	case errors.Is(err, syscall.EMSGSIZE):
		reported := false
		if r.errq {
			reps, _ := readErrQueue(r.c, r.ebuf, r.eoob)
			for _, rp := range reps {
				big, local := rp.tooBig()
				if !big {
					continue
				}
				p := cur
				if h, _, herr := seq.Decode(rp.payload); herr == nil {
					if q := r.lookup(h.Seq); q != nil {
						p = q
					}
				}
				reported = true
				if p.done {
					continue
				}
				p.done = true
				r.s.TooBig(p.size, rp.mtu)
				r.emit(Event{Kind: TooBig, Probe: int(p.seq) + 1, Size: p.size, Try: p.try, MTU: rp.mtu, From: rp.from, Local: local, Failed: true})
			}
		}
		if !reported && !cur.done {
			// The error queue said nothing (or is not available): blame
			// the current probe, with the MTU the kernel learned.
			mtu, _ := PathMTU(r.c)
			cur.done = true
			r.s.TooBig(cur.size, mtu)
			r.emit(Event{Kind: TooBig, Probe: int(cur.seq) + 1, Size: cur.size, Try: cur.try, MTU: mtu, Failed: true})
		}
		return nil
	case errors.Is(err, syscall.ECONNREFUSED):
		if r.errq {
			_, _ = readErrQueue(r.c, r.ebuf, r.eoob)
		}
		return dgram.Classify("send", r.peer, err)
	case errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.EAGAIN):
		// not sent: count it as lost, and try again
		r.s.Lost(cur.size)
		r.emit(Event{Kind: Lost, Probe: int(cur.seq) + 1, Size: cur.size, Try: cur.try, Failed: cur.try >= r.cfg.Tries})
		return nil
	}
	if r.errq {
		_, _ = readErrQueue(r.c, r.ebuf, r.eoob)
	}
	return dgram.Classify("send", r.peer, err)
}
