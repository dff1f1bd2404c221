package netem

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

// ProxyConfig configures a Proxy. The zero value of every field but Target
// works.
type ProxyConfig struct {
	// Target is where clients' datagrams go.
	Target netip.AddrPort
	// Up impairs datagrams from clients to Target; Down, the replies.
	Up, Down Config
	// Seed seeds every client's two PRNG streams: the n-th client (from
	// 0) draws stream 2n going up and 2n+1 coming down, so that decisions
	// are drawn per client and direction.
	Seed uint64
	// MaxClients bounds the client table (default 256). A datagram from a
	// new client while it is full is dropped and counted. Each client
	// costs a socket towards Target (its kernel buffers: ClientBuffers)
	// and a few KiB of memory; no datagram buffer is a client's own.
	MaxClients int
	// MaxHeldBytes bounds the memory held at once for delay, reordering
	// and rate limiting, over every client and both directions (default
	// DefaultMaxHeldBytes). A held datagram counts its buffer (at least 2
	// KiB: small ones share pooled buffers of that size) and its
	// bookkeeping. Past it, datagrams are dropped and counted
	// (Snapshot.DropHeld, cause "held"). Each link's own Limit and
	// LimitBytes still apply.
	MaxHeldBytes int
	// ClientBuffers is the SO_RCVBUF and SO_SNDBUF asked for each client's
	// socket towards Target (default: 256 MiB shared out over MaxClients,
	// at least 256 KiB, at most 4 MiB), so that the kernel memory of a full
	// table is bounded too.
	ClientBuffers int
	// Idle expires a client after this long without traffic either way
	// (default 60s), closing its upstream socket.
	Idle time.Duration
	// Batch is how many datagrams one system call moves (default 64 from
	// clients, 8 from Target per client).
	Batch int
	// Log, when not nil, receives every decision (dir "up" or "down").
	Log *Logger
	// Tap, when set, is told of every datagram the proxy reads or sends,
	// on either side, as it crosses a socket (udpchat proxy --pcap): the
	// side, whether it was sent, its addresses and its bytes (each segment
	// of a coalesced buffer on its own). It is called from several
	// goroutines and must not keep b.
	Tap func(side Side, sent bool, from, to netip.AddrPort, b []byte)
}

// Defaults for ProxyConfig.
const (
	DefaultMaxClients   = 256
	DefaultIdle         = 60 * time.Second
	DefaultMaxHeldBytes = 32 << 20
	// clientBufferBudget is shared out over MaxClients for their sockets'
	// kernel buffers.
	clientBufferBudget = 256 << 20
	// upBatch is the most datagrams one write to a client's socket towards
	// Target carries.
	upBatch = 16
	// readBuffers is how many receive buffers the clients' goroutines
	// share: a goroutine takes one only while its socket has something to
	// read, so this bounds their memory whatever the number of clients.
	readBuffers = 8
)

// Side is one side of a Proxy, for ProxyConfig.Tap.
type Side uint8

// Sides.
const (
	ClientSide Side = iota // the listening socket, between clients and the proxy
	ServerSide             // the upstream sockets, between the proxy and Target
)

// ProxyStats is what a Proxy did so far.
type ProxyStats struct {
	Up, Down Snapshot
	// Clients is the number of clients in the table now; ClientsSeen
	// counts every client ever mapped, Expired those removed for being
	// idle.
	Clients              int
	ClientsSeen, Expired uint64
	// Rejected counts datagrams dropped because the client table was full.
	Rejected uint64
	// Held is the memory held now for delayed, reordered and rate-limited
	// datagrams, MaxHeld its bound (ProxyConfig.MaxHeldBytes); the
	// datagrams dropped at the bound are counted in Up.DropHeld and
	// Down.DropHeld.
	Held, MaxHeld int64
	// RcvbufDrops counts datagrams the kernel dropped because a socket's
	// receive buffer was full: the listening socket (clients' datagrams)
	// and the clients' upstream sockets now open (replies), when the
	// system reports it (see dgram.KernelDrops).
	RcvbufDrops      uint64
	RcvbufDropsKnown bool
}

