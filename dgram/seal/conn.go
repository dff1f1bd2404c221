package seal

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// maxDatagram is the largest UDP payload a Conn reads.
const maxDatagram = 65535

// Conn is a net.PacketConn that seals what it writes and opens what it
// reads. Datagrams that fail to open are counted and skipped: ReadFrom
// returns only authentic, new datagrams. Its methods are safe for
// concurrent use, as a PacketConn's are.
type Conn struct {
	net.PacketConn
	sealer *Sealer

	rmu  sync.Mutex // serialises ReadFrom
	rbuf []byte

	omu    sync.Mutex // guards opener
	opener *Opener

	wmu  sync.Mutex
	wbuf []byte
}

// NewConn wraps pc: a new session for what it sends, an Opener (cfg) for
// what it receives, which rejects reflections of its own session.
func NewConn(pc net.PacketConn, k *Key, cfg Config) (*Conn, error) {
	s, err := k.NewSealer()
	if err != nil {
		return nil, err
	}
	o := k.NewOpener(cfg)
	o.Ignore(s.Session())
	return &Conn{PacketConn: pc, sealer: s, opener: o, rbuf: make([]byte, maxDatagram)}, nil
}

// ReadFrom reads the next authentic datagram into p. A plaintext longer
// than p is cut to len(p), as a UDP socket cuts a datagram.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		n, addr, err := c.PacketConn.ReadFrom(c.rbuf)
		if err != nil {
			return 0, addr, err
		}
		var from netip.AddrPort
		if ua, ok := addr.(*net.UDPAddr); ok {
			from = ua.AddrPort()
		}
		c.omu.Lock()
		out, _, cause := c.opener.Open(c.rbuf[HeaderLen:HeaderLen], from, c.rbuf[:n])
		c.omu.Unlock()
		if cause != None {
			continue
		}
		return copy(p, out), addr, nil
	}
}

// WriteTo seals p and sends it to addr. It returns len(p) on success.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var err error
	c.wbuf, err = c.sealer.Seal(c.wbuf[:0], p, time.Now())
	if err != nil {
		return 0, err
	}
	if _, err := c.PacketConn.WriteTo(c.wbuf, addr); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Session is the ID of the session this Conn seals under.
func (c *Conn) Session() uint64 { return c.sealer.Session() }

// Rejected returns the rejection counts so far.
func (c *Conn) Rejected() Rejections {
	c.omu.Lock()
	defer c.omu.Unlock()
	return c.opener.Rejected()
}

// Accepted returns the number of authentic datagrams read.
func (c *Conn) Accepted() uint64 {
	c.omu.Lock()
	defer c.omu.Unlock()
	return c.opener.Accepted()
}
