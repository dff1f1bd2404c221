package netem

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

// Options configure Wrap.
type Options struct {
	// Write impairs what the Conn writes.
	Write Config
	// Read, when not nil, impairs what the Conn reads as well.
	Read *Config
	// Seed seeds the PRNGs: the write direction draws stream 0, the read
	// direction stream 1.
	Seed uint64
	// Log, when not nil, receives every decision (dir "write" or "read").
	Log *Logger
}

// Conn is a net.PacketConn whose datagrams pass through an impaired link:
// what it writes (and, if asked, what it reads) is lost, delayed,
// reordered, duplicated, corrupted or rate-limited as its Options say,
// with decisions drawn from a seeded PRNG, so that a test of any UDP code
// can run over a bad network reproducibly and without root.
//
// It is a dgram.BatchConn: batch writes that the link leaves untouched
// keep their batching and UDP GSO (each datagram of a coalesced buffer is
// still decided on its own, in order), and the address a datagram is sent
// from or was sent to (dgram.Message's Local and IfIndex) travels with it,
// held or not. Datagrams held for a while are released by one scheduler
// goroutine; with read impairment one more goroutine reads the wrapped
// connection (and the TTL of what it reads is not kept).
type Conn struct {
	pc          net.PacketConn
	inner       dgram.BatchConn // pc's batch interface
	sched       *Scheduler
	write, read *Link
	wc, rc      Counters

	wmu   sync.Mutex // serialises WriteBatch
	wdec  []Decision
	wout  []dgram.Message
	wown  []int // the input message of each output message
	arena []byte
	smsgs []dgram.Message // the scheduler goroutine's releases

	rmu     sync.Mutex // serialises ReadBatch
	pendErr error      // a read error found while collecting a batch, for the next call

	readQ   chan packet
	readEOF chan struct{} // closed when the wrapped connection was closed under us
	rdl     *deadline
	closed  chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	readErr error // a read error of the wrapped connection, once readQ is drained
	errMu   sync.Mutex
}

var (
	_ net.PacketConn  = (*Conn)(nil)
	_ dgram.BatchConn = (*Conn)(nil)
)

// packet is a datagram waiting to be read.
type packet struct {
	b       []byte
	from    netip.AddrPort
	local   netip.AddrPort
	ifIndex int
	err     error
}

// Wrap wraps pc. It validates the configurations first. A pc that is a
// dgram.BatchConn is used as it is (with its options); a *net.UDPConn
// gets plain batched I/O (dgram.AsBatchConn). The Conn owns pc: its Close
// closes pc, as every wrapper in this module does.
func Wrap(pc net.PacketConn, o Options) (*Conn, error) {
	if err := o.Write.Validate(); err != nil {
		return nil, err
	}
	if o.Read != nil {
		if err := o.Read.Validate(); err != nil {
			return nil, err
		}
	}
	inner, err := dgram.AsBatchConn(pc, dgram.ConnConfig{Batch: wrapBatch})
	if err != nil {
		return nil, err
	}
	c := &Conn{pc: pc, inner: inner, sched: NewScheduler(), closed: make(chan struct{}), readEOF: make(chan struct{}), rdl: newDeadline()}
	c.write = newLink("write", "", o.Write, o.Seed, 0, &c.wc, c.sched, writeOut{c}, o.Log)
	if o.Read != nil {
		c.read = newLink("read", "", *o.Read, o.Seed, 1, &c.rc, c.sched, readOut{c}, o.Log)
		c.readQ = make(chan packet, c.read.cfg.Limit)
	}
	c.sched.Start()
	if c.read != nil {
		c.wg.Add(1)
		go c.readLoop()
	}
	return c, nil
}

// wrapBatch is how many messages a Conn moves per call on the wrapped
// connection.
const wrapBatch = 16

// writeOut sends released datagrams on the wrapped connection, in one
// batch.
type writeOut struct{ c *Conn }

func (w writeOut) send(items []*item) {
	c := w.c
	ms := c.smsgs[:0]
	for _, it := range items {
		ms = append(ms, dgram.Message{Buf: it.buf, Addr: it.dst, Local: it.src, IfIndex: it.ifIndex})
	}
	for len(ms) > 0 {
		n, err := c.inner.WriteBatch(ms)
		if err == nil {
			break
		}
		items[n].link.c.OutErrors.Add(1) // lost, as a network loses it; the rest go on
		ms, items = ms[n+1:], items[n+1:]
	}
	clear(c.smsgs[:cap(c.smsgs)])
	c.smsgs = ms[:0]
}