// Proxy forwards datagrams between clients and one target through impaired
// links, like a NAT: each client gets its own upstream socket, so the
// target's replies go back to the client they answer. Datagrams are read
// and written in batches (recvmmsg/sendmmsg) into buffers allocated once;
// an unimpaired or untimed direction forwards without copying, and held
// datagrams are released by one scheduler goroutine.
type Proxy struct {
	cfg   ProxyConfig
	ln    *net.UDPConn
	lnAt  netip.AddrPort // ln's address, for Tap
	sched *Scheduler
	up    Counters
	down  Counters
	dout  *downOut
	held  heldBudget

	// the clients' goroutines forward replies through one Batch on ln
	downMu   sync.Mutex
	downB    *dgram.Batch
	downMsgs []dgram.Message

	bufs chan []byte // readBuffers receive buffers (nil until first used)

	mu       sync.Mutex
	clients  map[netip.AddrPort]*mapping
	seen     uint64
	expired  atomic.Uint64
	rejected atomic.Uint64

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // client goroutines and the janitor
	serving   sync.WaitGroup // Serve
}

// mapping is one client's state.
type mapping struct {
	client   netip.AddrPort
	local    netip.AddrPort // conn's address, for Tap
	proxyAt  netip.AddrPort // the proxy's address the client wrote to, for Tap
	conn     *net.UDPConn   // connected to Target
	upB      *dgram.Batch   // writes conn, from Serve's goroutine
	up, down *Link
	last     atomic.Int64 // Unix ns of the last datagram either way
}

