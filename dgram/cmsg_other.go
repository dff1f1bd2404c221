//go:build !linux

package dgram

import (
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Outside Linux, control messages go through golang.org/x/net, which
// knows each system's options (IP_RECVDSTADDR on the BSDs, ...). It
// allocates, which the one-datagram-per-call fallback can afford.

// oobRead is the control-message room of one received datagram.
var oobRead = len(ipv4.NewControlMessage(ipv4.FlagDst|ipv4.FlagInterface|ipv4.FlagTTL)) +
	len(ipv6.NewControlMessage(ipv6.FlagDst|ipv6.FlagInterface|ipv6.FlagHopLimit)) + 64

// meta is what the control messages of one datagram said.
type meta struct {
	dst     netip.Addr
	ifIndex int
	ttl     int
	segment int
	drops   uint32
}

// parseOOB reads the control messages in oob into m.
func parseOOB(oob []byte, m *meta) {
	if len(oob) == 0 {
		return
	}
	var cm4 ipv4.ControlMessage
	if cm4.Parse(oob) == nil {
		if a, ok := netip.AddrFromSlice(cm4.Dst); ok {
			m.dst, m.ifIndex = a.Unmap(), cm4.IfIndex
		}
		if cm4.TTL > 0 {
			m.ttl = cm4.TTL
		}
	}
	var cm6 ipv6.ControlMessage
	if cm6.Parse(oob) == nil {
		if a, ok := netip.AddrFromSlice(cm6.Dst); ok && !m.dst.IsValid() {
			m.dst, m.ifIndex = a.Unmap(), cm6.IfIndex
		}
		if cm6.HopLimit > 0 && m.ttl == 0 {
			m.ttl = cm6.HopLimit
		}
	}
}

// sourceOOB returns the control message that sends from src through
// ifIndex.
func sourceOOB(src netip.Addr, ifIndex int) []byte {
	if src.Is4() {
		return (&ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: ifIndex}).Marshal()
	}
	return (&ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: ifIndex}).Marshal()
}
