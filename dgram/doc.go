// Package dgram is the core of udpchat: it opens UDP sockets from
// "host:port" strings, knows the size limits of a datagram, reads datagrams
// whole (reporting truncation and the kernel's receive-buffer drops), and
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
// # Size limits
//
// One datagram carries at most MaxPayloadIPv4 (65507) bytes over IPv4 and
// MaxPayloadIPv6 (65527) over IPv6. CheckSize refuses a larger payload
// before any syscall, with an error that names the limit. A Reader's buffer
// defaults to RecvBufferSize, which holds any datagram; with a smaller
// buffer the kernel truncates (MSG_TRUNC) and the Reader says so: unlike a
// TCP stream, UDP never hands over the rest on the next read.
//
// # Errors
//
// Failed operations return an *Error. Its Kind is a sentinel (ErrAddrInUse,
// ErrPermission, ErrRefused, ErrTooLong, ErrTimeout, ErrBadAddress, ...) and
// its Err the kernel's cause, so both errors.Is(err, dgram.ErrRefused) and
// errors.Is(err, syscall.ECONNREFUSED) hold. Its message is one line that
// says what failed and what to do:
//
//	address 127.0.0.1:9000 is already in use: is another listener running? stop it or pick another port
//
// *Error satisfies net.Error; Timeout reports ErrTimeout.
package dgram
