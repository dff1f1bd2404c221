package netem

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
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
// Datagrams held for a while are released by one scheduler goroutine; with
// read impairment one more goroutine reads the wrapped connection. Close
// stops both, discards what is still held, and closes the wrapped
// connection.
type Conn struct {
	pc          net.PacketConn
	udp         *net.UDPConn // pc, when it is one: writes without allocating
	sched       *Scheduler
	write, read *Link
	wc, rc      Counters

	readQ   chan packet
	readEOF chan struct{} // closed when the wrapped connection was closed under us
	rdl     *deadline
	closed  chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	readErr error // a read error of the wrapped connection, once readQ is drained
	errMu   sync.Mutex
}

var _ net.PacketConn = (*Conn)(nil)

// packet is a datagram waiting to be read.
type packet struct {
	b    []byte
	from netip.AddrPort
	err  error
}

// Wrap wraps pc. It validates the configurations first.
func Wrap(pc net.PacketConn, o Options) (*Conn, error) {
	if err := o.Write.Validate(); err != nil {
		return nil, err
	}
	if o.Read != nil {
		if err := o.Read.Validate(); err != nil {
			return nil, err
		}
	}
	c := &Conn{pc: pc, sched: NewScheduler(), closed: make(chan struct{}), readEOF: make(chan struct{}), rdl: newDeadline()}
	c.udp, _ = pc.(*net.UDPConn)
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

// writeOut sends released datagrams on the wrapped connection.
type writeOut struct{ c *Conn }

func (w writeOut) send(items []*item) {
	for _, it := range items {
		if err := w.c.rawWrite(it.buf, it.dst); err != nil {
			it.link.c.OutErrors.Add(1)
		}
	}
}

func (c *Conn) rawWrite(b []byte, dst netip.AddrPort) error {
	if c.udp != nil {
		_, err := c.udp.WriteToUDPAddrPort(b, dst)
		return err
	}
	_, err := c.pc.WriteTo(b, net.UDPAddrFromAddrPort(dst))
	return err
}

// readOut queues released datagrams for ReadFrom.
type readOut struct{ c *Conn }

func (r readOut) send(items []*item) {
	for _, it := range items {
		r.c.enqueue(append([]byte(nil), it.buf...), it.dst, it.link)
	}
}

func (c *Conn) enqueue(b []byte, from netip.AddrPort, l *Link) {
	select {
	case c.readQ <- packet{b: b, from: from}:
	default:
		l.c.OutErrors.Add(1) // ReadFrom is not keeping up
	}
}

// WriteTo sends b to addr through the impaired link. Like a real network,
// the link loses datagrams silently: a dropped datagram still reports
// len(b) written. b is copied if it is held; the caller may reuse it.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: net.ErrClosed}
	default:
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errors.New("netem: not a UDP address")}
	}
	dst := ua.AddrPort()
	if c.write.timed() {
		c.write.push(time.Now(), b, dst)
		return len(b), nil
	}
	d := c.write.decide(len(b))
	if d.Drop {
		return len(b), nil
	}
	out := b
	if d.Corrupt {
		out = append([]byte(nil), b...)
		flip(out, d.Bit)
	}
	for range 1 + btoi(d.Dup) {
		if err := c.rawWrite(out, dst); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *Conn) readLoop() {
	defer c.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, addr, err := c.pc.ReadFrom(buf)
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
		from := netip.AddrPort{}
		if ua, ok := addr.(*net.UDPAddr); ok {
			from = ua.AddrPort()
			from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		}
		if c.read.timed() {
			c.read.push(time.Now(), buf[:n], from)
			continue
		}
		d := c.read.decide(n)
		if d.Drop {
			continue
		}
		b := append([]byte(nil), buf[:n]...)
		if d.Corrupt {
			flip(b, d.Bit)
		}
		c.enqueue(b, from, c.read)
		if d.Dup {
			c.enqueue(append([]byte(nil), b...), from, c.read)
		}
	}
}

// ReadFrom reads the next datagram. Without read impairment it reads the
// wrapped connection directly.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	if c.read == nil {
		return c.pc.ReadFrom(b)
	}
	select {
	case <-c.closed:
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Err: net.ErrClosed}
	default:
	}
	select {
	case <-c.readEOF:
		c.errMu.Lock()
		defer c.errMu.Unlock()
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Err: c.readErr}
	case p := <-c.readQ:
		if p.err != nil {
			return 0, nil, p.err
		}
		n := copy(b, p.b)
		return n, net.UDPAddrFromAddrPort(p.from), nil
	case <-c.rdl.done():
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Err: os.ErrDeadlineExceeded}
	case <-c.closed:
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Err: net.ErrClosed}
	}
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
