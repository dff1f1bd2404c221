package main

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// enableRecvErr asks the kernel to report ICMP errors on an unconnected
// UDP socket (IP_RECVERR, IPV6_RECVERR): without it, only a connected
// socket hears that a peer's port is closed. chat --bind uses it to see
// that its peer has gone.
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

// refusedPeers drains the socket's error queue and returns the addresses
// that answered with ICMP port unreachable: the destinations of the
// datagrams that bounced (at most 16; the rest are dropped).
func refusedPeers(c *net.UDPConn) []netip.AddrPort {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	var out []netip.AddrPort
	buf := make([]byte, 512)
	oob := make([]byte, 512)
	_ = rc.Control(func(fd uintptr) {
		for range 64 {
			_, oobn, _, from, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
			if err != nil {
				return
			}
			if !portUnreachable(oob[:oobn]) || len(out) >= 16 {
				continue
			}
			switch sa := from.(type) {
			case *unix.SockaddrInet4:
				out = append(out, netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)))
			case *unix.SockaddrInet6:
				out = append(out, netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port)))
			}
		}
	})
	return out
}

// portUnreachable reports whether an error-queue message is ICMP (or
// ICMPv6) port unreachable.
func portUnreachable(oob []byte) bool {
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
		case origin == unix.SO_EE_ORIGIN_ICMP && typ == 3 && code == 3:
			return true
		case origin == unix.SO_EE_ORIGIN_ICMP6 && typ == 1 && code == 4:
			return true
		}
	}
	return false
}
