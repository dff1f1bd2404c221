package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Header sizes.
const (
	IPv4HeaderLen = 20 // without options
	IPv6HeaderLen = 40 // without extension headers
	UDPHeaderLen  = 8
)

// ProtoUDP is UDP's IP protocol number.
const ProtoUDP = 17

// DefaultTTL is the TTL (hop limit) of synthesized headers when none is
// given: Linux's default, net.ipv4.ip_default_ttl.
const DefaultTTL = 64

// Errors of header synthesis and parsing.
var (
	// ErrFamily: the two addresses are of different IP families (and
	// neither is an unspecified address that could take the other's).
	ErrFamily = errors.New("pcap: source and destination are of different IP families")
	// ErrTooLong: the datagram does not fit in one IP packet.
	ErrTooLong = errors.New("pcap: datagram too long for one IP packet")
	// ErrMalformed: the bytes are not an IPv4 or IPv6 packet carrying UDP
	// with consistent lengths.
	ErrMalformed = errors.New("pcap: malformed packet")
)

// IPOptions are the fields of a synthesized IP header that are not
// addresses or lengths.
type IPOptions struct {
	// TTL is the IPv4 TTL or IPv6 hop limit; 0 means DefaultTTL.
	TTL uint8
	// ID is the IPv4 identification field (the IPv6 fragment header's
	// identification when fragmenting).
	ID uint16
	// DF sets IPv4's don't-fragment flag.
	DF bool
}

// Families reconciles the addresses of one datagram into one IP family:
// IPv4-mapped IPv6 addresses become IPv4, and an unspecified address (a
// socket bound to 0.0.0.0 or [::] whose destination address is not known)
// takes the other's family. Addresses of two real families are an error
// (ErrFamily): no packet carries them.
func Families(src, dst netip.AddrPort) (netip.AddrPort, netip.AddrPort, error) {
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	if s.Is4() != d.Is4() {
		switch {
		case s.IsUnspecified() && d.Is4():
			s = netip.IPv4Unspecified()
		case s.IsUnspecified():
			s = netip.IPv6Unspecified()
		case d.IsUnspecified() && s.Is4():
			d = netip.IPv4Unspecified()
		case d.IsUnspecified():
			d = netip.IPv6Unspecified()
		default:
			return src, dst, fmt.Errorf("%w: %v and %v", ErrFamily, src, dst)
		}
	}
	if !s.IsValid() || !d.IsValid() {
		return src, dst, fmt.Errorf("%w: %v and %v", ErrFamily, src, dst)
	}
	return netip.AddrPortFrom(s.WithZone(""), src.Port()), netip.AddrPortFrom(d.WithZone(""), dst.Port()), nil
}

// AppendUDP appends to b one IP packet carrying a UDP datagram from src to
// dst with payload: an IPv4 header (20 bytes, with its header checksum) or
// an IPv6 header (40 bytes), the UDP header with its length and checksum
// (RFC 768, RFC 8200 section 8.1), then the payload. The family comes from
// the addresses, as Families reconciles them. A payload over the family's
// limit (65507 bytes over IPv4, 65527 over IPv6) is ErrTooLong.
func AppendUDP(b []byte, src, dst netip.AddrPort, payload []byte, o IPOptions) ([]byte, error) {
	src, dst, err := Families(src, dst)
	if err != nil {
		return b, err
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	udpLen := UDPHeaderLen + len(payload)
	if src.Addr().Is4() {
		if IPv4HeaderLen+udpLen > 0xffff {
			return b, fmt.Errorf("%w: %d bytes of payload over IPv4 (at most %d)", ErrTooLong, len(payload), 0xffff-IPv4HeaderLen-UDPHeaderLen)
		}
		var flags uint16
		if o.DF {
			flags = 0x4000
		}
		b = appendIPv4Header(b, src.Addr(), dst.Addr(), IPv4HeaderLen+udpLen, o.ID, flags, ttl, ProtoUDP)
	} else {
		if udpLen > 0xffff {
			return b, fmt.Errorf("%w: %d bytes of payload over IPv6 (at most %d)", ErrTooLong, len(payload), 0xffff-UDPHeaderLen)
		}
		b = appendIPv6Header(b, src.Addr(), dst.Addr(), udpLen, ProtoUDP, ttl)
	}
	udp := len(b)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(udpLen))
	b = append(b, 0, 0) // checksum, below
	b = append(b, payload...)
	sum := udpChecksum(src.Addr(), dst.Addr(), b[udp:])
	binary.BigEndian.PutUint16(b[udp+6:], sum)
	return b, nil
}

