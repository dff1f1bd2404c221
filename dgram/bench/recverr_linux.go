package bench

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// enableRecvErr asks the kernel to report ICMP errors on the server's
// unconnected socket (IP_RECVERR, IPV6_RECVERR), so that a test whose
// client is gone (its port closed: ICMP port unreachable) ends at once
// instead of being sent reports until its silence runs out.
func enableRecvErr(c *net.UDPConn) bool {
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

// maxErrDrain bounds the error-queue messages read at a time.
const maxErrDrain = 64

// drainUnreachable reads what the socket's error queue holds (at most
// maxErrDrain messages: they take room in the receive buffer until read)
// and calls f with the destination of each datagram that drew an ICMP
// or ICMPv6 destination unreachable (not "fragmentation needed", which is
// about size, not about the peer).
func drainUnreachable(c *net.UDPConn, f func(netip.AddrPort)) {
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
			if !unreachableErr(oob[:oobn]) {
				continue
			}
			switch sa := from.(type) {
			case *unix.SockaddrInet4:
				f(netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)))
			case *unix.SockaddrInet6:
				f(netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port)))
			}
		}
	})
}

// unreachableErr reports whether an error-queue message is ICMP
// destination unreachable (other than fragmentation needed) or ICMPv6
// destination unreachable.
func unreachableErr(oob []byte) bool {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		if len(m.Data) < int(unsafe.Sizeof(unix.SockExtendedErr{})) {
			continue
		}
		// struct sock_extended_err: errno u32, origin u8, type u8, code u8, ...
		origin, typ, code := m.Data[4], m.Data[5], m.Data[6]
		switch {
		case origin == unix.SO_EE_ORIGIN_ICMP && typ == 3 && code != 4:
			return true
		case origin == unix.SO_EE_ORIGIN_ICMP6 && typ == 1:
			return true
		}
	}
	return false
}