// NewProxy returns a Proxy that serves the clients of ln, a socket the
// caller opened and closes after Close. It validates both directions'
// configurations.
func NewProxy(ln *net.UDPConn, cfg ProxyConfig) (*Proxy, error) {
	if !cfg.Target.IsValid() {
		return nil, errors.New("netem: proxy needs a target address")
	}
	if err := cfg.Up.Validate(); err != nil {
		return nil, fmt.Errorf("up: %w", err)
	}
	if err := cfg.Down.Validate(); err != nil {
		return nil, fmt.Errorf("down: %w", err)
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.Idle <= 0 {
		cfg.Idle = DefaultIdle
	}
	if cfg.Batch <= 0 {
		cfg.Batch = dgram.DefaultBatch
	}
	if cfg.MaxHeldBytes <= 0 {
		cfg.MaxHeldBytes = DefaultMaxHeldBytes
	}
	if cfg.ClientBuffers <= 0 {
		cfg.ClientBuffers = min(4<<20, max(256<<10, clientBufferBudget/cfg.MaxClients))
	}
	p := &Proxy{cfg: cfg, ln: ln, lnAt: dgram.LocalAddrPort(ln), sched: NewScheduler(), clients: map[netip.AddrPort]*mapping{},
		closing: make(chan struct{}), bufs: make(chan []byte, readBuffers)}
	p.held.limit = int64(cfg.MaxHeldBytes)
	for range readBuffers {
		p.bufs <- nil // allocated on first use
	}
	w, err := dgram.NewBatch(ln, cfg.Batch)
	if err != nil {
		return nil, err
	}
	p.dout = &downOut{w: w, msgs: make([]dgram.Message, 0, cfg.Batch), c: &p.down, p: p}
	if p.downB, err = dgram.NewBatch(ln, cfg.Batch); err != nil {
		return nil, err
	}
	p.downMsgs = make([]dgram.Message, 0, cfg.Batch)
	_ = dgram.EnableGRO(ln) // coalesced reads where the kernel can; plain reads otherwise
	p.sched.Start()
	p.wg.Add(1)
	go p.janitor()
	return p, nil
}

// Serve forwards clients' datagrams until Close, then returns nil. It
// returns early only if reading the listening socket fails.
func (p *Proxy) Serve() error {
	p.serving.Add(1)
	defer p.serving.Done()
	select {
	case <-p.closing:
		return nil
	default:
	}
	rb, err := dgram.NewBatch(p.ln, p.cfg.Batch)
	if err != nil {
		return err
	}
	in := make([]dgram.Message, p.cfg.Batch)
	for i := range in {
		in[i].Buf = make([]byte, dgram.RecvBufferSize)
	}
	// out holds what goes to the current client's socket: slices of in,
	// written before in is read again.
	out := make([]dgram.Message, 0, upBatch)
	for {
		n, err := rb.Read(in)
		if err != nil {
			select {
			case <-p.closing:
				return nil
			default:
			}
			if errors.Is(err, dgram.ErrTimeout) {
				continue
			}
			return err
		}
		now := time.Now()
		var cur *mapping
		for i := range in[:n] {
			m := &in[i]
			mp := p.lookup(m.Addr, m.Local, now)
			if mp == nil {
				p.rejected.Add(uint64(m.Datagrams(m.N)))
				continue
			}
			if p.cfg.Tap != nil {
				for b := range m.All() {
					p.cfg.Tap(ClientSide, false, m.Addr, mp.proxyAt, b)
				}
			}
			if mp != cur {
				out = p.flushUp(cur, out)
				cur = mp
			}
			if mp.up.pass && m.Segment > 0 {
				// untouched: the coalesced buffer goes on as it came (GSO)
				mp.up.passed(m.Datagrams(m.N), m.N)
				out = append(out, dgram.Message{Buf: m.Buf[:m.N], Segment: m.Segment})
			} else {
				for b := range m.All() {
					if mp.up.timed() {
						mp.up.push(now, b, netip.AddrPort{})
						continue
					}
					for range mp.up.filter(b) {
						if len(out) == cap(out) {
							out = p.flushUp(mp, out)
						}
						out = append(out, dgram.Message{Buf: b})
					}
				}
			}
			if len(out) == cap(out) {
				out = p.flushUp(mp, out)
			}
		}
		out = p.flushUp(cur, out)
	}
}

// flushUp writes out to m's socket towards Target and returns out
// emptied.
func (p *Proxy) flushUp(m *mapping, out []dgram.Message) []dgram.Message {
	if m == nil || len(out) == 0 {
		return out[:0]
	}
	sent, err := m.upB.Write(out)
	if err != nil && errors.Is(err, dgram.ErrRefused) && sent < len(out) {
		// the refusal answers an earlier datagram: once more
		k, _ := m.upB.Write(out[sent:])
		sent += k
	}
	if p.cfg.Tap != nil {
		for i := range out[:sent] {
			for b := range out[i].Split() {
				p.cfg.Tap(ServerSide, true, m.local, p.cfg.Target, b)
			}
		}
	}
	// Target refused (ICMP port unreachable) or the mapping expired: the
	// rest is lost, as on the network.
	for _, d := range out[sent:] {
		m.up.c.OutErrors.Add(uint64(d.Datagrams(len(d.Buf))))
	}
	clear(out)
	return out[:0]
}

// lookup finds or creates the client's mapping; nil when the table is full.
func (p *Proxy) lookup(client, contacted netip.AddrPort, now time.Time) *mapping {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m := p.clients[client]; m != nil {
		m.last.Store(now.UnixNano())
		return m
	}
	if len(p.clients) >= p.cfg.MaxClients {
		return nil
	}
	select {
	case <-p.closing:
		return nil
	default:
	}
	conn, err := dgram.DialAddrPort(p.cfg.Target, netip.AddrPort{})
	if err != nil {
		return nil
	}
	_, _, _ = dgram.SetBuffers(conn, p.cfg.ClientBuffers, p.cfg.ClientBuffers)
	_ = dgram.EnableGRO(conn)
	upB, err := dgram.NewBatch(conn, upBatch)
	if err != nil {
		conn.Close()
		return nil
	}
	idx := p.seen
	p.seen++
	m := &mapping{client: client, conn: conn, upB: upB, local: dgram.LocalAddrPort(conn), proxyAt: contacted}
	if !m.proxyAt.IsValid() {
		m.proxyAt = p.lnAt
	}
	name := client.String()
	m.up = newLink("up", name, p.cfg.Up, p.cfg.Seed, 2*idx, &p.up, p.sched, upOut{m, p}, p.cfg.Log)
	m.down = newLink("down", name, p.cfg.Down, p.cfg.Seed, 2*idx+1, &p.down, p.sched, p.dout, p.cfg.Log)
	m.up.budget, m.down.budget = &p.held, &p.held
	m.last.Store(now.UnixNano())
	p.clients[client] = m
	p.wg.Add(1)
	go p.serveDown(m)
	return m
}

// serveDown forwards Target's replies to one client until its socket is
// closed. It holds no buffer while it waits: it takes one of the proxy's
// shared receive buffers once its socket is readable, reads what is
// queued, and gives the buffer back.
func (p *Proxy) serveDown(m *mapping) {
	defer p.wg.Done()
	rb, err := dgram.NewBatch(m.conn, 1)
	if err != nil {
		return
	}
	rc, err := m.conn.SyscallConn()
	if err != nil {
		return
	}
	in := []dgram.Message{{}}
	for {
		if peekWait {
			refused, err := waitReadable(rc)
			if err != nil {
				return // closed
			}
			if refused {
				m.up.c.OutErrors.Add(1) // Target answered ICMP port unreachable
				continue
			}
		}
		buf, ok := p.takeBuffer()
		if !ok {
			return // closing
		}
		in[0].Buf = buf
		closed := false
		for i := range 64 { // what is queued now, then the buffer goes back
			var n int
			var err error
			if i == 0 && !peekWait {
				n, err = rb.Read(in) // waiting, with the buffer
			} else {
				n, err = rb.TryRead(in)
			}
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					closed = true
					break
				}
				if errors.Is(err, dgram.ErrRefused) {
					m.up.c.OutErrors.Add(1) // Target answered ICMP port unreachable
					continue
				}
				closed = true
				break
			}
			if n == 0 {
				break
			}
			p.forwardDown(m, &in[0], time.Now())
		}
		in[0].Buf = nil
		p.bufs <- buf
		if closed {
			return
		}
	}
}

