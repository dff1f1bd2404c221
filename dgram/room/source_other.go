//go:build !linux

package room

import (
	"net"
	"net/netip"
)

// groupSource cannot tell the source of a multicast socket's datagrams
// here.
func groupSource(group netip.AddrPort, ifi *net.Interface) netip.Addr { return netip.Addr{} }
