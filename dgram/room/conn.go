package room

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// Conn is the socket a room endpoint uses: what Server, Member and Group
// need of a UDP socket, and no more. NewUDPConn adapts a *net.UDPConn; a
// test may wrap one (to impair it, or to watch it).
type Conn interface {
	// ReadPacket reads one datagram into b and returns its length, its
	// sender, and the local address it was sent to when the socket
	// knows it (a socket bound to a wildcard address), else the zero
	// Addr. A datagram longer than b is cut to len(b).
	ReadPacket(b []byte) (n int, from netip.AddrPort, to netip.Addr, err error)
	// WritePacket sends b to dst. When src is valid, the datagram leaves
	// from that local address: the one the peer contacted.
	WritePacket(b []byte, dst netip.AddrPort, src netip.Addr) error
	// SetReadDeadline sets the deadline of ReadPacket, as
	// net.Conn.SetReadDeadline does; a deadline in the past wakes a
	// blocked read.
	SetReadDeadline(t time.Time) error
	// LocalAddr is the socket's local address.
	LocalAddr() net.Addr
}

// UDPConn adapts a *net.UDPConn to Conn. On a socket bound to a wildcard
// address (0.0.0.0 or ::) it asks the kernel for each datagram's
// destination address (IP_PKTINFO, IPV6_RECVPKTINFO) and sends each reply
// from the address the peer contacted, so that a client that wrote to one
// of the host's addresses hears back from that address. On a connected
// socket, WritePacket ignores dst (the socket's peer) and src.
//
// It does not own the socket: closing it is the caller's job.
type UDPConn struct {
	c         *net.UDPConn
	connected bool
	pktinfo   bool // the destination address comes with each datagram
	v6        bool // the socket is IPv6 (possibly dual-stack)
	oob, wob  []byte
}

// NewUDPConn returns an adapter of c.
func NewUDPConn(c *net.UDPConn) (*UDPConn, error) {
	u := &UDPConn{c: c, connected: c.RemoteAddr() != nil}
	la, ok := c.LocalAddr().(*net.UDPAddr)
	if !ok {
		return nil, errors.New("room: socket has no local UDP address")
	}
	ap := la.AddrPort()
	u.v6 = ap.Addr().Is6() && !ap.Addr().Is4In6()
	if !u.connected && ap.Addr().IsUnspecified() {
		// Where the kernel cannot tell (not Linux), replies leave from
		// the address it picks.
		if enablePktinfo(c, u.v6) == nil {
			u.pktinfo = true
			u.oob = make([]byte, 128)
		}
	}
	return u, nil
}

// ReadPacket implements Conn.
func (u *UDPConn) ReadPacket(b []byte) (int, netip.AddrPort, netip.Addr, error) {
	if !u.pktinfo {
		n, from, err := u.c.ReadFromUDPAddrPort(b)
		return n, unmapAP(from), netip.Addr{}, err
	}
	n, oobn, _, from, err := u.c.ReadMsgUDPAddrPort(b, u.oob)
	if err != nil {
		return n, unmapAP(from), netip.Addr{}, err
	}
	return n, unmapAP(from), parsePktinfo(u.oob[:oobn]), nil
}

// WritePacket implements Conn.
func (u *UDPConn) WritePacket(b []byte, dst netip.AddrPort, src netip.Addr) error {
	if u.connected {
		_, err := u.c.Write(b)
		return err
	}
	if u.v6 && dst.Addr().Is4() {
		dst = netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
	}
	if !u.pktinfo || !src.IsValid() {
		_, err := u.c.WriteToUDPAddrPort(b, dst)
		return err
	}
	u.wob = appendPktinfo(u.wob[:0], src)
	_, _, err := u.c.WriteMsgUDPAddrPort(b, u.wob, dst)
	return err
}

// SetReadDeadline implements Conn.
func (u *UDPConn) SetReadDeadline(t time.Time) error { return u.c.SetReadDeadline(t) }

// LocalAddr implements Conn.
func (u *UDPConn) LocalAddr() net.Addr { return u.c.LocalAddr() }

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Clock is the time a room endpoint runs on. Tests pass one they
// advance by hand; the zero Config uses the system clock.
type Clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock reads t or
	// later. (An absolute time, so that a clock moved by a test between
	// Now and At cannot make a timer late.)
	At(t time.Time) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                  { return time.Now() }
func (systemClock) At(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// SystemClock is the wall clock.
var SystemClock Clock = systemClock{}

// PacketConn adapts any net.PacketConn (a wrapper such as netem.Conn or
// seal.Conn, or a socket) to Conn. It knows no destination addresses:
// replies leave from the address the kernel picks. It does not own pc.
type PacketConn struct {
	pc net.PacketConn
}

// NewPacketConn returns an adapter of pc.
func NewPacketConn(pc net.PacketConn) *PacketConn { return &PacketConn{pc: pc} }

// ReadPacket implements Conn.
func (p *PacketConn) ReadPacket(b []byte) (int, netip.AddrPort, netip.Addr, error) {
	n, from, err := p.pc.ReadFrom(b)
	return n, addrPortOf(from), netip.Addr{}, err
}

// WritePacket implements Conn; src is ignored.
func (p *PacketConn) WritePacket(b []byte, dst netip.AddrPort, _ netip.Addr) error {
	_, err := p.pc.WriteTo(b, net.UDPAddrFromAddrPort(dst))
	return err
}

// SetReadDeadline implements Conn.
func (p *PacketConn) SetReadDeadline(t time.Time) error { return p.pc.SetReadDeadline(t) }

// LocalAddr implements Conn.
func (p *PacketConn) LocalAddr() net.Addr { return p.pc.LocalAddr() }

// Compile-time checks.
var (
	_ Conn = (*UDPConn)(nil)
	_ Conn = (*PacketConn)(nil)
)
