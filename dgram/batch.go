package dgram

import (
	"iter"
	"net"
	"net/netip"
)

// Message is one datagram of a batch read or write.
type Message struct {
	// Buf is, for a read, the buffer to fill (its length is the most that
	// will be read) and, for a write, the payload.
	Buf []byte
	// N is, after a read, the number of bytes received into Buf.
	N int
	// Addr is, after a read, the sender; for a write, the destination
	// (leave it zero on a connected socket).
	Addr netip.AddrPort
	// Truncated reports, after a read, that the datagram was larger than
	// Buf (MSG_TRUNC) and only its first len(Buf) bytes were kept.
	Truncated bool
	// Segment is the segment size of a coalesced buffer (UDP GSO/GRO):
	// Buf[:N] (read) or Buf (write) then holds several datagrams, each
	// Segment bytes long except the last, which may be shorter. After a
	// read it is set only on a socket with EnableGRO, for a buffer the
	// kernel coalesced (0 otherwise: one datagram). For a write, a Segment
	// smaller than len(Buf) asks the kernel to cut Buf into datagrams
	// (UDP_SEGMENT); at most MaxSegments of them, all to the same Addr.
	Segment int
}

// Datagrams returns how many datagrams a message holds: one, or for a
// coalesced buffer, len/Segment rounded up.
func (m *Message) Datagrams(n int) int {
	if m.Segment <= 0 || n <= m.Segment {
		return 1
	}
	return (n + m.Segment - 1) / m.Segment
}

// DefaultBatch is the number of messages a Batch moves per system call
// unless told otherwise.
const DefaultBatch = 64

// Batch reads and writes many datagrams per system call: recvmmsg(2) and
// sendmmsg(2) on Linux (amd64 and arm64), one recvmsg/sendmsg per datagram
// elsewhere. It allocates nothing per datagram: the message headers, I/O
// vectors and socket addresses are allocated once, for up to Size messages.
//
// golang.org/x/net/ipv4's ReadBatch does the same job but allocates a
// net.Addr for every datagram received, which a proxy or benchmark moving
// hundreds of thousands of datagrams a second cannot afford; hence this
// type.
//
// A Batch is not safe for concurrent use: one goroutine reads with it and
// (another Batch of the same socket, in another goroutine) writes. It does
// not own the socket.
type Batch struct {
	c    *net.UDPConn
	size int
	sys  batchSys
}

// NewBatch returns a Batch for c moving up to size messages per call
// (size <= 0 means DefaultBatch).
func NewBatch(c *net.UDPConn, size int) (*Batch, error) {
	if size <= 0 {
		size = DefaultBatch
	}
	b := &Batch{c: c, size: size}
	if err := b.sys.init(c, size); err != nil {
		return nil, err
	}
	return b, nil
}

// Size returns the most messages one call moves.
func (b *Batch) Size() int { return b.size }

// Read waits for at least one datagram (until the socket's read deadline)
// and reads up to min(len(ms), Size()) of those queued, filling each
// message's N, Addr and Truncated. It returns how many were read. Errors
// are classified as by Classify.
func (b *Batch) Read(ms []Message) (int, error) {
	if len(ms) > b.size {
		ms = ms[:b.size]
	}
	n, err := b.sys.read(b.c, ms)
	if err != nil {
		return n, Classify("receive", localString(b.c), err)
	}
	return n, nil
}

// TryRead is Read that never waits: it returns 0 at once when nothing is
// queued (busy polling). The socket's read deadline still applies.
func (b *Batch) TryRead(ms []Message) (int, error) {
	if len(ms) > b.size {
		ms = ms[:b.size]
	}
	n, err := b.sys.tryRead(b.c, ms)
	if err != nil {
		return n, Classify("receive", localString(b.c), err)
	}
	return n, nil
}

// Write sends every message in ms, in order, using as few calls as the
// system allows; it loops until all are sent or an error stops it, and
// returns how many were sent. A message whose Addr is zero is sent to the
// connected peer.
func (b *Batch) Write(ms []Message) (int, error) {
	sent := 0
	for sent < len(ms) {
		chunk := ms[sent:]
		if len(chunk) > b.size {
			chunk = chunk[:b.size]
		}
		n, err := b.sys.write(b.c, chunk)
		sent += n
		if err != nil {
			addr := remoteString(b.c)
			if addr == "" && sent < len(ms) {
				addr = ms[sent].Addr.String()
			}
			return sent, Classify("send", addr, err)
		}
	}
	return sent, nil
}

func localString(c *net.UDPConn) string {
	if a := c.LocalAddr(); a != nil {
		return a.String()
	}
	return ""
}

func remoteString(c *net.UDPConn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
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
