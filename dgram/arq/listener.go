package arq

import (
	"context"
	"crypto/rand"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Listener accepts arq connections on one socket; every connection
// answers from that socket (no port per transfer), so it works through
// NATs and proxies.
//
// It keeps nothing for a client until the client has proved that it
// receives at its address: a SYN gets a SYN-ACK with a cookie and costs
// nothing else; the connection exists once the client echoes the cookie
// (see the package doc). Its connections are bounded (Config.MaxConns,
// AcceptQueue) and so is the memory they hold all together
// (Config.MaxBuffered).
type Listener struct {
	ep     *endpoint
	cfg    Config
	accept chan *Conn
	closed chan struct{}
	once   sync.Once
	secret [32]byte
	bud    *budget

	synAcks    atomic.Uint64
	badCookies atomic.Uint64
	refused    atomic.Uint64
	accepted   atomic.Uint64
}

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
	l := &Listener{ep: ep, cfg: cfg, accept: make(chan *Conn, cfg.AcceptQueue), closed: make(chan struct{}),
		bud: newBudget(cfg.MaxBuffered)}
	_, _ = rand.Read(l.secret[:])
	ep.ln = l
	go ep.readLoop()
	return l, nil
}

func (l *Listener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// handshake answers a packet for no known connection: a SYN gets a
// SYN-ACK with a cookie, a COOKIE with a good cookie becomes a connection.
// It reports whether the packet was part of a handshake. Called from the
// reader.
func (l *Listener) handshake(r *reader, p *Packet, pt *path, now time.Time) bool {
	if l.isClosed() {
		return false
	}
	switch p.Type {
	case TypeSyn:
		var ack Packet
		r.gate.SynAck(p, pt.peer, now, &ack)
		l.ep.send(&ack, pt)
		l.synAcks.Add(1)
		return true
	case TypeCookie:
		if !r.gate.Check(p, pt.peer, now) {
			l.badCookies.Add(1)
			return true
		}
		l.open(p, *pt, now)
		return true
	}
	return false
}

// open makes the connection of a client that proved its address. Only
// the reader sends on l.accept, so a free slot seen here stays free.
func (l *Listener) open(p *Packet, pt path, now time.Time) {
	if l.ep.count() >= l.cfg.MaxConns || len(l.accept) == cap(l.accept) {
		l.refuse(p.Conn, &pt, ReasonFull, now)
		return
	}
	m, err := newServer(l.cfg, p.Conn, p.Window, p.MSS, now, l.bud)
	if err != nil {
		return
	}
	c := newConn(l.ep, pt, m)
	if !l.ep.add(c) {
		m.releaseAll()
		return
	}
	c.start()
	c.afterBatch(now) // acknowledge the cookie
	l.accepted.Add(1)
	l.accept <- c
}

func (l *Listener) refuse(id uint32, pt *path, reason uint8, now time.Time) {
	l.refused.Add(1)
	rst := Packet{Type: TypeReset, Conn: id, Sent: now.UnixNano(), Reason: reason}
	l.ep.send(&rst, pt)
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

// ListenerStats counts what a Listener saw besides its connections' own
// traffic.
type ListenerStats struct {
	NotArq     uint64 // datagrams that are not arq packets at all
	Malformed  uint64 // arq types that do not decode
	Corrupt    uint64 // arq packets whose CRC-32C failed
	Unknown    uint64 // valid packets for no connection (strays of old transfers, spoofs)
	SynAcks    uint64 // SYNs answered (statelessly)
	BadCookies uint64 // COOKIE packets with a cookie we did not mint, or too old
	Accepted   uint64 // connections opened
	Refused    uint64 // clients refused: MaxConns or the accept queue full
	Conns      int    // connections open now
	Buffered   int64  // bytes its connections hold received and unread
	MemDrops   uint64 // times a connection was refused memory from MaxBuffered
}

// Stats returns the Listener's counters.
func (l *Listener) Stats() ListenerStats {
	return ListenerStats{NotArq: l.ep.notArq.Load(), Malformed: l.ep.malformed.Load(), Corrupt: l.ep.corrupt.Load(),
		Unknown: l.ep.unknown.Load(), SynAcks: l.synAcks.Load(), BadCookies: l.badCookies.Load(),
		Accepted: l.accepted.Load(), Refused: l.refused.Load(), Conns: l.ep.count(), Buffered: l.bud.Used(),
		MemDrops: l.bud.dropped.Load()}
}

// Corrupt returns how many packets failed their checksum.
func (l *Listener) Corrupt() uint64 { return l.ep.corrupt.Load() }

// Stray returns how many packets were dropped as not arq, malformed or
// for no known connection.
func (l *Listener) Stray() uint64 {
	return l.ep.notArq.Load() + l.ep.malformed.Load() + l.ep.unknown.Load()
}

// Close aborts every connection not yet closed, stops the reader and waits
// for every goroutine the listener started. The socket stays open.
func (l *Listener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		for _, c := range l.ep.all() {
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
