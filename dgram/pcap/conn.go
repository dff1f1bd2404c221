package pcap

import (
	"net"
	"net/netip"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

// Conn is a dgram.BatchConn that records every datagram read or written
// through it to a Writer, as it crossed the socket: the bytes on the wire
// (sealed, if a seal.Conn sits above it), each segment of a GSO or GRO
// buffer as the datagram it is, with the real addresses (the address the
// peer contacted, when the connection reports it) and the TTL a datagram
// arrived with when the socket asked for it. It forwards everything else
// to the connection it wraps, which it does not own: Close closes that
// connection, as closing the Conn would.
//
// Errors of the Writer do not reach the socket's callers: the Writer keeps
// the first, and its Close returns it.
type Conn struct {
	dgram.BatchConn
	w      *Writer
	iface  int
	local  netip.AddrPort
	remote netip.AddrPort
	dst    netip.AddrPort // the destination of what is read, when the socket does not tell it
	ttl    uint8          // of what is written (0: DefaultTTL)
}

// ConnOptions tell a Conn what its socket does not report: for a
// multicast socket, bound to the wildcard address, the source the kernel
// puts on what it sends, the group its datagrams were sent to, and the
// TTL it sends with.
type ConnOptions struct {
	// Src is the source of the datagrams written, when the socket's local
	// address is not (a wildcard address); default: the local address.
	Src netip.AddrPort
	// Dst is the destination of the datagrams read, when the socket does
	// not report one (Message.Local); default: the local address.
	Dst netip.AddrPort
	// TTL is the TTL (hop limit) the socket sends with; 0: DefaultTTL.
	TTL uint8
}

var _ dgram.BatchConn = (*Conn)(nil)

// NewConn returns a Conn that records c's datagrams on interface iface of
// w.
func NewConn(c dgram.BatchConn, w *Writer, iface int) *Conn {
	return NewConnOptions(c, w, iface, ConnOptions{})
}

// NewConnOptions returns a Conn that records c's datagrams on interface
// iface of w, with what o says that c does not.
func NewConnOptions(c dgram.BatchConn, w *Writer, iface int, o ConnOptions) *Conn {
	cc := &Conn{BatchConn: c, w: w, iface: iface, local: addrPort(c.LocalAddr()), ttl: o.TTL}
	cc.dst = cc.local
	if o.Dst.IsValid() {
		cc.dst = o.Dst
	}
	if o.Src.IsValid() {
		cc.local = o.Src
	}
	if r, ok := c.(interface{ RemoteAddr() net.Addr }); ok {
		cc.remote = addrPort(r.RemoteAddr())
	}
	return cc
}

func addrPort(a net.Addr) netip.AddrPort {
	if u, ok := a.(*net.UDPAddr); ok && u != nil {
		ap := u.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// ReadBatch reads as the wrapped connection does and records what it read.
func (c *Conn) ReadBatch(ms []dgram.Message) (int, error) {
	n, err := c.BatchConn.ReadBatch(ms)
	if n > 0 {
		now := time.Now()
		for i := range ms[:n] {
			m := &ms[i]
			to := m.Local
			if !to.IsValid() {
				to = c.dst
			}
			ttl := uint8(0)
			if m.TTL > 0 && m.TTL < 256 {
				ttl = uint8(m.TTL)
			}
			comment := ""
			if m.Truncated {
				comment = "truncated by the receive buffer: the datagram was longer"
			}
			for d := range m.All() {
				_ = c.w.WriteUDP(&Packet{Time: now, Src: m.Addr, Dst: to, Payload: d, Dir: In, Interface: c.iface, TTL: ttl, Comment: comment})
			}
		}
	}
	return n, err
}

// WriteBatch writes as the wrapped connection does and records what it
// sent.
func (c *Conn) WriteBatch(ms []dgram.Message) (int, error) {
	n, err := c.BatchConn.WriteBatch(ms)
	if n > 0 {
		now := time.Now()
		for i := range ms[:n] {
			m := &ms[i]
			from, to := c.local, m.Addr
			if m.Local.IsValid() {
				from = netip.AddrPortFrom(m.Local.Addr(), c.local.Port())
			}
			if !to.IsValid() {
				to = c.remote
			}
			for d := range m.Split() {
				_ = c.w.WriteUDP(&Packet{Time: now, Src: from, Dst: to, Payload: d, Dir: Out, Interface: c.iface, TTL: c.ttl})
			}
		}
	}
	return n, err
}

// ReadFrom reads one datagram and records it.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.BatchConn.ReadFrom(b)
	if err == nil {
		_ = c.w.WriteUDP(&Packet{Time: time.Now(), Src: addrPort(addr), Dst: c.dst, Payload: b[:n], Dir: In, Interface: c.iface})
	}
	return n, addr, err
}

// WriteTo writes one datagram and records it.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, err := c.BatchConn.WriteTo(b, addr)
	if err == nil {
		_ = c.w.WriteUDP(&Packet{Time: time.Now(), Src: c.local, Dst: addrPort(addr), Payload: b, Dir: Out, Interface: c.iface, TTL: c.ttl})
	}
	return n, err
}
