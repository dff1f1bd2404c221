// Package dgram is the core of udpchat: it opens UDP sockets from
// "host:port" strings, knows the size limits of a datagram, reads datagrams
// whole (reporting truncation and the kernel's receive-buffer drops), moves
// many datagrams per system call with their addresses and metadata, and
// turns the kernel's errors into sentences a user can act on.
//
// # Sockets
//
// UDP has two ways to use a socket, and both appear here:
//
//   - Listen opens an unconnected socket bound to a local address. It is
//     the recvfrom/sendto socket: ReadFrom tells who sent each datagram and
//     WriteTo answers them, any number of senders at once.
//   - Dial opens a connected socket: connect(2) fixes the peer, so Write
//     needs no address, only the peer's datagrams are received, and an ICMP
//     "port unreachable" from the peer's host comes back as ECONNREFUSED on
//     a later call, which this package reports as ErrRefused ("nobody is
//     listening").
//
// Both return a *net.UDPConn, which the caller owns and closes.
//
// # Addresses
//
// Destinations are "host:port": "127.0.0.1:9000", "[::1]:9000" (IPv6
// literals in brackets) or "localhost:9000" (names resolve to their first
// IPv4 address when they have one). Listening addresses may also be ""
// (DefaultListenAddr), a port alone ("9000", on DefaultHost) or ":9000"
// (every interface, IPv4 and IPv6).
//
// # Batched I/O: BatchConn, Conn, Message
//
// BatchConn is the one small interface for moving datagrams in bulk:
//
//	type BatchConn interface {
//		net.PacketConn
//		ReadBatch(ms []Message) (int, error)
//		WriteBatch(ms []Message) (int, error)
//	}
//
// A Message is one datagram (or one UDP GSO/GRO buffer of several) with
// what the kernel knows about it:
//
//	field          after ReadBatch                        for WriteBatch
//	Buf, N         buffer, bytes received                 payload
//	Addr           the sender                             the destination (zero: the connected peer)
//	Local          the address the sender contacted       the source address to send from (zero: any)
//	IfIndex        the interface it arrived on            the interface to send through (with Local)
//	TTL            TTL / hop limit on arrival             -
//	Segment        GRO: size of each coalesced datagram   GSO: cut Buf into datagrams of this size
//	Drops          the kernel's drop counter, if attached -
//	Truncated      payload cut (MSG_TRUNC)                -
//	CtrlTruncated  metadata cut (MSG_CTRUNC), counted     -
//
// Conn is the BatchConn of a UDP socket: NewConn(c, ConnConfig{...})
// sets the options asked for (Dst, TTL, Drops, GRO) and reads and writes
// with recvmmsg(2) and sendmmsg(2) through golang.org/x/sys/unix on Linux,
// one datagram per call elsewhere (control messages through
// golang.org/x/net/ipv4 and ipv6 there). It allocates nothing per
// datagram. A write with Segment uses UDP_SEGMENT where the kernel has it;
// if the kernel refuses it with EIO (a device without checksum offload),
// the Conn says so once at debug level and sends one datagram per message
// from then on. A destination or source of the wrong family (an IPv6
// address on an IPv4 socket) is an *Error of kind ErrBadAddress, returned
// with the count of the messages sent before it.
//
// Wrappers implement BatchConn too (seal.Conn seals and opens, netem.Conn
// impairs), so batching, GSO and each datagram's addresses survive them;
// code that takes a net.PacketConn picks the fast path with AsBatchConn,
// an interface check.
// A wrapper that adds bytes to every datagram says how many with an
// Overhead() int method (seal.Conn does), for code that sizes datagrams to
// a path's MTU. A coalesced write whose segments the path cannot carry
// whole (larger than its MTU) is sent one datagram at a time instead.
// One ownership rule holds for every wrapper in this module: a wrapper
// owns what it was given, and its Close closes it. Things that are not
// connections (a Batch, a Reader, a Writer, a server) never close the
// socket they use.
//
// # Replying from the address the peer contacted
//
// A socket bound to a wildcard address (":9000") receives datagrams sent
// to any of the host's addresses, but a plain reply leaves from whichever
// address the routing table picks. A client that wrote to 127.0.0.2 (or to
// a server's second address) and reads on a connected socket never sees a
// reply from 127.0.0.1. With ConnConfig.Dst, every Message read carries
// Local, the address the peer contacted (IP_PKTINFO, IPV6_PKTINFO), and a
// reply built with Message.ReplyTo leaves from it:
//
//	n, _ := conn.ReadBatch(in)
//	for i := range in[:n] {
//		out[i].ReplyTo(&in[i])
//		out[i].Buf = in[i].Buf[:in[i].N]
//	}
//	conn.WriteBatch(out[:n])
//
// Writer.AddFrom does the same for coalesced writes, and a Reader's
// Datagram.To tells the contacted address for one-at-a-time reading.
//
// # Size limits
//
// One datagram carries at most MaxPayloadIPv4 (65507) bytes over IPv4 and
// MaxPayloadIPv6 (65527) over IPv6. CheckSize refuses a larger payload
// before any syscall, with an error that names the limit. A Reader's buffer
// defaults to RecvBufferSize, which holds any datagram; with a smaller
// buffer the kernel truncates (MSG_TRUNC) and the Reader says so: unlike a
// TCP stream, UDP never hands over the rest on the next read.
//
// # Reading one datagram at a time
//
// A Reader reads one datagram per recvmsg into its own buffer, with the
// same metadata (Datagram.To, TTL, Drops) for the options set on the
// socket (EnableDst, EnableTTL, EnableDropCounter: explicit, a Reader
// changes no option itself). ReadContext waits until a deadline or until a
// context ends, which replaces the set-deadline, check-context, read loop
// that every receiver would otherwise write out.
//
// # Errors
//
// Failed operations return an *Error. Its Kind is a sentinel (ErrAddrInUse,
// ErrPermission, ErrRefused, ErrTooLong, ErrTimeout, ErrBadAddress, ErrNoSuchHost, ...) and
// its Err the kernel's cause, so both errors.Is(err, dgram.ErrRefused) and
// errors.Is(err, syscall.ECONNREFUSED) hold. Its message is one line that
// says what failed and what to do:
//
//	address 127.0.0.1:9000 is already in use: is another listener running? stop it or pick another port
//
// *Error satisfies net.Error; Timeout reports ErrTimeout.
package dgram
