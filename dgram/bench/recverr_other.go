//go:build !linux

package bench

import (
	"net"
	"net/netip"
)

func enableRecvErr(c *net.UDPConn) bool { return false }

func drainUnreachable(c *net.UDPConn, f func(netip.AddrPort)) {}
