package dgram

import (
	"net"
	"net/netip"
	"time"
)

// Datagram is one datagram read from a socket.
type Datagram struct {
	// Data is the payload. It aliases the Reader's buffer and is valid
	// until the next Read.
	Data []byte
	// From is the sender's address (recvfrom's src_addr).
	From netip.AddrPort
	// Truncated reports that the datagram was larger than the buffer
	// (MSG_TRUNC): Data holds only its first bytes, the rest is gone.
	Truncated bool
}

// Reader reads whole datagrams from a UDP socket, one recvmsg each, into a
// buffer it owns. It reports truncation, and on Linux the kernel's count of
// datagrams dropped because the socket's receive buffer was full.
//
// A Reader is not safe for concurrent use; one goroutine owns it.
type Reader struct {
	c         *net.UDPConn
	local     string
	remote    string // the peer of a connected socket
	buf       []byte
	oob       []byte
	drops     uint32
	dropsOK   bool
	truncated uint64
}

// NewReader returns a Reader of c with a buffer of size bytes; size <= 0
// means RecvBufferSize, which no datagram can overflow. On Linux it enables
// the drop counter (see EnableDropCounter); where that fails, Drops reports
// unknown.
func NewReader(c *net.UDPConn, size int) *Reader {
	if size <= 0 {
		size = RecvBufferSize
	}
	r := &Reader{c: c, buf: make([]byte, size), oob: make([]byte, oobSize)}
	if a := c.LocalAddr(); a != nil {
		r.local = a.String()
	}
	if a := c.RemoteAddr(); a != nil {
		r.remote = a.String()
	}
	if EnableDropCounter(c) == nil {
		r.dropsOK = true
	}
	return r
}

// Read waits for the next datagram (until the socket's read deadline, if
// one is set). Errors are classified as by Classify; a closed socket gives
// an error that matches net.ErrClosed.
func (r *Reader) Read() (Datagram, error) {
	n, oobn, flags, from, err := r.c.ReadMsgUDPAddrPort(r.buf, r.oob)
	if err != nil {
		return Datagram{}, r.classify(err)
	}
	if d, ok := parseDrops(r.oob[:oobn]); ok {
		r.drops = d
	}
	d := Datagram{Data: r.buf[:n], From: netip.AddrPortFrom(from.Addr().Unmap(), from.Port())}
	if flags&msgTrunc != 0 {
		d.Truncated = true
		r.truncated++
	}
	return d, nil
}

// Drops returns the number of datagrams the kernel has dropped on this
// socket because its receive buffer was full, and whether the counter is
// available (Linux only). It is current as of the call (SO_MEMINFO), or
// where that is missing, as of the last datagram read (SO_RXQ_OVFL).
func (r *Reader) Drops() (n uint64, known bool) {
	if d, ok := KernelDrops(r.c); ok {
		return max(d, uint64(r.drops)), true
	}
	return uint64(r.drops), r.dropsOK
}

// Truncated returns how many datagrams were truncated so far.
func (r *Reader) Truncated() uint64 { return r.truncated }

// BufferSize returns the size of the Reader's buffer.
func (r *Reader) BufferSize() int { return len(r.buf) }

// noDeadline clears a deadline.
var noDeadline time.Time

// classify names the peer for a refusal (only connected sockets see one)
// and the local address otherwise.
func (r *Reader) classify(err error) error {
	if r.remote != "" && kindOf(err) == ErrRefused {
		return Classify("receive", r.remote, err)
	}
	return Classify("receive", r.local, err)
}
