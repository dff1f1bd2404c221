//go:build !linux

package room

import (
	"errors"
	"net"
	"net/netip"
)

// Elsewhere than Linux, a wildcard socket answers from the address the
// kernel picks.
func enablePktinfo(c *net.UDPConn, v6 bool) error {
	return errors.New("room: no IP_PKTINFO here")
}

func parsePktinfo(oob []byte) netip.Addr { return netip.Addr{} }

func appendPktinfo(b []byte, src netip.Addr) []byte { return b }
