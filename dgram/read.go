package dgram

import (
	"context"
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
	// To is the address the datagram was sent to, the one the sender
	// contacted, when known: always on a socket bound to one address; on
	// a wildcard socket once EnableDst was called on it.
	To netip.AddrPort
	// IfIndex is the interface it arrived on, when the kernel said.
	IfIndex int
	// TTL is the IPv4 TTL or IPv6 hop limit it arrived with, when the
	// socket asked for it (EnableTTL); 0 when unknown.
	TTL int
	// Drops is the kernel's receive-buffer drop count attached to it
	// (EnableDropCounter), 0 when none was.
	Drops uint32
	// Truncated reports that the datagram was larger than the buffer
	// (MSG_TRUNC): Data holds only its first bytes, the rest is gone.
	Truncated bool
}

// Reader reads whole datagrams from a UDP socket, one recvmsg each, into a
// buffer it owns. It reports truncation, the metadata the socket was asked
// for (EnableDst, EnableTTL, EnableDropCounter), and the kernel's count of
// datagrams dropped because the socket's receive buffer was full. It never
// changes the socket's options itself. A socket with GRO on (EnableGRO)
// must be read with a Conn instead.
//
// A Reader is not safe for concurrent use; one goroutine owns it. It does
// not own the socket.
type Reader struct {
	c         *net.UDPConn
	local     netip.AddrPort
	wild      bool
	localStr  string
	remote    string // the peer of a connected socket
	buf       []byte
	oob       []byte
	tracer    Tracer // SetTracer
	drops     uint32
	truncated uint64

	// the context ReadContext last registered a wake-up with
	wakeCtx  context.Context
	wakeStop func() bool
}

// NewReader returns a Reader of c with a buffer of size bytes; size <= 0
// means RecvBufferSize, which no datagram can overflow.
func NewReader(c *net.UDPConn, size int) *Reader {
	if size <= 0 {
		size = RecvBufferSize
	}
	r := &Reader{c: c, buf: make([]byte, size), oob: make([]byte, oobRead), local: LocalAddrPort(c)}
	r.wild = r.local.Addr().IsUnspecified()
	if a := c.LocalAddr(); a != nil {
		r.localStr = a.String()
	}
	if a := c.RemoteAddr(); a != nil {
		r.remote = a.String()
	}
	return r
}

// Read waits for the next datagram (until the socket's read deadline, if
// one is set). Errors are classified as by Classify; a closed socket gives
// an error that matches net.ErrClosed.
func (r *Reader) Read() (Datagram, error) {
	if r.tracer != nil {
		return r.readTraced()
	}
	n, oobn, flags, from, err := r.c.ReadMsgUDPAddrPort(r.buf, r.oob)
	if err != nil {
		return Datagram{}, r.classify(err)
	}
	return r.datagram(n, r.oob[:oobn], flags&msgTrunc != 0, from), nil
}

// datagram completes a datagram just read.
func (r *Reader) datagram(n int, oob []byte, trunc bool, from netip.AddrPort) Datagram {
	var md meta
	parseOOB(oob, &md)
	d := Datagram{Data: r.buf[:n], From: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()),
		IfIndex: md.ifIndex, TTL: md.ttl, Drops: md.drops, Truncated: trunc}
	switch {
	case md.dst.IsValid():
		d.To = netip.AddrPortFrom(md.dst, r.local.Port())
	case !r.wild:
		d.To = r.local
	}
	if md.drops > r.drops {
		r.drops = md.drops
	}
	if trunc {
		r.truncated++
	}
	return d
}

// aLongTimeAgo is a read deadline in the past: setting it wakes a blocked
// read at once.
var aLongTimeAgo = time.Unix(1, 0)

// ReadContext reads the next datagram, waiting until deadline (zero: no
// limit) or until ctx ends, whichever comes first; it replaces the
// set-deadline, check-context, read, tell-why skeleton of a receive loop.
// It returns ctx's error when ctx was cancelled (a datagram read first is
// returned with no error), and an *Error of kind ErrTimeout when deadline
// or ctx's own deadline passed (then errors.Is(err,
// context.DeadlineExceeded) holds as well).
//
// It sets the socket's read deadline, and wakes a blocked read when ctx
// ends by setting one in the past. The wake-up stays registered with the
// last context given until that context ends (or ReadContext is called
// with another), so that a loop allocates nothing per call.
func (r *Reader) ReadContext(ctx context.Context, deadline time.Time) (Datagram, error) {
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	if ctx != r.wakeCtx {
		if r.wakeStop != nil {
			r.wakeStop()
		}
		r.wakeCtx = ctx
		c := r.c
		r.wakeStop = context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(aLongTimeAgo) })
	}
	// Set the deadline before checking ctx: if ctx ends after the check,
	// its past deadline overrides this one.
	if err := r.c.SetReadDeadline(deadline); err != nil {
		return Datagram{}, r.classify(err)
	}
	if err := ctx.Err(); err != nil {
		return Datagram{}, r.ctxErr(err)
	}
	d, err := r.Read()
	if err != nil && ctx.Err() != nil {
		return Datagram{}, r.ctxErr(ctx.Err())
	}
	return d, err
}

// ctxErr is a cancelled context's error as it is, and a context's passed
// deadline as an *Error of kind ErrTimeout.
func (r *Reader) ctxErr(err error) error {
	if err == context.DeadlineExceeded {
		return Classify("receive", r.localStr, err)
	}
	return err
}

// Drops returns the number of datagrams the kernel has dropped on this
// socket because its receive buffer was full, and whether the counter is
// available (Linux only). It is current as of the call (SO_MEMINFO), or
// where that is missing, as of the last datagram read (SO_RXQ_OVFL, after
// EnableDropCounter).
func (r *Reader) Drops() (n uint64, known bool) {
	if d, ok := KernelDrops(r.c); ok {
		return max(d, uint64(r.drops)), true
	}
	return uint64(r.drops), r.drops > 0
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
	return Classify("receive", r.localStr, err)
}
