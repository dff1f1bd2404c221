//go:build !linux

package dgram

import (
	"net"
	"net/netip"
)

// EnableRecvErr reports false: only Linux reports ICMP errors on an
// unconnected socket this way.
func EnableRecvErr(c *net.UDPConn) bool { return false }

// DrainUnreachable does nothing where EnableRecvErr cannot be had.
func DrainUnreachable(c *net.UDPConn, f func(dst netip.AddrPort, port bool)) {}