func appendIPv4Header(b []byte, src, dst netip.Addr, total int, id, flagsFrag uint16, ttl, proto uint8) []byte {
	h := len(b)
	b = append(b, 0x45, 0) // version 4, IHL 5; TOS 0
	b = binary.BigEndian.AppendUint16(b, uint16(total))
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, flagsFrag)
	b = append(b, ttl, proto, 0, 0) // header checksum, below
	s, d := src.As4(), dst.As4()
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	binary.BigEndian.PutUint16(b[h+10:], ^fold(sum16(0, b[h:h+IPv4HeaderLen])))
	return b
}

func appendIPv6Header(b []byte, src, dst netip.Addr, payloadLen int, next, hops uint8) []byte {
	b = append(b, 0x60, 0, 0, 0) // version 6, traffic class 0, flow label 0
	b = binary.BigEndian.AppendUint16(b, uint16(payloadLen))
	b = append(b, next, hops)
	s, d := src.As16(), dst.As16()
	b = append(b, s[:]...)
	return append(b, d[:]...)
}

// sum16 adds b to the running one's-complement sum as 16-bit big-endian
// words (an odd last byte is padded with zero).
func sum16(sum uint64, b []byte) uint64 {
	for len(b) >= 8 {
		sum += uint64(binary.BigEndian.Uint16(b)) + uint64(binary.BigEndian.Uint16(b[2:])) +
			uint64(binary.BigEndian.Uint16(b[4:])) + uint64(binary.BigEndian.Uint16(b[6:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

func fold(sum uint64) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// pseudoSum is the checksum of the pseudo-header of RFC 768 (IPv4) or RFC
// 8200 section 8.1 (IPv6) for a UDP datagram of length n.
func pseudoSum(src, dst netip.Addr, n int) uint64 {
	var sum uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		sum = sum16(sum16(0, s[:]), d[:])
	} else {
		s, d := src.As16(), dst.As16()
		sum = sum16(sum16(0, s[:]), d[:])
	}
	return sum + ProtoUDP + uint64(n)
}

// udpChecksum computes the checksum of the UDP datagram udp (header and
// payload, checksum field zero). Zero is sent as 0xffff: zero means "no
// checksum" over IPv4 and is forbidden over IPv6.
func udpChecksum(src, dst netip.Addr, udp []byte) uint16 {
	c := ^fold(sum16(pseudoSum(src, dst, len(udp)), udp))
	if c == 0 {
		c = 0xffff
	}
	return c
}

// UDP is one UDP datagram parsed from an IP packet.
type UDP struct {
	Src, Dst netip.AddrPort
	TTL      uint8
	Payload  []byte // aliases the packet
	// ChecksumOK reports that the UDP checksum verified (an IPv4 checksum
	// of zero, "none", counts as verified).
	ChecksumOK bool
}

// ParseUDP parses an unfragmented IPv4 or IPv6 packet carrying UDP, as
// AppendUDP builds them (IPv4 options and IPv6 extension headers are not
// followed). It checks every length field and the IPv4 header checksum; a
// wrong UDP checksum is reported in ChecksumOK, not as an error.
func ParseUDP(pkt []byte) (UDP, error) {
	var u UDP
	if len(pkt) < 1 {
		return u, fmt.Errorf("%w: empty", ErrMalformed)
	}
	var udp []byte
	var src, dst netip.Addr
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < IPv4HeaderLen {
			return u, fmt.Errorf("%w: %d bytes, shorter than an IPv4 header", ErrMalformed, len(pkt))
		}
		ihl := int(pkt[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(pkt[2:]))
		if ihl < IPv4HeaderLen || total < ihl || total > len(pkt) {
			return u, fmt.Errorf("%w: IPv4 header length %d, total length %d, %d bytes", ErrMalformed, ihl, total, len(pkt))
		}
		if fold(sum16(0, pkt[:ihl])) != 0xffff {
			return u, fmt.Errorf("%w: bad IPv4 header checksum", ErrMalformed)
		}
		if ff := binary.BigEndian.Uint16(pkt[6:]); ff&0x3fff != 0 {
			return u, fmt.Errorf("%w: an IPv4 fragment", ErrMalformed)
		}
		if pkt[9] != ProtoUDP {
			return u, fmt.Errorf("%w: IP protocol %d, not UDP", ErrMalformed, pkt[9])
		}
		u.TTL = pkt[8]
		src, dst = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
		udp = pkt[ihl:total]
	case 6:
		if len(pkt) < IPv6HeaderLen {
			return u, fmt.Errorf("%w: %d bytes, shorter than an IPv6 header", ErrMalformed, len(pkt))
		}
		plen := int(binary.BigEndian.Uint16(pkt[4:]))
		if IPv6HeaderLen+plen > len(pkt) {
			return u, fmt.Errorf("%w: IPv6 payload length %d, %d bytes", ErrMalformed, plen, len(pkt))
		}
		if pkt[6] != ProtoUDP {
			return u, fmt.Errorf("%w: IPv6 next header %d, not UDP", ErrMalformed, pkt[6])
		}
		u.TTL = pkt[7]
		src, dst = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
		udp = pkt[IPv6HeaderLen : IPv6HeaderLen+plen]
	default:
		return u, fmt.Errorf("%w: IP version %d", ErrMalformed, pkt[0]>>4)
	}
	if len(udp) < UDPHeaderLen {
		return u, fmt.Errorf("%w: %d bytes, shorter than a UDP header", ErrMalformed, len(udp))
	}
	n := int(binary.BigEndian.Uint16(udp[4:]))
	if n < UDPHeaderLen || n > len(udp) {
		return u, fmt.Errorf("%w: UDP length %d in %d bytes", ErrMalformed, n, len(udp))
	}
	udp = udp[:n]
	u.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp))
	u.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:]))
	u.Payload = udp[UDPHeaderLen:]
	if src.Is4() && binary.BigEndian.Uint16(udp[6:]) == 0 {
		u.ChecksumOK = true
	} else {
		u.ChecksumOK = fold(sum16(pseudoSum(src, dst, n), udp)) == 0xffff
	}
	return u, nil
}

