package dgram

import (
	"net/netip"
)

// Size limits of one UDP datagram.
//
// The UDP length field is 16 bits and counts the 8-byte UDP header, so no
// datagram carries more than 65535-8 bytes. Over IPv4 the 20-byte IP header
// counts against the same 16-bit total length, which leaves 65507 bytes. An
// IPv6 payload length does not count the 40-byte IPv6 header, so 65527 bytes
// fit (jumbograms aside, which no loopback or Ethernet path carries).
const (
	// MaxPayloadIPv4 is the largest UDP payload over IPv4: 65535 - 20 - 8.
	MaxPayloadIPv4 = 65507
	// MaxPayloadIPv6 is the largest UDP payload over IPv6: 65535 - 8.
	MaxPayloadIPv6 = 65527
	// MaxPayload is the larger of the two limits.
	MaxPayload = MaxPayloadIPv6
	// RecvBufferSize is a receive buffer that holds any datagram whole,
	// over either family, so that a read with it is never truncated.
	RecvBufferSize = 65536
)

// MaxPayloadFor returns the payload limit for datagrams sent to addr:
// MaxPayloadIPv4 for IPv4 and IPv4-mapped IPv6 addresses, MaxPayloadIPv6
// otherwise.
func MaxPayloadFor(addr netip.Addr) int {
	if addr.Unmap().Is4() {
		return MaxPayloadIPv4
	}
	return MaxPayloadIPv6
}

// CheckSize returns nil if a payload of n bytes fits in one datagram to dst,
// and otherwise an *Error of kind ErrTooLong that names the limit. Callers use
// it to refuse an oversize send before anything reaches the kernel.
func CheckSize(n int, dst netip.AddrPort) error {
	limit := MaxPayloadFor(dst.Addr())
	if n <= limit {
		return nil
	}
	return &Error{Op: "send", Addr: dst.String(), Kind: ErrTooLong, Size: n, Limit: limit}
}
