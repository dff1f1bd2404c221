package dgram

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// EnableDst asks the kernel to tell, with each datagram received on c,
// the address it was sent to and the interface it arrived on (IP_PKTINFO,
// IPV6_RECVPKTINFO; on a dual-stack socket both, so that IPv4 peers are
// covered too). A socket bound to a wildcard address needs it to answer
// each peer from the address that peer contacted; NewConn turns it on by
// itself (ConnConfig.Dst). Reads then fill Message.Local and IfIndex, and
// Datagram.To.
func EnableDst(c *net.UDPConn) error {
	if isIPv6Socket(c) {
		if err := ipv6.NewPacketConn(c).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
			return sockoptErr(err)
		}
		// IPv4 peers of a dual-stack socket: best effort, an IPv6-only
		// socket has none
		_ = ipv4.NewPacketConn(c).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
		return nil
	}
	return sockoptErr(ipv4.NewPacketConn(c).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true))
}

// EnableTTL asks the kernel to tell, with each datagram received on c,
// the IPv4 TTL or IPv6 hop limit it arrived with (IP_RECVTTL,
// IPV6_RECVHOPLIMIT). Reads then fill Message.TTL and Datagram.TTL.
func EnableTTL(c *net.UDPConn) error {
	if isIPv6Socket(c) {
		if err := ipv6.NewPacketConn(c).SetControlMessage(ipv6.FlagHopLimit, true); err != nil {
			return sockoptErr(err)
		}
		_ = ipv4.NewPacketConn(c).SetControlMessage(ipv4.FlagTTL, true)
		return nil
	}
	return sockoptErr(ipv4.NewPacketConn(c).SetControlMessage(ipv4.FlagTTL, true))
}

func sockoptErr(err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: "setsockopt", Net: "udp", Err: err}
}

// isWildcard reports whether c is bound to a wildcard address (0.0.0.0 or
// ::), where only the kernel knows which address a datagram was sent to.
func isWildcard(c *net.UDPConn) bool {
	return LocalAddrPort(c).Addr().IsUnspecified()
}
