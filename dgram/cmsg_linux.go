package dgram

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Control messages (ancillary data) on Linux, read and written without
// allocating. Reading walks the buffer with unix.ParseOneSocketControlMessage;
// writing fills a buffer allocated once per message slot.

// oobRead is the control-message room of one received datagram: every
// message this package may ask for, at once, on a dual-stack socket (an
// IPv4 datagram there carries both IPV6_PKTINFO and IP_PKTINFO), and
// room to spare for options turned on by others (a timestamp, the TOS).
// Anything beyond it sets MSG_CTRUNC, which a read reports.
var oobRead = max(256,
	unix.CmsgSpace(4)+ // SO_RXQ_OVFL: a uint32
		unix.CmsgSpace(4)+ // UDP_GRO: an int
		unix.CmsgSpace(unix.SizeofInet4Pktinfo)+ // IP_PKTINFO
		unix.CmsgSpace(unix.SizeofInet6Pktinfo)+ // IPV6_PKTINFO
		unix.CmsgSpace(4)+ // IP_TTL: an int
		unix.CmsgSpace(4)+ // IPV6_HOPLIMIT: an int
		unix.CmsgSpace(16)+ // SO_TIMESTAMP(NS), if someone asks
		unix.CmsgSpace(4)) // IP_TOS / IPV6_TCLASS

// oobWrite is the control-message room of one sent message: a source
// address and a GSO segment size.
var oobWrite = unix.CmsgSpace(unix.SizeofInet6Pktinfo) + unix.CmsgSpace(2)

// meta is what the control messages of one datagram said.
type meta struct {
	dst     netip.Addr
	ifIndex int
	ttl     int
	segment int
	drops   uint32
}

// parseOOB reads the control messages in oob into m. Unknown ones are
// skipped; a malformed one ends the walk (the kernel never writes one).
func parseOOB(oob []byte, m *meta) {
	for len(oob) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return
		}
		oob = rest
		switch {
		case h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && len(data) >= 4:
			m.drops = binary.NativeEndian.Uint32(data)
		case h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO:
			switch {
			case len(data) >= 4:
				m.segment = int(binary.NativeEndian.Uint32(data))
			case len(data) >= 2:
				m.segment = int(binary.NativeEndian.Uint16(data))
			}
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			m.dst = netip.AddrFrom4(pi.Addr) // the header's destination (ipi_addr)
			m.ifIndex = int(pi.Ifindex)
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			if !m.dst.IsValid() || !m.dst.Is4() { // IP_PKTINFO, when both came, says the same
				m.dst = netip.AddrFrom16(pi.Addr).Unmap()
			}
			m.ifIndex = int(pi.Ifindex)
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_TTL && len(data) >= 4:
			m.ttl = int(int32(binary.NativeEndian.Uint32(data)))
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_HOPLIMIT && len(data) >= 4:
			if m.ttl == 0 {
				m.ttl = int(int32(binary.NativeEndian.Uint32(data)))
			}
		}
	}
}

// putCmsg writes a control message header for n data bytes at the start
// of b and returns the data part and the space the message takes.
func putCmsg(b []byte, level, typ int32, n int) (data []byte, space int) {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(n))
	start := unix.CmsgLen(0)
	return b[start : start+n], unix.CmsgSpace(n)
}

// putSource writes the control message that sends from src (and through
// ifIndex, if not 0) into b, for a socket of the given family, and
// returns its length. An IPv4 source is IP_PKTINFO on either family (a
// dual-stack socket takes it for IPv4 destinations); an IPv6 one is
// IPV6_PKTINFO.
func putSource(b []byte, src netip.Addr, ifIndex int) int {
	if src.Is4() {
		data, n := putCmsg(b, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
		*pi = unix.Inet4Pktinfo{Ifindex: int32(ifIndex), Spec_dst: src.As4()}
		return n
	}
	data, n := putCmsg(b, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo)
	pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
	*pi = unix.Inet6Pktinfo{Addr: src.As16(), Ifindex: uint32(ifIndex)}
	return n
}

// putSegment writes a UDP_SEGMENT control message carrying seg into b and
// returns its length.
func putSegment(b []byte, seg int) int {
	data, n := putCmsg(b, unix.SOL_UDP, unix.UDP_SEGMENT, 2)
	binary.NativeEndian.PutUint16(data, uint16(seg))
	return n
}
