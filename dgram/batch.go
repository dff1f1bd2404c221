package dgram

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
)

// DefaultBatch is the number of messages a Batch moves per system call
// unless told otherwise.
const DefaultBatch = 64

// Batch is the engine under Conn: it reads and writes many datagrams per
// system call on one *net.UDPConn, recvmmsg(2) and sendmmsg(2) on Linux
// (every architecture: golang.org/x/sys/unix), one datagram per call
// elsewhere. It allocates nothing per datagram: message headers, I/O
// vectors, socket addresses and control-message buffers are allocated
// once, for up to Size messages.
//
// A Batch is not safe for concurrent use: one goroutine reads with it and
// (another Batch of the same socket, in another goroutine) writes. Conn
// holds one of each behind locks and is what most code should use. A
// Batch does not own the socket and never closes it.
type Batch struct {
	c     *net.UDPConn
	size  int
	local netip.AddrPort // the socket's bound address
	wild  bool           // bound to a wildcard address
	v6    bool           // an AF_INET6 socket
	gso   atomic.Bool    // writes may use UDP_SEGMENT
	log   *slog.Logger   // nil: slog.Default()

	ctrunc atomic.Uint64 // datagrams whose control messages were cut (MSG_CTRUNC)
	drops  atomic.Uint32 // the highest SO_RXQ_OVFL count seen

	sys batchSys
}

// NewBatch returns a Batch for c moving up to size messages per call
// (size <= 0 means DefaultBatch). It does not own c.
func NewBatch(c *net.UDPConn, size int) (*Batch, error) {
	return newBatch(c, size, nil)
}

func newBatch(c *net.UDPConn, size int, log *slog.Logger) (*Batch, error) {
	return newBatchOf(c, size, log, isIPv6Socket(c), GSOSupported(c))
}

// newBatchOf is newBatch with the socket's family and GSO support known.
func newBatchOf(c *net.UDPConn, size int, log *slog.Logger, v6, gso bool) (*Batch, error) {
	if size <= 0 {
		size = DefaultBatch
	}
	b := &Batch{c: c, size: size, local: LocalAddrPort(c), v6: v6, log: log}
	b.wild = b.local.Addr().IsUnspecified()
	b.gso.Store(gso)
	if err := b.sys.init(c, size); err != nil {
		return nil, err
	}
	return b, nil
}

// Size returns the most messages one call moves.
func (b *Batch) Size() int { return b.size }

// GSO reports whether writes of a coalesced Message (Segment) go out in
// one system call (UDP_SEGMENT); false before the kernel's support was
// found, or after it failed once (EIO) and the Batch fell back to one
// datagram per message slot.
func (b *Batch) GSO() bool { return b.gso.Load() }

// CtrlTruncated returns how many datagrams were read with their control
// messages cut short (MSG_CTRUNC; see Message.CtrlTruncated).
func (b *Batch) CtrlTruncated() uint64 { return b.ctrunc.Load() }

// Read waits for at least one datagram (until the socket's read deadline)
// and reads up to min(len(ms), Size()) of those queued, filling each
// message's N, Addr, metadata and flags. It returns how many were read.
// Errors are classified as by Classify.
func (b *Batch) Read(ms []Message) (int, error) {
	if len(ms) > b.size {
		ms = ms[:b.size]
	}
	n, err := b.sys.read(b, ms, false)
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
	n, err := b.sys.read(b, ms, true)
	if err != nil {
		return n, Classify("receive", localString(b.c), err)
	}
	return n, nil
}

// Write sends every message in ms, in order, using as few calls as the
// system allows; it loops until all are sent or an error stops it, and
// returns how many were sent. A message whose Addr is zero goes to the
// connected peer. A destination or source of the wrong address family for
// the socket (an IPv6 address on an IPv4 socket) is an *Error of kind
// ErrBadAddress, returned with the count of the messages before it.
func (b *Batch) Write(ms []Message) (int, error) {
	n, err := b.sys.write(b, ms)
	if err != nil {
		addr := remoteString(b.c)
		if addr == "" && n < len(ms) {
			addr = ms[n].Addr.String()
		}
		return n, Classify("send", addr, err)
	}
	return n, nil
}

// gsoFailed turns GSO off after the kernel refused a segmented send with
// EIO (a device or path without checksum offload), once, and says so at
// debug level.
func (b *Batch) gsoFailed(err error) {
	if !b.gso.Swap(false) {
		return
	}
	log := b.log
	if log == nil {
		log = slog.Default()
	}
	log.LogAttrs(context.Background(), slog.LevelDebug, "dgram: UDP GSO send failed; sending one datagram per message from now on",
		slog.String("local", b.local.String()), slog.String("err", err.Error()))
}

// fillMeta completes a message just read: its local address, from the
// kernel's control messages or, on a socket bound to one address, from the
// binding.
func (b *Batch) fillMeta(m *Message, md *meta) {
	m.IfIndex, m.TTL, m.Drops = md.ifIndex, md.ttl, md.drops
	if md.segment > 0 && md.segment < m.N {
		m.Segment = md.segment
	}
	switch {
	case md.dst.IsValid():
		m.Local = netip.AddrPortFrom(md.dst, b.local.Port())
	case !b.wild:
		m.Local = b.local
	}
	if md.drops > 0 {
		for {
			old := b.drops.Load()
			if md.drops <= old || b.drops.CompareAndSwap(old, md.drops) {
				break
			}
		}
	}
}

// sockFamilyError says an address does not fit the socket's family.
type sockFamilyError struct {
	what string // "destination" or "source"
	addr netip.Addr
	v6   bool // the socket is IPv6
}

func (e *sockFamilyError) Error() string {
	if e.v6 {
		return fmt.Sprintf("the %s %v does not fit this IPv6 socket's reply (an IPv4 address for an IPv6 peer, or the reverse)", e.what, e.addr)
	}
	return fmt.Sprintf("an IPv6 %s (%v) on an IPv4 socket: use an IPv4 address, or a socket bound to [::]", e.what, e.addr)
}

// checkFamily returns an error when dst (if valid) or src (if valid) cannot
// go through a socket of this family, or do not match each other.
func (b *Batch) checkFamily(dst netip.AddrPort, src netip.AddrPort) error {
	d, s := dst.Addr().Unmap(), src.Addr().Unmap()
	if !b.v6 {
		if dst.IsValid() && !d.Is4() {
			return &Error{Op: "send", Addr: dst.String(), Kind: ErrBadAddress, Err: &sockFamilyError{"destination", d, false}}
		}
		if src.IsValid() && !s.Is4() {
			return &Error{Op: "send", Addr: src.String(), Kind: ErrBadAddress, Err: &sockFamilyError{"source", s, false}}
		}
		return nil
	}
	if dst.IsValid() && src.IsValid() && d.Is4() != s.Is4() {
		return &Error{Op: "send", Addr: src.String(), Kind: ErrBadAddress, Err: &sockFamilyError{"source", s, true}}
	}
	return nil
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