// takeBuffer waits for one of the shared receive buffers; ok is false
// when the proxy is closing.
func (p *Proxy) takeBuffer() (buf []byte, ok bool) {
	select {
	case buf = <-p.bufs:
	case <-p.closing:
		return nil, false
	}
	if buf == nil {
		buf = make([]byte, dgram.RecvBufferSize)
	}
	return buf, true
}

// forwardDown passes a message Target sent to m's client through the
// down link.
func (p *Proxy) forwardDown(m *mapping, msg *dgram.Message, now time.Time) {
	m.last.Store(now.UnixNano())
	if p.cfg.Tap != nil {
		for b := range msg.All() {
			p.cfg.Tap(ServerSide, false, msg.Addr, m.local, b)
		}
	}
	p.downMu.Lock()
	defer p.downMu.Unlock()
	out := p.downMsgs[:0]
	if m.down.pass && msg.Segment > 0 {
		m.down.passed(msg.Datagrams(msg.N), msg.N)
		out = append(out, dgram.Message{Buf: msg.Buf[:msg.N], Segment: msg.Segment, Addr: m.client})
	} else {
		for b := range msg.All() {
			if m.down.timed() {
				m.down.push(now, b, m.client)
				continue
			}
			for range m.down.filter(b) {
				if len(out) == cap(out) {
					out = p.writeDown(out)
				}
				out = append(out, dgram.Message{Buf: b, Addr: m.client})
			}
		}
	}
	p.downMsgs = p.writeDown(out)
}

