package dgram

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// EnableRecvErr asks the kernel to report ICMP errors on an unconnected
// UDP socket (IP_RECVERR, IPV6_RECVERR): without it, only a connected
// socket hears that a peer's port is closed. It reports whether either
// option took (a dual-stack socket takes both).
func EnableRecvErr(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		e4 := unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR, 1)
		e6 := unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
		ok = e4 == nil || e6 == nil
	})
	return ok
}

// maxErrDrain bounds the error-queue messages DrainUnreachable reads at a
// time.
const maxErrDrain = 64

// DrainUnreachable reads what the socket's error queue holds (at most 64
// messages: they take room in the receive buffer until read) and calls f
// with the destination of each datagram that drew an ICMP or ICMPv6
// destination unreachable, port says whether it was port unreachable
// (nobody listens there) rather than a host, network or filter. An ICMP
// "fragmentation needed" is about size, not about the peer, and is left
// out. The socket needs EnableRecvErr first.
func DrainUnreachable(c *net.UDPConn, f func(dst netip.AddrPort, port bool)) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var buf [64]byte
	var oob [256]byte
	_ = rc.Control(func(fd uintptr) {
		for range maxErrDrain {
			_, oobn, _, from, err := unix.Recvmsg(int(fd), buf[:], oob[:], unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
			if err != nil {
				return
			}
			unreachable, port := classifyErr(oob[:oobn])
			if !unreachable {
				continue
			}
			switch sa := from.(type) {
			case *unix.SockaddrInet4:
				f(netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), port)
			case *unix.SockaddrInet6:
				f(netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port)), port)
			}
		}
	})
}

// classifyErr reads an error-queue message: whether it is ICMP
// destination unreachable (other than fragmentation needed) or ICMPv6
// destination unreachable, and whether it is port unreachable.
func classifyErr(oob []byte) (unreachable, port bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return false, false
	}
	for _, m := range msgs {
		if len(m.Data) < int(unsafe.Sizeof(unix.SockExtendedErr{})) {
			continue
		}
		// struct sock_extended_err: errno u32, origin u8, type u8, code u8, ...
		origin, typ, code := m.Data[4], m.Data[5], m.Data[6]
		switch {
		case origin == unix.SO_EE_ORIGIN_ICMP && typ == 3 && code != 4:
			return true, code == 3
		case origin == unix.SO_EE_ORIGIN_ICMP6 && typ == 1:
			return true, code == 4
		}
	}
	return false, false
}
