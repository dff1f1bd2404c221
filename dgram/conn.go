package dgram

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
)

// BatchConn is a datagram connection that moves many datagrams per call,
// with their addresses and metadata. *Conn (a UDP socket), seal.Conn and
// netem.Conn implement it, so that code written against it keeps batched
// system calls and UDP GSO/GRO through sealing and impairment. Code that
// is handed a net.PacketConn picks the fast path with an interface check,
// as AsBatchConn does.
//
// ReadBatch and WriteBatch may be called concurrently with each other; two
// concurrent ReadBatch (or WriteBatch) calls are serialised.
type BatchConn interface {
	net.PacketConn
	// ReadBatch waits for at least one datagram (until the read deadline)
	// and fills up to len(ms) messages with those already queued, as
	// Message describes: N, Addr, and what metadata the connection knows.
	// It returns how many it filled. A truncated datagram is reported
	// (Message.Truncated), never silently cut.
	ReadBatch(ms []Message) (int, error)
	// WriteBatch sends every message of ms, in order, in as few calls as
	// it can, and returns how many were sent: len(ms), or fewer with the
	// error that stopped it.
	WriteBatch(ms []Message) (int, error)
}

// ConnConfig configures NewConn. Its zero value moves DefaultBatch
// messages per call and asks the kernel for no extra metadata.
type ConnConfig struct {
	// Batch is the most messages one system call moves (0: DefaultBatch).
	Batch int
	// Dst asks for each datagram's destination address and interface
	// (Message.Local, IfIndex) on a socket bound to a wildcard address,
	// where only the kernel knows it (EnableDst). Servers need it to
	// answer from the address each peer contacted. On a socket bound to
	// one address, Local is that address whatever Dst says.
	Dst bool
	// TTL asks for each datagram's TTL or hop limit (Message.TTL).
	TTL bool
	// Drops asks for the kernel's receive-buffer drop counter on each
	// datagram (Message.Drops, SO_RXQ_OVFL). Conn.Drops reads the same
	// counter at any time without it, where the kernel has SO_MEMINFO.
	Drops bool
	// GRO asks the kernel to coalesce received datagrams (UDP_GRO):
	// reads then may return several datagrams in one Message (Segment).
	// Where the kernel cannot, reads stay one datagram per Message
	// (Conn.GRO says which).
	GRO bool
	// Logger receives debug messages (GSO turned off after a failure);
	// nil means slog.Default().
	Logger *slog.Logger
	// Tracer, when set, is told of every recvmmsg and sendmmsg (Tracer).
	Tracer Tracer
}

// Conn is a UDP socket with batched I/O and per-datagram metadata: the
// BatchConn of a *net.UDPConn. It embeds the socket, so it is also a
// net.PacketConn and has every method of *net.UDPConn; ReadBatch and
// WriteBatch add recvmmsg/sendmmsg (Linux), UDP GSO with a fallback, and
// the destination address of each datagram, so that a server bound to a
// wildcard address answers from the address each peer contacted.
type Conn struct {
	*net.UDPConn
	cfg ConnConfig
	gro bool

	rmu sync.Mutex
	rb  *Batch
	wmu sync.Mutex
	wb  *Batch
}

var (
	_ BatchConn      = (*Conn)(nil)
	_ net.PacketConn = (*Conn)(nil)
)

// NewConn returns c with batched I/O, after setting the socket options
// cfg asks for. The Conn owns c: its Close closes c. (Every wrapper in
// this module follows that rule: a wrapper closes what it was given.)
func NewConn(c *net.UDPConn, cfg ConnConfig) (*Conn, error) {
	if c == nil {
		return nil, errors.New("dgram: NewConn of a nil *net.UDPConn")
	}
	bc := &Conn{UDPConn: c, cfg: cfg}
	if cfg.Dst && isWildcard(c) {
		if err := EnableDst(c); err != nil {
			return nil, Classify("listen", localString(c), err)
		}
	}
	if cfg.TTL {
		if err := EnableTTL(c); err != nil {
			return nil, Classify("listen", localString(c), err)
		}
	}
	if cfg.Drops {
		if err := EnableDropCounter(c); err != nil {
			return nil, Classify("listen", localString(c), err)
		}
	}
	if cfg.GRO {
		bc.gro = EnableGRO(c) == nil
	}
	v6, gso := isIPv6Socket(c), GSOSupported(c)
	var err error
	if bc.rb, err = newBatchOf(c, cfg.Batch, cfg.Logger, v6, gso); err != nil {
		return nil, err
	}
	if bc.wb, err = newBatchOf(c, cfg.Batch, cfg.Logger, v6, gso); err != nil {
		return nil, err
	}
	bc.rb.sys.tracer, bc.wb.sys.tracer = cfg.Tracer, cfg.Tracer
	return bc, nil
}

