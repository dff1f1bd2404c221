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
	"syscall"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

type connKey struct {
	addr netip.AddrPort
	id   uint32
}

// endpoint is one socket's side of arq: it reads every packet, checks it,
// hands it to its connection (or, for a Listener, answers the handshake),
// and writes what the connections send, in batches (with UDP GSO where
// the socket allows).
type endpoint struct {
	pc        net.PacketConn
	udp       *net.UDPConn
	connected bool // pc is a connected socket: writes go to its peer

	wmu     sync.Mutex
	w       *dgram.Writer // for a *net.UDPConn
	scratch []byte
	werr    error // a refusal the last flush met

	mu    sync.Mutex
	conns map[connKey]*Conn
	ln    *Listener

	corrupt   atomic.Uint64 // bad checksum
	notArq    atomic.Uint64 // not an arq packet at all
	malformed atomic.Uint64 // an arq type, but not a valid packet
	unknown   atomic.Uint64 // for no connection we know

	stopping chan struct{}
	stopOnce sync.Once
	readDone chan struct{}
}

func newEndpoint(pc net.PacketConn) (*endpoint, error) {
	ep := &endpoint{pc: pc, conns: map[connKey]*Conn{}, stopping: make(chan struct{}), readDone: make(chan struct{})}
	if u, ok := pc.(*net.UDPConn); ok {
		ep.udp = u
		ep.connected = u.RemoteAddr() != nil
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
// other PacketConn).
func (ep *endpoint) send(p *Packet, to netip.AddrPort) {
	ep.wmu.Lock()
	defer ep.wmu.Unlock()
	ep.scratch = p.Append(ep.scratch[:0])
	if ep.connected {
		to = netip.AddrPort{}
	}
	if ep.w != nil {
		if _, _, err := ep.w.Add(ep.scratch, to); err != nil {
			ep.noteWriteErr(err)
		}
		return
	}
	if _, err := ep.pc.WriteTo(ep.scratch, net.UDPAddrFromAddrPort(to)); err != nil {
		ep.noteWriteErr(err)
	}
}

// noteWriteErr keeps a refusal (ICMP port unreachable, reported on a
// connected socket) for the next flush to return. Other send errors are
// not reported: a lost packet is recovered like any loss, and a peer that
// is gone shows as silence. Called with ep.wmu held.
func (ep *endpoint) noteWriteErr(err error) {
	if ep.werr == nil && isRefused(err) {
		ep.werr = err
	}
}

func isRefused(err error) bool {
	return errors.Is(err, dgram.ErrRefused) || errors.Is(err, syscall.ECONNREFUSED)
}

// refusedErr is the error of a connection whose peer's host answered ICMP
// port unreachable: the same as a plain `send --wait` gets.
func refusedErr(peer netip.AddrPort, cause error) error {
	return &dgram.Error{Op: "send", Addr: peer.String(), Kind: dgram.ErrRefused, Err: cause}
}

// flush writes what send queued. It returns a refusal (ICMP port
// unreachable) met since the last flush: the cause of the error the
// connection ends with.
func (ep *endpoint) flush() error {
	ep.wmu.Lock()
	defer ep.wmu.Unlock()
	if ep.w != nil {
		if _, _, err := ep.w.Flush(); err != nil {
			ep.noteWriteErr(err)
		}
	}
	err := ep.werr
	ep.werr = nil
	return err
}

func (ep *endpoint) add(c *Conn) bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	k := connKey{c.peer, c.ID()}
	if _, dup := ep.conns[k]; dup {
		return false
	}
	ep.conns[k] = c
	return true
}

func (ep *endpoint) remove(c *Conn) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if k := (connKey{c.peer, c.ID()}); ep.conns[k] == c {
		delete(ep.conns, k)
	}
}

func (ep *endpoint) count() int {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return len(ep.conns)
}

func (ep *endpoint) lookup(addr netip.AddrPort, id uint32) *Conn {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.conns[connKey{addr, id}]
}

func (ep *endpoint) all() []*Conn {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	conns := make([]*Conn, 0, len(ep.conns))
	for _, c := range ep.conns {
		conns = append(conns, c)
	}
	return conns
}

