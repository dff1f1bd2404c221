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
	"github.com/udpchat/udpchat/dgram/seq"
)

type connKey struct {
	addr netip.AddrPort
	id   uint32
}

// endpoint is one socket's side of arq: it reads every packet, checks it,
// hands it to its connection (or, for a Listener, answers the handshake),
// and writes what the connections send, in batches. It talks to the
// socket through dgram.BatchConn, so a plain UDP socket, or a wrapper
// that batches, keeps batched system calls and UDP GSO/GRO, and a socket
// bound to a wildcard address answers each peer from the address that
// peer contacted.
type endpoint struct {
	pc        net.PacketConn  // the caller's: never closed here
	bc        dgram.BatchConn // pc's batch interface
	connected bool            // pc is a connected socket: writes go to its peer

	wmu     sync.Mutex
	w       *dgram.Writer
	scratch []byte
	werr    error // a refusal a write met, for the next flush

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
		ep.connected = u.RemoteAddr() != nil
		_, _, _ = dgram.SetBuffers(u, 8<<20, 8<<20)
	}
	// The batch interface does not close pc unless closed itself, which
	// the endpoint never does: pc stays the caller's.
	bc, err := dgram.AsBatchConn(pc, dgram.ConnConfig{Dst: true, GRO: true})
	if err != nil {
		return nil, err
	}
	ep.bc = bc
	ep.w = dgram.NewBatchWriter(bc, dgram.DefaultBatch, true)
	// A full receive buffer drops a coalesced buffer whole: keep bursts
	// small enough that SACK, not the timer, recovers from one.
	ep.w.SetMaxSegments(32)
	return ep, nil
}

// path is where a connection's packets go: the peer, and the local
// address (and interface) the peer contacted, which replies leave from.
type path struct {
	peer    netip.AddrPort
	local   netip.AddrPort
	ifIndex int
}

// send encodes p and queues it for the peer of pt.
func (ep *endpoint) send(p *Packet, pt *path) {
	ep.wmu.Lock()
	defer ep.wmu.Unlock()
	b := p.Encode(ep.scratch[:0])
	if p.frame == nil {
		ep.scratch = b
	}
	to := pt.peer
	if ep.connected {
		to = netip.AddrPort{}
	}
	if _, _, err := ep.w.AddFrom(b, to, pt.local, pt.ifIndex); err != nil {
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
	if _, _, err := ep.w.Flush(); err != nil {
		ep.noteWriteErr(err)
	}
	err := ep.werr
	ep.werr = nil
	return err
}

func (ep *endpoint) add(c *Conn) bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	k := connKey{c.path.peer, c.ID()}
	if _, dup := ep.conns[k]; dup {
		return false
	}
	ep.conns[k] = c
	return true
}

func (ep *endpoint) remove(c *Conn) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if k := (connKey{c.path.peer, c.ID()}); ep.conns[k] == c {
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
	// Within a batch, the connection the last packet went to stays
	// locked, and found, while the packets that follow are its own: a
	// batch of a bulk transfer is one connection's, and locking (and
	// looking it up) per packet cost as much as handling it.
	cur    *Conn
	curKey connKey
}

// unlock releases the connection the reader holds, if any.
func (r *reader) unlock() {
	if r.cur != nil {
		r.cur.mu.Unlock()
		r.cur = nil
	}
}

// dispatch handles one datagram that came from pt.peer to pt.local.
func (r *reader) dispatch(b []byte, pt *path, now time.Time) {
	ep := r.ep
	if !IsArq(b) {
		ep.notArq.Add(1)
		r.stray(pt, b, "not arq")
		return
	}
	p := &r.pkt
	if err := Decode(b, p); err != nil {
		if errors.Is(err, ErrChecksum) {
			ep.corrupt.Add(1)
			// A connection counts the corrupt packets that came from
			// its peer and name it (the ID may itself be what was
			// corrupted: then the socket's count alone has it), not the
			// junk anyone else sends to the socket.
			if c := ep.lookup(pt.peer, binary.BigEndian.Uint32(b[seq.HeaderLen:])); c != nil {
				c.corrupt.Add(1)
			}
			r.stray(pt, b, "corrupt")
		} else {
			ep.malformed.Add(1)
			r.stray(pt, b, "malformed")
		}
		return
	}
	if k := (connKey{pt.peer, p.Conn}); r.cur != nil && k == r.curKey {
		r.cur.m.Receive(p, now)
		return // touched already
	}
	r.unlock()
	c := ep.lookup(pt.peer, p.Conn)
	if c == nil {
		if ep.ln == nil || !ep.ln.handshake(r, p, pt, now) {
			ep.unknown.Add(1)
			r.stray(pt, b, "unknown connection")
		}
		return
	}
	c.mu.Lock()
	r.cur, r.curKey = c, connKey{pt.peer, p.Conn}
	c.m.Receive(p, now)
	for _, t := range r.touched {
		if t == c {
			return
		}
	}
	r.touched = append(r.touched, c)
}

func (r *reader) stray(pt *path, b []byte, why string) {
	r.unlock()
	if r.ep.ln != nil && r.ep.ln.cfg.OnStray != nil {
		r.ep.ln.cfg.OnStray(pt.peer, len(b), why)
	}
}

// finish answers, once per batch, what the batch's packets asked for.
func (r *reader) finish(now time.Time) {
	r.unlock()
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
	msgs := make([]dgram.Message, dgram.DefaultBatch)
	for i := range msgs {
		msgs[i].Buf = make([]byte, dgram.RecvBufferSize)
	}
	for {
		n, err := ep.bc.ReadBatch(msgs)
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
			if m.Truncated {
				ep.malformed.Add(1)
				continue
			}
			pt := path{peer: netip.AddrPortFrom(m.Addr.Addr().Unmap(), m.Addr.Port()), local: m.Local, ifIndex: m.IfIndex}
			for d := range m.All() {
				r.dispatch(d, &pt, now)
			}
		}
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
		c.fail(refusedErr(c.path.peer, err))
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
	c := newConn(ep, path{peer: raddr}, m)
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