// ReadBatch implements BatchConn. Errors are classified as by Classify.
func (c *Conn) ReadBatch(ms []Message) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.rb.Read(ms)
}

// TryReadBatch is ReadBatch that never waits: it returns 0 at once when
// nothing is queued (busy polling).
func (c *Conn) TryReadBatch(ms []Message) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.rb.TryRead(ms)
}

// WriteBatch implements BatchConn. Errors are classified as by Classify.
func (c *Conn) WriteBatch(ms []Message) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.wb.Write(ms)
}

// UDP returns the socket.
func (c *Conn) UDP() *net.UDPConn { return c.UDPConn }

// GRO reports whether reads may return coalesced messages.
func (c *Conn) GRO() bool { return c.gro }

// GSO reports whether coalesced writes go out in one system call.
func (c *Conn) GSO() bool { return c.wb.GSO() }

// BatchSize returns the most messages one call moves.
func (c *Conn) BatchSize() int { return c.rb.Size() }

// Drops returns how many datagrams the kernel dropped on this socket
// because its receive buffer was full, and whether that is known: the
// current count where the kernel has SO_MEMINFO, else the last count
// attached to a datagram (ConnConfig.Drops).
func (c *Conn) Drops() (uint64, bool) {
	if d, ok := KernelDrops(c.UDPConn); ok {
		return max(d, uint64(c.rb.drops.Load())), true
	}
	return uint64(c.rb.drops.Load()), c.cfg.Drops
}

// CtrlTruncated returns how many datagrams arrived with their control
// messages cut short (Message.CtrlTruncated).
func (c *Conn) CtrlTruncated() uint64 { return c.rb.CtrlTruncated() }

// AsBatchConn returns pc's batch interface: pc itself when it implements
// BatchConn (a *Conn, seal.Conn, netem.Conn), a new *Conn configured by
// cfg when it is a *net.UDPConn, and otherwise an adapter that moves one
// datagram per call through ReadFrom and WriteTo (and cannot choose a
// source address: Message.Local is ignored on writes). cfg applies only
// to a *net.UDPConn; a BatchConn was configured by whoever made it. The
// result owns pc, as every wrapper does: closing it closes pc.
func AsBatchConn(pc net.PacketConn, cfg ConnConfig) (BatchConn, error) {
	switch c := pc.(type) {
	case BatchConn:
		return c, nil
	case *net.UDPConn:
		return NewConn(c, cfg)
	case nil:
		return nil, errors.New("dgram: AsBatchConn of a nil net.PacketConn")
	}
	return &packetConn{PacketConn: pc}, nil
}

// packetConn adapts any net.PacketConn, one datagram per call.
type packetConn struct {
	net.PacketConn
	rmu sync.Mutex
	wmu sync.Mutex
}

func (c *packetConn) ReadBatch(ms []Message) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	m := &ms[0]
	m.resetMeta()
	n, addr, err := c.PacketConn.ReadFrom(m.Buf)
	if err != nil {
		return 0, err
	}
	m.N = n
	if ua, ok := addr.(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		m.Addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return 1, nil
}

func (c *packetConn) WriteBatch(ms []Message) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for i := range ms {
		m := &ms[i]
		var to net.Addr
		w, connected := c.PacketConn.(io.Writer) // a connected socket's Write
		if m.Addr.IsValid() {
			to, connected = net.UDPAddrFromAddrPort(m.Addr), false
		}
		for p := range m.Split() {
			var err error
			if connected {
				_, err = w.Write(p)
			} else {
				_, err = c.PacketConn.WriteTo(p, to)
			}
			if err != nil {
				return i, err
			}
		}
	}
	return len(ms), nil
}
