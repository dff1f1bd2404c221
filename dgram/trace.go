package dgram

import (
	"net"
	"net/netip"
	"syscall"
)

// Tracer is told of each system call that moves datagrams on a socket
// (recvmsg, recvmmsg, sendmmsg, write), as it returns, with its real
// descriptor, arguments and result, the calls that found nothing to read
// (EAGAIN, before the goroutine waits in the runtime's poller) included:
// what strace -e trace=network shows of them. udpchat --explain prints
// them beside the Python and Go calls that do the same.
//
// A Conn is traced through ConnConfig.Tracer, a Reader through
// SetTracer, a write through WriteTraced. Untraced, nothing is spent: a
// nil check per system call. A Tracer is called from the goroutine that
// made the call; the Syscall is valid only during the call.
type Tracer interface {
	Syscall(s *Syscall)
}

// Syscall is one system call, as a Tracer sees it.
type Syscall struct {
	// Name is the call: "recvmsg", "recvmmsg", "sendmmsg" or "write".
	Name string
	// FD is the socket's descriptor.
	FD int
	// Flags is the flags argument (unix.MSG_DONTWAIT, or 0).
	Flags int
	// Arg is, for recvmmsg and sendmmsg, the number of messages offered
	// (vlen); for recvmsg and write, the buffer's length.
	Arg int
	// Ret is the result (messages, or bytes), or -1 with Errno.
	Ret int
	// Errno is the error, or 0.
	Errno syscall.Errno
	// Datagrams are the datagrams the call moved (Ret of them for the
	// batch calls, one for the others): for a read, whom each came from
	// and its size; for a write, where each went (zero on a connected
	// socket) and its size.
	Datagrams []TracedDatagram
}

// TracedDatagram is one datagram of a Syscall.
type TracedDatagram struct {
	Addr      netip.AddrPort
	Len       int
	Truncated bool
	// Segment is, for a sendmmsg with UDP GSO, the size of the datagrams
	// the kernel cuts this buffer into (0: it is one datagram).
	Segment int
}

// SetTracer makes every later read of the Reader tell t of its system
// calls (nil: stop). A traced read is the same recvmsg(2) that
// (*net.UDPConn).ReadMsgUDPAddrPort makes, called through the socket's
// syscall.RawConn so that each call is seen.
func (r *Reader) SetTracer(t Tracer) { r.tracer = t }

// WriteTraced writes b on the connected socket c, as c.Write does (one
// write(2), waiting in the poller while the socket buffer is full), and
// tells t of each system call. With a nil t it is c.Write.
func WriteTraced(c *net.UDPConn, b []byte, t Tracer) (int, error) {
	if t == nil {
		return c.Write(b)
	}
	return writeTraced(c, b, t)
}