// FragmentIPv4 splits an IPv4 packet (as AppendUDP builds it, without
// options) into fragments that each fit in mtu bytes, as a router or the
// sending host does (RFC 791): every fragment but the last carries a
// multiple of 8 bytes of the original payload and the more-fragments flag;
// offsets count 8-byte units. Each fragment is appended to dst as a new
// slice. A packet that fits is returned whole; a packet with DF set that
// does not fit is an error, as it would be on the wire.
func FragmentIPv4(dst [][]byte, pkt []byte, mtu int) ([][]byte, error) {
	if len(pkt) < IPv4HeaderLen || pkt[0] != 0x45 {
		return dst, fmt.Errorf("%w: not an IPv4 packet without options", ErrMalformed)
	}
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if total > len(pkt) || total < IPv4HeaderLen {
		return dst, fmt.Errorf("%w: IPv4 total length %d in %d bytes", ErrMalformed, total, len(pkt))
	}
	if mtu < IPv4HeaderLen+8 {
		return dst, fmt.Errorf("pcap: an MTU of %d bytes cannot carry an IPv4 fragment", mtu)
	}
	if total <= mtu {
		return append(dst, append([]byte(nil), pkt[:total]...)), nil
	}
	ff := binary.BigEndian.Uint16(pkt[6:])
	if ff&0x4000 != 0 {
		return dst, fmt.Errorf("pcap: %d-byte packet with DF set does not fit an MTU of %d", total, mtu)
	}
	src, dstA := netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
	id, ttl, proto := binary.BigEndian.Uint16(pkt[4:]), pkt[8], pkt[9]
	baseOff := int(ff&0x1fff) * 8
	moreAfter := ff&0x2000 != 0
	data := pkt[IPv4HeaderLen:total]
	per := (mtu - IPv4HeaderLen) &^ 7
	for off := 0; off < len(data); off += per {
		end := min(off+per, len(data))
		flags := uint16((baseOff + off) / 8)
		if end < len(data) || moreAfter {
			flags |= 0x2000
		}
		f := appendIPv4Header(make([]byte, 0, IPv4HeaderLen+end-off), src, dstA, IPv4HeaderLen+end-off, id, flags, ttl, proto)
		dst = append(dst, append(f, data[off:end]...))
	}
	return dst, nil
}

// FragmentCount returns how many IPv4 fragments a UDP payload of n bytes
// becomes on a path of the given MTU (1 when it fits).
func FragmentCount(n, mtu int) int {
	total := IPv4HeaderLen + UDPHeaderLen + n
	if total <= mtu {
		return 1
	}
	per := (mtu - IPv4HeaderLen) &^ 7
	data := UDPHeaderLen + n
	return (data + per - 1) / per
}
