// Package pcap writes what a UDP program sent and received as a capture
// that Wireshark and tshark open: a pcapng file in which every datagram
// is a raw IP packet (LINKTYPE_RAW) with a synthesized IPv4 or IPv6 header
// and UDP header, carrying the real addresses, ports and payload, correct
// lengths and checksums, and a timestamp in nanoseconds.
//
// A program that uses sockets sees payloads, not packets: the kernel adds
// and strips the headers. Capturing the wire itself needs root (tcpdump,
// AF_PACKET) and sees everyone's traffic; this package records exactly the
// datagrams one program handled, from inside it, with no privilege. The
// headers it writes are the ones the kernel would have written for an
// unfragmented datagram: IPv4 without options (TTL 64 unless told, an
// identification that counts up), or IPv6 without extension headers.
//
// # File format
//
// pcapng (draft-ietf-opsawg-pcapng), little-endian, one section:
//
//	Section Header Block    application "udpchat", OS, optional comment
//	Interface Description   one per capture interface: LINKTYPE_RAW (101),
//	                        snaplen 262144, if_tsresol 9 (nanoseconds), name
//	Enhanced Packet Block   one per datagram: interface, 64-bit timestamp,
//	  ...                   the IP packet, and options: epb_flags (direction
//	                        in or out) and opt_comment (why this packet
//	                        matters: "dropped by the link: loss")
//
// Interfaces let one file hold both sides of a relay (udpchat proxy's
// client side and server side); comments let a demo mark what its
// impaired link did to each datagram. Wireshark shows both, and filters
// on them: frame.interface_id == 1, frame.comment contains "dropped".
//
// # Headers
//
// AppendUDP builds the packet: IPv4 (RFC 791) with its header checksum, or
// IPv6 (RFC 8200), then UDP (RFC 768) whose checksum covers the
// pseudo-header; a computed checksum of zero is written as 0xffff. The
// family follows the addresses; IPv4-mapped IPv6 addresses are written as
// IPv4, and an unspecified local address takes the peer's family
// (Families). FragmentIPv4 splits a packet into the fragments a host or
// router would send over a smaller MTU, so a capture can show why a large
// datagram is fragile: lose one fragment and the datagram is gone.
//
// # Bounds
//
// A Writer is safe for concurrent use and holds a 64 KiB buffer and one
// packet's worth of scratch space, whatever is written; comments are cut
// at MaxComment bytes. It flushes at Close, and whenever a packet comes
// more than a second (in packet time) after the last flush, so a file
// being read while it grows lags at most that much behind busy traffic.
// The Reader, for tests and tools, refuses blocks over MaxBlock.
//
// # Example
//
//	w, err := pcap.Create("chat.pcapng", pcap.Options{Comment: "udpchat send"})
//	...
//	err = w.WriteUDP(&pcap.Packet{Time: time.Now(), Src: local, Dst: peer,
//		Payload: []byte("hello"), Dir: pcap.Out})
//	...
//	err = w.Close()
//
// then: tshark -r chat.pcapng, or open it in Wireshark.
package pcap
