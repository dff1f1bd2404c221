package dgram

import (
	"iter"
	"net/netip"
)

// Message is one entry of a batch read or write: a datagram (or, with UDP
// GSO/GRO, a buffer of several equal-sized datagrams) with its addresses
// and what the kernel said about it.
//
// For a read, set Buf; the read fills every other field (metadata the
// connection was not asked for is left zero). For a write, set Buf and
// Addr, and Local, IfIndex and Segment when needed; the other fields are
// ignored.
type Message struct {
	// Buf is, for a read, the buffer to fill (its length is the most that
	// will be read) and, for a write, the payload.
	Buf []byte
	// N is, after a read, the number of bytes received into Buf.
	N int
	// Addr is, after a read, the sender; for a write, the destination
	// (leave it zero on a connected socket). IPv4 peers of a dual-stack
	// socket appear as IPv4 addresses, never IPv4-mapped IPv6 ones.
	Addr netip.AddrPort
	// Local is, after a read, the address the datagram was sent to: the
	// address the peer contacted, with the socket's port. A socket bound
	// to one address knows it at no cost; a socket bound to a wildcard
	// address (":9000", "0.0.0.0:9000", "[::]:9000") learns it from the
	// kernel (IP_PKTINFO, IPV6_PKTINFO) when asked (ConnConfig.Dst), and
	// leaves it zero otherwise.
	//
	// For a write, a valid Local is the source address the datagram leaves
	// from (its port is ignored: it is always the socket's): a server
	// bound to a wildcard address answers every peer from the address that
	// peer contacted by copying Local (and IfIndex) from the request into
	// the reply. A zero Local lets the kernel choose, by its routes.
	Local netip.AddrPort
	// IfIndex is, after a read, the index of the interface the datagram
	// arrived on, when the kernel said (with Local, on a wildcard socket).
	// For a write with a valid Local, a non-zero IfIndex sends through
	// that interface (needed for IPv6 link-local sources).
	IfIndex int
	// TTL is, after a read, the IPv4 time to live or IPv6 hop limit the
	// datagram arrived with, or 0 when unknown (ConnConfig.TTL asks for
	// it). A datagram that left its sender with TTL 64 and crossed one
	// router arrives with 63.
	TTL int
	// Segment is the segment size of a coalesced buffer (UDP GSO/GRO):
	// Buf[:N] (read) or Buf (write) then holds several datagrams, each
	// Segment bytes long except the last, which may be shorter. After a
	// read it is set only on a socket with GRO on, for a buffer the
	// kernel coalesced (0 otherwise: one datagram). For a write, a Segment
	// smaller than len(Buf) asks for Buf to be sent as that many
	// datagrams, all to Addr: in one system call with UDP_SEGMENT where
	// the kernel has it (at most MaxSegments of them and MaxGSOBytes in
	// all), one datagram at a time otherwise.
	Segment int
	// Drops is, after a read, the kernel's count of datagrams dropped so
	// far on this socket because its receive buffer was full, as attached
	// to this datagram (SO_RXQ_OVFL, ConnConfig.Drops): 0 when the kernel
	// attached none, which it does until the first drop.
	Drops uint32
	// Truncated reports, after a read, that the datagram was larger than
	// Buf (MSG_TRUNC) and only its first len(Buf) bytes were kept: the rest
	// is lost, UDP never hands it over on a later read.
	Truncated bool
	// CtrlTruncated reports, after a read, that the kernel had more
	// control messages for this datagram than there was room for
	// (MSG_CTRUNC): its metadata may be incomplete. This package leaves
	// room for every control message it asks for, so it means another
	// option was turned on behind its back; Conn counts these.
	CtrlTruncated bool
}

// Datagrams returns how many datagrams a message of n bytes holds: one,
// or for a coalesced buffer, n/Segment rounded up.
func (m *Message) Datagrams(n int) int {
	if m.Segment <= 0 || n <= m.Segment {
		return 1
	}
	return (n + m.Segment - 1) / m.Segment
}

// All iterates over the datagrams a read message holds: Buf[:N]
// whole, or, for a coalesced (GRO) buffer, each Segment-sized piece, the
// last one possibly shorter. An empty datagram is yielded once.
func (m *Message) All() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		b, seg := m.Buf[:m.N], m.Segment
		if seg <= 0 || seg >= len(b) {
			yield(b)
			return
		}
		for off := 0; off < len(b); off += seg {
			if !yield(b[off:min(off+seg, len(b))]) {
				return
			}
		}
	}
}

// Split iterates over the datagrams a message to write holds: Buf whole,
// or, when Segment is smaller than len(Buf), each Segment-sized piece, the
// last one possibly shorter.
func (m *Message) Split() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		seg := m.Segment
		if seg <= 0 || seg >= len(m.Buf) {
			yield(m.Buf)
			return
		}
		for off := 0; off < len(m.Buf); off += seg {
			if !yield(m.Buf[off:min(off+seg, len(m.Buf))]) {
				return
			}
		}
	}
}

// ReplyTo prepares m to answer r, a message just read: the same peer,
// from the address and interface the peer contacted. Set m.Buf to the
// reply's payload.
func (m *Message) ReplyTo(r *Message) {
	m.Addr, m.Local, m.IfIndex, m.Segment = r.Addr, r.Local, r.IfIndex, 0
}

// resetMeta clears what a read fills.
func (m *Message) resetMeta() {
	m.N, m.Addr, m.Local, m.IfIndex, m.TTL = 0, netip.AddrPort{}, netip.AddrPort{}, 0, 0
	m.Segment, m.Drops, m.Truncated, m.CtrlTruncated = 0, 0, false, false
}
