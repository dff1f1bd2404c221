package dgram

import (
	"context"
	"net"
	"net/netip"
)

// Listen opens an unconnected UDP socket bound to addr, in any form that
// ResolveListen accepts. It is the recvfrom/sendto socket: it receives from
// any number of senders and replies with WriteToUDPAddrPort.
func Listen(ctx context.Context, addr string) (*net.UDPConn, error) {
	ap, err := ResolveListen(ctx, addr)
	if err != nil {
		return nil, err
	}
	return ListenAddrPort(ap)
}

// ListenAddrPort opens an unconnected UDP socket bound to ap. The IPv6
// unspecified address binds dual-stack; 0.0.0.0 binds IPv4 only.
func ListenAddrPort(ap netip.AddrPort) (*net.UDPConn, error) {
	c, err := net.ListenUDP(network(ap.Addr()), net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, Classify("listen", ap.String(), err)
	}
	return c, nil
}

// Dial opens a UDP socket connected to raddr, bound to laddr when laddr is
// not empty (any form ResolveListen accepts; an empty laddr lets the kernel
// choose). A connected socket sends with Write, receives only from raddr,
// and reports the peer's ICMP port unreachable as ErrRefused.
func Dial(ctx context.Context, raddr, laddr string) (*net.UDPConn, error) {
	dst, err := Resolve(ctx, raddr)
	if err != nil {
		return nil, err
	}
	var src netip.AddrPort
	if laddr != "" {
		if src, err = ResolveListen(ctx, laddr); err != nil {
			return nil, err
		}
	}
	return DialAddrPort(dst, src)
}

// DialAddrPort is Dial with resolved addresses; a zero laddr lets the kernel
// choose the local address and port.
func DialAddrPort(raddr, laddr netip.AddrPort) (*net.UDPConn, error) {
	var la *net.UDPAddr
	if laddr.IsValid() {
		if laddr.Addr().Unmap().Is4() != raddr.Addr().Unmap().Is4() && !laddr.Addr().IsUnspecified() {
			return nil, &Error{Op: "dial", Addr: laddr.String(), Kind: ErrBadAddress,
				Err: errFamily(laddr, raddr)}
		}
		la = net.UDPAddrFromAddrPort(laddr)
	}
	c, err := net.DialUDP(network(raddr.Addr()), la, net.UDPAddrFromAddrPort(raddr))
	if err != nil {
		op, a := "dial", raddr.String()
		if la != nil && kindOf(err) != ErrRefused && kindOf(err) != ErrUnreachable {
			op, a = "listen", laddr.String()
		}
		return nil, Classify(op, a, err)
	}
	return c, nil
}

type familyError struct{ local, remote netip.AddrPort }

func (e familyError) Error() string {
	return "local address " + e.local.String() + " and destination " + e.remote.String() + " are of different IP families"
}

func errFamily(l, r netip.AddrPort) error { return familyError{l, r} }

// LocalAddrPort returns the socket's bound address, or the zero value.
func LocalAddrPort(c *net.UDPConn) netip.AddrPort {
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
		return a.AddrPort()
	}
	return netip.AddrPort{}
}
