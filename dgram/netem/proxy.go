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
	// new client while it is full is dropped and counted.
	MaxClients int
	// Idle expires a client after this long without traffic either way
	// (default 60s), closing its upstream socket.
	Idle time.Duration
	// Batch is how many datagrams one system call moves (default 64 from
	// clients, 8 from Target per client).
	Batch int
	// Log, when not nil, receives every decision (dir "up" or "down").
	Log *Logger
}

// Defaults for ProxyConfig.
const (
	DefaultMaxClients = 256
	DefaultIdle       = 60 * time.Second
	downBatch         = 4
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
	sched *Scheduler
	up    Counters
	down  Counters
	dout  *downOut

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
	conn     *net.UDPConn  // connected to Target
	upW      *dgram.Writer // writes conn, from Serve's goroutine
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
	p := &Proxy{cfg: cfg, ln: ln, sched: NewScheduler(), clients: map[netip.AddrPort]*mapping{},
		closing: make(chan struct{})}
	w, err := dgram.NewBatch(ln, cfg.Batch)
	if err != nil {
		return nil, err
	}
	p.dout = &downOut{w: w, msgs: make([]dgram.Message, 0, cfg.Batch), c: &p.down}
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
			mp := p.lookup(m.Addr, now)
			if mp == nil {
				p.rejected.Add(uint64(m.Datagrams(m.N)))
				continue
			}
			if mp != cur {
				p.flushUp(cur)
				cur = mp
			}
			forEachDatagram(m, func(b []byte) {
				if mp.up.timed() {
					mp.up.push(now, b, netip.AddrPort{})
					return
				}
				for range mp.up.filter(b) {
					_, failed, _ := mp.upW.Add(b, netip.AddrPort{})
					mp.up.c.OutErrors.Add(uint64(failed))
				}
			})
		}
		p.flushUp(cur)
	}
}

// forEachDatagram calls f with each datagram of a received message: one,
// or the segments of a coalesced (GRO) buffer.
func forEachDatagram(m *dgram.Message, f func([]byte)) {
	for d := range m.All() {
		f(d)
	}
}

func (p *Proxy) flushUp(m *mapping) {
	if m == nil {
		return
	}
	// Target refused (ICMP port unreachable) or the mapping expired: the
	// rest is lost, as on the network.
	_, failed, _ := m.upW.Flush()
	m.up.c.OutErrors.Add(uint64(failed))
}

// lookup finds or creates the client's mapping; nil when the table is full.
func (p *Proxy) lookup(client netip.AddrPort, now time.Time) *mapping {
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
	_, _, _ = dgram.SetBuffers(conn, 4<<20, 4<<20)
	_ = dgram.EnableGRO(conn)
	upW, err := dgram.NewWriter(conn, p.cfg.Batch, true)
	if err != nil {
		conn.Close()
		return nil
	}
	idx := p.seen
	p.seen++
	m := &mapping{client: client, conn: conn, upW: upW}
	name := client.String()
	m.up = newLink("up", name, p.cfg.Up, p.cfg.Seed, 2*idx, &p.up, p.sched, upOut{m}, p.cfg.Log)
	m.down = newLink("down", name, p.cfg.Down, p.cfg.Seed, 2*idx+1, &p.down, p.sched, p.dout, p.cfg.Log)
	m.last.Store(now.UnixNano())
	p.clients[client] = m
	p.wg.Add(1)
	go p.serveDown(m)
	return m
}

// serveDown forwards Target's replies to one client until its socket is
// closed.
func (p *Proxy) serveDown(m *mapping) {
	defer p.wg.Done()
	rb, err := dgram.NewBatch(m.conn, downBatch)
	if err != nil {
		return
	}
	w, err := dgram.NewWriter(p.ln, p.cfg.Batch, true)
	if err != nil {
		return
	}
	in := make([]dgram.Message, downBatch)
	for i := range in {
		in[i].Buf = make([]byte, dgram.RecvBufferSize)
	}
	for {
		n, err := rb.Read(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, dgram.ErrRefused) {
				m.up.c.OutErrors.Add(1) // Target answered ICMP port unreachable
				continue
			}
			return
		}
		now := time.Now()
		m.last.Store(now.UnixNano())
		for i := range in[:n] {
			forEachDatagram(&in[i], func(b []byte) {
				if m.down.timed() {
					m.down.push(now, b, m.client)
					return
				}
				for range m.down.filter(b) {
					_, failed, _ := w.Add(b, m.client)
					m.down.c.OutErrors.Add(uint64(failed))
				}
			})
		}
		_, failed, _ := w.Flush()
		m.down.c.OutErrors.Add(uint64(failed))
	}
}

// upOut sends released datagrams to Target on one client's socket.
type upOut struct{ m *mapping }

func (u upOut) send(items []*item) {
	for _, it := range items {
		if _, err := u.m.conn.Write(it.buf); err != nil {
			it.link.c.OutErrors.Add(1)
		}
	}
}

// downOut sends released datagrams to their clients on the listening
// socket, in batches; only the scheduler goroutine uses it.
type downOut struct {
	w    *dgram.Batch
	msgs []dgram.Message
	c    *Counters
}

func (d *downOut) send(items []*item) {
	d.msgs = d.msgs[:0]
	for _, it := range items {
		d.msgs = append(d.msgs, dgram.Message{Buf: it.buf, Addr: it.dst})
	}
	if sent, err := d.w.Write(d.msgs); err != nil {
		d.c.OutErrors.Add(uint64(len(d.msgs) - sent))
	}
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
	s := ProxyStats{Up: p.up.Snapshot(), Down: p.down.Snapshot(), Expired: p.expired.Load(), Rejected: p.rejected.Load()}
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
