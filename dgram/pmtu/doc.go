// Package pmtu finds the path MTU to a UDP echo server: the largest IP
// packet that crosses the path whole, and so the largest datagram that
// arrives without IP fragmentation. It is the limit that most often breaks
// UDP in the field (a VPN, a PPPoE link or a tunnel in the path), and it
// is invisible until a large datagram silently disappears.
//
// # How
//
// Probes are sent with don't-fragment set (SetDF), so that a router whose
// next hop is too small drops them instead of fragmenting them, and each
// probe is confirmed only by its echo: DPLPMTUD, RFC 8899. Two kinds of
// evidence say a size is too big:
//
//   - an ICMP "fragmentation needed" (IPv4) or "packet too big" (IPv6)
//     message from the router, naming the MTU of its next hop. The kernel
//     records it (IP_MTU on a connected socket reads it: PathMTU) and
//     reports EMSGSIZE on the socket; with IP_RECVERR the error queue also
//     says which router sent it and quotes the probe. The named MTU is
//     probed next and, once echoed, the byte above it, which ends the
//     search (RFC 8899 section 4.6: an ICMP message is a hint, confirmed by
//     an echo).
//   - silence: when a firewall drops those ICMP messages (a "black hole"
//     for classic path MTU discovery, RFC 2923), a probe just gets no echo.
//     After Config.Tries unanswered probes (RFC 8899's MAX_PROBES) the size
//     counts as too big, and the search bisects, trying common MTUs
//     (Plateaus) first.
//
// Search is the logic alone, a pure state machine that a test drives
// probe by probe; Run drives it on a connected socket, with probes that
// are sequence headers v1 (dgram/seq) padded to the size tried.
//
// # Sizes
//
// Sizes are IP packet sizes, as MTUs are. A UDP datagram of n bytes of
// payload is n+28 bytes over IPv4 (a 20-byte header, 8 of UDP) and n+48
// over IPv6, so a 1280-byte path carries 1252 bytes of payload over IPv4
// and 1232 over IPv6. IPv6 routers never fragment, and every IPv6 path
// carries 1280 bytes; IPv4 paths carry at least 68, nearly all 1200.
//
// # Don't fragment, for applications
//
// SetDF(c, Do) is what an application that must not be fragmented sets
// (udpchat send --df): the kernel sets DF on every datagram and refuses
// with EMSGSIZE one larger than the path MTU it knows, so the first
// oversize datagram goes out and is dropped by the router, and the next
// ones fail at once; PathMTU then says how much fits.
//
// Linux only: elsewhere SetDF and PathMTU return an error.
package pmtu
