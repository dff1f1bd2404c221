package arq

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

type connKey struct {
	addr netip.AddrPort
	id   uint32
}

// endpoint is one socket's side of arq: it reads every packet, checks it,
// hands it to its connection, and writes what the connections send, in
// batches (with UDP GSO where the socket allows).
type endpoint struct {
	pc  net.PacketConn
	udp *net.UDPConn

	wmu     sync.Mutex
	w       *dgram.Writer // for a *net.UDPConn
	scratch []byte

	mu    sync.Mutex
	conns map[connKey]*Conn
	ln    *Listener

	corrupt  atomic.Uint64 // bad checksum
	stray    atomic.Uint64 // not arq, malformed, or for no connection
	stopping chan struct{}
	stopOnce sync.Once
	readDone chan struct{}
}

func newEndpoint(pc net.PacketConn) (*endpoint, error) {
	ep := &endpoint{pc: pc, conns: map[connKey]*Conn{}, stopping: make(chan struct{}), readDone: make(chan struct{})}
	if u, ok := pc.(*net.UDPConn); ok {
		ep.udp = u
		_, _, _ = dgram.SetBuffers(u, 8<<20, 8<<20)
		_ = dgram.EnableGRO(u)
		w, err := dgram.NewWriter(u, dgram.DefaultBatch, true)
		if err != nil {
			return nil, err
		}
		// A full receive buffer drops a coalesced buffer whole: keep bursts
		// small enough that SACK, not the timer, recovers from one.
		w.SetMaxSegments(32)
		ep.w = w
	}
	return ep, nil
}

// send encodes p for to and queues it (a *net.UDPConn) or writes it (any
// other PacketConn). It returns the packet's size.
func (ep *endpoint) send(p *Packet, to netip.AddrPort) int {
	ep.wmu.Lock()
	defer ep.wmu.Unlock()
	ep.scratch = p.Append(ep.scratch[:0])
	if ep.w != nil {
		_, _, _ = ep.w.Add(ep.scratch, to)
	} else {
		_, _ = ep.pc.WriteTo(ep.scratch, net.UDPAddrFromAddrPort(to))
	}
	// Send errors are not reported here: a lost packet is recovered like
	// any loss, and a peer that is gone shows as timeouts.
	return len(ep.scratch)
}

// flush writes what send queued.
func (ep *endpoint) flush() {
	if ep.w == nil {
		return
	}
	ep.wmu.Lock()
	defer ep.wmu.Unlock()
	_, _, _ = ep.w.Flush()
}

func (ep *endpoint) add(c *Conn) bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	k := connKey{c.peer, c.id}
	if _, dup := ep.conns[k]; dup {
		return false
	}
	ep.conns[k] = c
	return true
}

func (ep *endpoint) remove(c *Conn) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.conns[connKey{c.peer, c.id}] == c {
		delete(ep.conns, connKey{c.peer, c.id})
	}
}

func (ep *endpoint) lookup(addr netip.AddrPort, id uint32) *Conn {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.conns[connKey{addr, id}]
}

// readLoop reads packets until the endpoint is closed.
func (ep *endpoint) readLoop() {
	defer close(ep.readDone)
	var (
		pkt     Packet
		touched []*Conn
	)
	dispatch := func(b []byte, from netip.AddrPort, now time.Time) {
		if !IsArq(b) {
			ep.stray.Add(1)
			return
		}
		if err := Decode(b, &pkt); err != nil {
			if errors.Is(err, ErrChecksum) {
				ep.corrupt.Add(1)
			} else {
				ep.stray.Add(1)
			}
			return
		}
		c := ep.lookup(from, pkt.Conn)
		if c == nil {
			if pkt.Type == TypeSyn && ep.ln != nil {
				c = ep.ln.open(from, &pkt, now)
			}
			if c == nil {
				ep.stray.Add(1)
				return
			}
		}
		c.mu.Lock()
		c.handle(&pkt, now)
		c.mu.Unlock()
		for _, t := range touched {
			if t == c {
				return
			}
		}
		touched = append(touched, c)
	}
	finish := func(now time.Time) {
		for i, c := range touched {
			c.mu.Lock()
			c.afterBatch(now)
			done := c.done
			c.mu.Unlock()
			if done {
				c.kick()
			}
			touched[i] = nil
		}
		touched = touched[:0]
		ep.flush()
	}
	if ep.udp != nil {
		rb, err := dgram.NewBatch(ep.udp, dgram.DefaultBatch)
		if err != nil {
			return
		}
		msgs := make([]dgram.Message, dgram.DefaultBatch)
		for i := range msgs {
			msgs[i].Buf = make([]byte, dgram.RecvBufferSize)
		}
		for {
			n, err := rb.Read(msgs)
			if err != nil {
				if ep.stopped() || errors.Is(err, net.ErrClosed) {
					return
				}
				continue // a transient error (an ICMP report): keep reading
			}
			now := time.Now()
			for i := range msgs[:n] {
				m := &msgs[i]
				b, seg := m.Buf[:m.N], m.Segment
				if seg <= 0 || seg >= len(b) {
					dispatch(b, m.Addr, now)
					continue
				}
				for off := 0; off < len(b); off += seg {
					dispatch(b[off:min(off+seg, len(b))], m.Addr, now)
				}
			}
			finish(now)
		}
	}
	buf := make([]byte, dgram.RecvBufferSize)
	for {
		n, addr, err := ep.pc.ReadFrom(buf)
		if err != nil {
			if ep.stopped() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		ua, ok := addr.(*net.UDPAddr)
		if !ok {
			ep.stray.Add(1)
			continue
		}
		from := ua.AddrPort()
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		now := time.Now()
		dispatch(buf[:n], from, now)
		finish(now)
	}
}

func (ep *endpoint) stopped() bool {
	select {
	case <-ep.stopping:
		return true
	default:
		return false
	}
}

// close stops the reader (by a read deadline in the past: the PacketConn
// belongs to the caller and stays open) and waits for it.
func (ep *endpoint) close() {
	ep.stopOnce.Do(func() {
		close(ep.stopping)
		_ = ep.pc.SetReadDeadline(time.Unix(1, 0))
		<-ep.readDone
		_ = ep.pc.SetReadDeadline(time.Time{})
		ep.flush()
	})
}

func randomID() uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:])
		if id := binary.BigEndian.Uint32(b[:]); id != 0 {
			return id
		}
	}
}