// writeDown sends out on the listening socket (with downMu held) and
// returns it emptied.
func (p *Proxy) writeDown(out []dgram.Message) []dgram.Message {
	// A datagram the kernel refuses (a client of port 0, whose source was
	// forged; no route back) is lost alone: the other clients' datagrams
	// of the batch still go.
	for rest := out; len(rest) > 0; {
		sent, err := p.downB.Write(rest)
		p.tapDown(rest[:sent])
		rest = rest[sent:]
		if len(rest) == 0 {
			break
		}
		k := 1
		if errors.Is(err, net.ErrClosed) || err == nil {
			k = len(rest) // closed, or a Write that broke its contract
		}
		for _, d := range rest[:k] {
			p.down.OutErrors.Add(uint64(d.Datagrams(len(d.Buf))))
		}
		rest = rest[k:]
	}
	clear(out)
	return out[:0]
}

// upOut sends released datagrams to Target on one client's socket.
type upOut struct {
	m *mapping
	p *Proxy
}

func (u upOut) send(items []*item) {
	for _, it := range items {
		if _, err := u.m.conn.Write(it.buf); err != nil {
			it.link.c.OutErrors.Add(1)
			continue
		}
		if u.p.cfg.Tap != nil {
			u.p.cfg.Tap(ServerSide, true, u.m.local, u.p.cfg.Target, it.buf)
		}
	}
}

// tapDown tells Tap of datagrams sent to clients.
func (p *Proxy) tapDown(sent []dgram.Message) {
	if p.cfg.Tap == nil {
		return
	}
	for i := range sent {
		from := p.lnAt
		p.mu.Lock()
		if m := p.clients[sent[i].Addr]; m != nil {
			from = m.proxyAt
		}
		p.mu.Unlock()
		for b := range sent[i].Split() {
			p.cfg.Tap(ClientSide, true, from, sent[i].Addr, b)
		}
	}
}

// downOut sends released datagrams to their clients on the listening
// socket, in batches; only the scheduler goroutine uses it.
type downOut struct {
	w    *dgram.Batch
	msgs []dgram.Message
	c    *Counters
	p    *Proxy
}

func (d *downOut) send(items []*item) {
	d.msgs = d.msgs[:0]
	for _, it := range items {
		d.msgs = append(d.msgs, dgram.Message{Buf: it.buf, Addr: it.dst})
	}
	sent, err := d.w.Write(d.msgs)
	if err != nil {
		d.c.OutErrors.Add(uint64(len(d.msgs) - sent))
	}
	d.p.tapDown(d.msgs[:sent])
	clear(d.msgs)
}

// janitor expires idle clients.
func (p *Proxy) janitor() {
	defer p.wg.Done()
	every := min(p.cfg.Idle/4, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.closing:
			return
		case now := <-t.C:
			p.expire(now)
		}
	}
}

func (p *Proxy) expire(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, m := range p.clients {
		if now.Sub(time.Unix(0, m.last.Load())) >= p.cfg.Idle {
			delete(p.clients, c)
			m.conn.Close()
			p.expired.Add(1)
		}
	}
}

// Close stops serving: it wakes Serve and waits for it, closes every
// client's upstream socket, discards what the links still hold, and waits
// for every goroutine the Proxy started. The listening socket stays open:
// it belongs to the caller. Close is idempotent.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		_ = p.ln.SetReadDeadline(time.Unix(1, 0)) // wake Serve
		p.serving.Wait()
		_ = p.ln.SetReadDeadline(time.Time{})
		p.mu.Lock()
		for c, m := range p.clients {
			m.conn.Close()
			delete(p.clients, c)
		}
		p.mu.Unlock()
		p.wg.Wait()
		p.sched.Close()
	})
	return nil
}

// Stats returns the counters so far.
func (p *Proxy) Stats() ProxyStats {
	s := ProxyStats{Up: p.up.Snapshot(), Down: p.down.Snapshot(), Expired: p.expired.Load(), Rejected: p.rejected.Load(),
		Held: p.held.used.Load(), MaxHeld: p.held.limit}
	s.RcvbufDrops, s.RcvbufDropsKnown = dgram.KernelDrops(p.ln)
	p.mu.Lock()
	defer p.mu.Unlock()
	s.Clients, s.ClientsSeen = len(p.clients), p.seen
	for _, m := range p.clients {
		if d, ok := dgram.KernelDrops(m.conn); ok {
			s.RcvbufDrops += d
		}
	}
	return s
}