// readOut queues released datagrams for ReadFrom.
type readOut struct{ c *Conn }

func (r readOut) send(items []*item) {
	for _, it := range items {
		r.c.enqueue(packet{b: append([]byte(nil), it.buf...), from: it.dst, local: it.src, ifIndex: it.ifIndex}, it.link)
	}
}

func (c *Conn) enqueue(p packet, l *Link) {
	select {
	case c.readQ <- p:
	default:
		l.c.OutErrors.Add(1) // ReadFrom is not keeping up
	}
}

// WriteTo sends b to addr through the impaired link. Like a real network,
// the link loses datagrams silently: a dropped datagram still reports
// len(b) written. b is copied if it is held; the caller may reuse it.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errors.New("netem: not a UDP address")}
	}
	ms := [1]dgram.Message{{Buf: b, Addr: ua.AddrPort()}}
	if _, err := c.WriteBatch(ms[:]); err != nil {
		return 0, err
	}
	return len(b), nil
}

// WriteBatch implements dgram.BatchConn: every datagram of ms (each
// segment of a coalesced message) goes through the link in order. A
// message the link leaves whole (no loss, corruption or duplicate of any
// of its datagrams, no timing) is written as it is, coalesced; the others
// are written datagram by datagram. Lost datagrams count as sent, as on a
// real network. The caller may reuse ms's buffers on return.
func (c *Conn) WriteBatch(ms []dgram.Message) (int, error) {
	select {
	case <-c.closed:
		return 0, &net.OpError{Op: "write", Net: "udp", Err: net.ErrClosed}
	default:
	}
	if c.write.timed() {
		now := time.Now()
		for i := range ms {
			m := &ms[i]
			for p := range m.Split() {
				c.write.pushFrom(now, p, m.Addr, m.Local, m.IfIndex)
			}
		}
		return len(ms), nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	out, own := c.wout[:0], c.wown[:0]
	c.arena = c.arena[:0]
	for i := range ms {
		m := &ms[i]
		if c.decideAll(m) {
			out, own = append(out, *m), append(own, i)
			continue
		}
		k := 0
		for p := range m.Split() {
			d := c.wdec[k]
			k++
			if d.Drop {
				continue
			}
			b := p
			if d.Corrupt {
				at := len(c.arena)
				c.arena = append(c.arena, p...)
				b = c.arena[at:]
				flip(b, d.Bit)
			}
			for range 1 + btoi(d.Dup) {
				out = append(out, dgram.Message{Buf: b, Addr: m.Addr, Local: m.Local, IfIndex: m.IfIndex})
				own = append(own, i)
			}
		}
	}
	c.wout, c.wown = out, own
	n, err := c.inner.WriteBatch(out)
	clear(out)
	if err != nil {
		return own[n], err
	}
	return len(ms), nil
}

// decideAll decides the fate of each datagram of m into c.wdec and
// reports whether the link leaves m as it is.
func (c *Conn) decideAll(m *dgram.Message) (whole bool) {
	c.wdec = c.wdec[:0]
	whole = true
	l := c.write
	for p := range m.Split() {
		var d Decision
		if l.pass {
			l.c.In.Add(1)
			l.c.InBytes.Add(uint64(len(p)))
			l.c.Out.Add(1)
			l.c.OutBytes.Add(uint64(len(p)))
		} else {
			d = l.decide(len(p))
		}
		c.wdec = append(c.wdec, d)
		whole = whole && !d.Drop && !d.Corrupt && !d.Dup
	}
	return whole
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *Conn) readLoop() {
	defer c.wg.Done()
	in := make([]dgram.Message, wrapBatch)
	for i := range in {
		in[i].Buf = make([]byte, dgram.RecvBufferSize)
	}
	for {
		n, err := c.inner.ReadBatch(in)
		if err != nil {
			select {
			case <-c.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				c.errMu.Lock()
				c.readErr = err
				c.errMu.Unlock()
				close(c.readEOF)
				return
			}
			// a transient error (an ICMP refusal on a connected socket):
			// hand it to the reader in order
			select {
			case c.readQ <- packet{err: err}:
			case <-c.closed:
				return
			}
			continue
		}
		now := time.Now()
		for i := range in[:n] {
			m := &in[i]
			for d := range m.All() {
				c.readOne(now, d, m)
			}
		}
	}
}

// readOne passes one datagram read from the wrapped connection through
// the read link.
func (c *Conn) readOne(now time.Time, b []byte, m *dgram.Message) {
	if c.read.timed() {
		c.read.pushFrom(now, b, m.Addr, m.Local, m.IfIndex)
		return
	}
	d := c.read.decide(len(b))
	if d.Drop {
		return
	}
	p := packet{b: append([]byte(nil), b...), from: m.Addr, local: m.Local, ifIndex: m.IfIndex}
	if d.Corrupt {
		flip(p.b, d.Bit)
	}
	c.enqueue(p, c.read)
	if d.Dup {
		p.b = append([]byte(nil), p.b...)
		c.enqueue(p, c.read)
	}
}

// ReadFrom reads the next datagram. Without read impairment it reads the
// wrapped connection directly.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	if c.read == nil {
		return c.pc.ReadFrom(b)
	}
	ms := [1]dgram.Message{{Buf: b}}
	if _, err := c.ReadBatch(ms[:]); err != nil {
		return 0, nil, err
	}
	return ms[0].N, net.UDPAddrFromAddrPort(ms[0].Addr), nil
}