// Dial opens a connection to raddr over pc, a socket the caller owns (and
// no one else reads while the connection lives). It sends SYN with a
// random connection ID, retransmitting on the RFC 6298 timer, until the
// peer answers, MaxRetries tries have gone, or ctx ends.
func Dial(ctx context.Context, pc net.PacketConn, raddr netip.AddrPort, cfg Config) (*Conn, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ep, err := newEndpoint(pc)
	if err != nil {
		return nil, err
	}
	raddr = netip.AddrPortFrom(raddr.Addr().Unmap(), raddr.Port())
	c := newConn(ep, raddr, randomID(), cfg, true, time.Now())
	c.ownsEP = true
	ep.add(c)
	go ep.readLoop()
	c.start()
	stop := context.AfterFunc(ctx, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer stop()
	c.mu.Lock()
	for !c.established && c.err == nil && ctx.Err() == nil {
		c.cond.Wait()
	}
	err = c.err
	established := c.established
	c.mu.Unlock()
	if !established {
		if err == nil {
			err = ctx.Err()
		}
		c.Abort()
		return nil, err
	}
	return c, nil
}

// Listener accepts arq connections on one socket; every connection
// answers from that socket (no port per transfer), so it works through
// NATs and proxies.
type Listener struct {
	ep       *endpoint
	cfg      Config
	accept   chan *Conn
	maxConns int
	closed   chan struct{}
	once     sync.Once
	rejected atomic.Uint64
}

// MaxConns bounds a Listener's connections; SYNs beyond it are refused.
const MaxConns = 1024

// Listen accepts connections on pc, which the caller owns.
func Listen(pc net.PacketConn, cfg Config) (*Listener, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ep, err := newEndpoint(pc)
	if err != nil {
		return nil, err
	}
	l := &Listener{ep: ep, cfg: cfg, accept: make(chan *Conn, 64), maxConns: MaxConns, closed: make(chan struct{})}
	ep.ln = l
	go ep.readLoop()
	return l, nil
}

// open makes a connection for a new SYN. Called from the reader.
func (l *Listener) open(from netip.AddrPort, syn *Packet, now time.Time) *Conn {
	select {
	case <-l.closed:
		return nil
	default:
	}
	l.ep.mu.Lock()
	n := len(l.ep.conns)
	l.ep.mu.Unlock()
	if n >= l.maxConns {
		l.rejected.Add(1)
		return nil
	}
	c := newConn(l.ep, from, syn.Conn, l.cfg, false, now)
	c.established = true
	c.adoptPeer(syn)
	if !l.ep.add(c) {
		return nil
	}
	c.start()
	select {
	case l.accept <- c:
	default: // nobody accepts: refuse
		l.rejected.Add(1)
		c.mu.Lock()
		c.sendReset(ReasonFailed, now)
		c.fail(errors.New("arq: accept queue full"))
		c.mu.Unlock()
		go c.teardown()
		return nil
	}
	c.mu.Lock()
	c.sendCtl(TypeSynAck, now)
	c.mu.Unlock()
	return c
}

// Accept waits for the next connection.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.closed:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Addr returns the socket's address.
func (l *Listener) Addr() net.Addr { return l.ep.pc.LocalAddr() }

// Corrupt returns how many packets failed their checksum, and Stray how
// many were not arq packets or belonged to no connection.
func (l *Listener) Corrupt() uint64 { return l.ep.corrupt.Load() }

// Stray returns how many packets were dropped as not arq, malformed or
// for no known connection.
func (l *Listener) Stray() uint64 { return l.ep.stray.Load() }

// Close aborts every connection not yet closed, stops the reader and waits
// for every goroutine the listener started. The socket stays open.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.ep.mu.Lock()
		conns := make([]*Conn, 0, len(l.ep.conns))
		for _, c := range l.ep.conns {
			conns = append(conns, c)
		}
		l.ep.mu.Unlock()
		for _, c := range conns {
			c.Abort()
		}
		l.ep.close()
		for {
			select {
			case c := <-l.accept:
				c.Abort()
				continue
			default:
			}
			break
		}
	})
	return nil
}