// reader is the state of the endpoint's reading goroutine.
type reader struct {
	ep      *endpoint
	pkt     Packet
	gate    *Gate // a Listener's handshake, owned by the reader
	touched []*Conn
}

// dispatch handles one datagram.
func (r *reader) dispatch(b []byte, from netip.AddrPort, now time.Time) {
	ep := r.ep
	if !IsArq(b) {
		ep.notArq.Add(1)
		return
	}
	p := &r.pkt
	if err := Decode(b, p); err != nil {
		if errors.Is(err, ErrChecksum) {
			ep.corrupt.Add(1)
		} else {
			ep.malformed.Add(1)
		}
		return
	}
	c := ep.lookup(from, p.Conn)
	if c == nil {
		if ep.ln == nil || !ep.ln.handshake(r, p, from, now) {
			ep.unknown.Add(1)
		}
		return
	}
	c.receive(p, now)
	for _, t := range r.touched {
		if t == c {
			return
		}
	}
	r.touched = append(r.touched, c)
}

// finish answers, once per batch, what the batch's packets asked for.
func (r *reader) finish(now time.Time) {
	for i, c := range r.touched {
		c.afterBatch(now)
		r.touched[i] = nil
	}
	r.touched = r.touched[:0]
	_ = r.ep.flush()
}

// readLoop reads packets until the endpoint is closed.
func (ep *endpoint) readLoop() {
	defer close(ep.readDone)
	r := &reader{ep: ep}
	if ep.ln != nil {
		r.gate = NewGate(ep.ln.cfg, ep.ln.secret[:])
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
				ep.readError(err)
				continue
			}
			now := time.Now()
			for i := range msgs[:n] {
				m := &msgs[i]
				from := netip.AddrPortFrom(m.Addr.Addr().Unmap(), m.Addr.Port())
				for d := range m.All() {
					r.dispatch(d, from, now)
				}
			}
			r.finish(now)
		}
	}
	buf := make([]byte, dgram.RecvBufferSize)
	for {
		n, addr, err := ep.pc.ReadFrom(buf)
		if err != nil {
			if ep.stopped() || errors.Is(err, net.ErrClosed) {
				return
			}
			ep.readError(err)
			continue
		}
		ua, ok := addr.(*net.UDPAddr)
		if !ok {
			ep.notArq.Add(1)
			continue
		}
		from := ua.AddrPort()
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		now := time.Now()
		r.dispatch(buf[:n], from, now)
		r.finish(now)
	}
}

// readError handles an error of a read: a refusal (ICMP port unreachable
// on a connected socket) ends the connections; anything else is
// transient, and reading goes on.
func (ep *endpoint) readError(err error) {
	if !isRefused(err) {
		return
	}
	for _, c := range ep.all() {
		c.fail(refusedErr(c.peer, err))
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
		_ = ep.flush()
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
// random connection ID, echoes the server's cookie, and returns once the
// server answered it; it retransmits on the RFC 6298 timer until the
// server answers, IdleTimeout passes, or ctx ends.
//
// On a connected socket (net.DialUDP), an ICMP port unreachable from the
// peer's host ends the connection at once, with a *dgram.Error whose Kind
// is dgram.ErrRefused.
func Dial(ctx context.Context, pc net.PacketConn, raddr netip.AddrPort, cfg Config) (*Conn, error) {
	raddr = netip.AddrPortFrom(raddr.Addr().Unmap(), raddr.Port())
	now := time.Now()
	m, err := NewClient(cfg, randomID(), now)
	if err != nil {
		return nil, err
	}
	ep, err := newEndpoint(pc)
	if err != nil {
		return nil, err
	}
	c := newConn(ep, raddr, m)
	c.ownsEP = true
	ep.add(c)
	go ep.readLoop()
	c.start()
	stop := context.AfterFunc(ctx, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer stop()
	c.mu.Lock()
	c.output(now)
	for !c.m.Established() && !c.m.Done() && ctx.Err() == nil {
		c.cond.Wait()
	}
	err = c.m.Err()
	established := c.m.Established() && !c.m.Done()
	c.mu.Unlock()
	if !established {
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			err = ErrClosed
		}
		c.Abort()
		return nil, err
	}
	return c, nil
}