// ReadBatch implements dgram.BatchConn. Without read impairment it reads
// the wrapped connection directly; with it, it waits for the first
// datagram the read link releases and takes those already released after
// it, up to len(ms).
func (c *Conn) ReadBatch(ms []dgram.Message) (int, error) {
	if c.read == nil {
		return c.inner.ReadBatch(ms)
	}
	if len(ms) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if err := c.pendErr; err != nil {
		c.pendErr = nil
		return 0, err
	}
	select {
	case <-c.closed:
		return 0, &net.OpError{Op: "read", Net: "udp", Err: net.ErrClosed}
	default:
	}
	var p packet
	select {
	case <-c.readEOF:
		c.errMu.Lock()
		defer c.errMu.Unlock()
		return 0, &net.OpError{Op: "read", Net: "udp", Err: c.readErr}
	case p = <-c.readQ:
	case <-c.rdl.done():
		return 0, &net.OpError{Op: "read", Net: "udp", Err: os.ErrDeadlineExceeded}
	case <-c.closed:
		return 0, &net.OpError{Op: "read", Net: "udp", Err: net.ErrClosed}
	}
	if p.err != nil {
		return 0, p.err
	}
	fill(&ms[0], &p)
	n := 1
	for n < len(ms) {
		select {
		case p = <-c.readQ:
		default:
			return n, nil
		}
		if p.err != nil {
			c.pendErr = p.err
			return n, nil
		}
		fill(&ms[n], &p)
		n++
	}
	return n, nil
}

// fill copies a packet into a message.
func fill(m *dgram.Message, p *packet) {
	*m = dgram.Message{Buf: m.Buf, Addr: p.from, Local: p.local, IfIndex: p.ifIndex}
	m.N = copy(m.Buf, p.b)
	m.Truncated = len(p.b) > len(m.Buf)
}

// GSO reports whether the wrapped connection sends coalesced buffers in
// one system call.
func (c *Conn) GSO() bool {
	g, ok := c.inner.(interface{ GSO() bool })
	return ok && g.GSO()
}

// Close stops the scheduler (what it still holds is lost), closes the
// wrapped connection and waits for the reader goroutine. It is idempotent.
func (c *Conn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.closed)
		c.sched.Close()
		err = c.pc.Close()
		c.wg.Wait()
		c.rdl.stop()
	})
	return err
}

// LocalAddr returns the wrapped connection's local address.
func (c *Conn) LocalAddr() net.Addr { return c.pc.LocalAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for ReadFrom.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.read == nil {
		return c.pc.SetReadDeadline(t)
	}
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the wrapped connection's write deadline (held
// datagrams are written later, by the scheduler, regardless).
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.pc.SetWriteDeadline(t) }

// WriteCounters returns what the write direction did so far.
func (c *Conn) WriteCounters() Snapshot { return c.wc.Snapshot() }

// ReadCounters returns what the read direction did so far.
func (c *Conn) ReadCounters() Snapshot { return c.rc.Snapshot() }

// deadline is a channel that closes when a deadline passes, for select.
type deadline struct {
	mu    sync.Mutex
	ch    chan struct{}
	timer *time.Timer
}

func newDeadline() *deadline { return &deadline{ch: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	select {
	case <-d.ch:
		d.ch = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		return
	}
	ch := d.ch
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.ch == ch {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	})
}

func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}

func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
	}
}
