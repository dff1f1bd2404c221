package dgram

import (
	"errors"
	"net"
	"net/netip"
)

// Writer queues datagrams and writes them in batches: runs of equal-sized
// datagrams to one destination (from one source) are coalesced into UDP
// GSO buffers when the connection supports it (see GSOSupported), and the
// buffers, or the single datagrams otherwise, go out through a batch
// write, many per system call. The datagrams stay separate on the wire;
// only the system calls are shared.
//
// Add copies the datagram, so the caller may reuse its buffer at once.
// A Writer is not safe for concurrent use. It does not own the connection.
type Writer struct {
	b     batchWriter
	gso   bool
	msgs  []Message
	bufs  [][]byte // backing store of each message slot, grown as needed
	n     int      // slots in use
	segs  int      // datagrams in the last slot
	short bool     // the last slot ended with a short datagram: closed
	queue int      // datagrams queued
	segs0 int      // most datagrams per GSO buffer
}

// batchWriter is what a Writer writes through.
type batchWriter interface {
	WriteBatch(ms []Message) (int, error)
}

// batchOf gives a Batch the BatchConn write method.
type batchOf struct{ b *Batch }

func (w batchOf) WriteBatch(ms []Message) (int, error) { return w.b.Write(ms) }

// NewWriter returns a Writer on c sending up to batch messages per call
// (DefaultBatch if batch <= 0), coalescing with GSO when gso is set and
// the kernel supports it.
func NewWriter(c *net.UDPConn, batch int, gso bool) (*Writer, error) {
	b, err := NewBatch(c, batch)
	if err != nil {
		return nil, err
	}
	return newWriter(batchOf{b}, b.Size(), gso && b.GSO()), nil
}

// NewBatchWriter returns a Writer on any BatchConn, queueing up to batch
// messages (DefaultBatch if batch <= 0) before it flushes. With gso set it
// coalesces when the connection reports GSO (a GSO() bool method, which
// *Conn, seal.Conn and netem.Conn have); a connection without GSO would
// only split the buffers again.
func NewBatchWriter(bc BatchConn, batch int, gso bool) *Writer {
	if batch <= 0 {
		batch = DefaultBatch
	}
	if g, ok := bc.(interface{ GSO() bool }); !ok || !g.GSO() {
		gso = false
	}
	return newWriter(bc, batch, gso)
}

func newWriter(b batchWriter, n int, gso bool) *Writer {
	return &Writer{b: b, gso: gso, msgs: make([]Message, n), bufs: make([][]byte, n), segs0: MaxSegments}
}

// SetMaxSegments bounds how many datagrams one GSO buffer carries (1 to
// MaxSegments). A receiver whose buffer is full drops a coalesced buffer
// whole, so a sender that must not lose a burst at once keeps it small.
func (w *Writer) SetMaxSegments(n int) { w.segs0 = min(max(n, 1), MaxSegments) }

// GSO reports whether the Writer coalesces.
func (w *Writer) GSO() bool { return w.gso }

// Queued returns the number of datagrams waiting for Flush.
func (w *Writer) Queued() int { return w.queue }

// Add queues datagram d for dst (the zero AddrPort on a connected
// socket). When every slot is taken it flushes first, and returns that
// flush's result: sent and failed datagrams and the error.
func (w *Writer) Add(d []byte, dst netip.AddrPort) (sent, failed int, err error) {
	return w.AddFrom(d, dst, netip.AddrPort{}, 0)
}

// AddFrom is Add with a source: the datagram leaves from src's address
// (and through interface ifIndex, if not 0), as Message.Local says; a
// reply copies both from the datagram it answers. A zero src lets the
// kernel choose.
func (w *Writer) AddFrom(d []byte, dst, src netip.AddrPort, ifIndex int) (sent, failed int, err error) {
	if w.n > 0 && w.gso && len(d) > 0 {
		m := &w.msgs[w.n-1]
		seg := m.Segment
		if seg == 0 {
			seg = len(m.Buf)
		}
		if !w.short && m.Addr == dst && m.Local == src && m.IfIndex == ifIndex && len(d) <= seg && w.segs < w.segs0 && len(m.Buf)+len(d) <= MaxGSOBytes && len(m.Buf) > 0 {
			m.Buf = append(m.Buf, d...)
			w.bufs[w.n-1] = m.Buf
			m.Segment = seg
			w.segs++
			w.short = len(d) < seg
			w.queue++
			return 0, 0, nil
		}
	}
	if w.n == len(w.msgs) {
		sent, failed, err = w.Flush()
	}
	buf := append(w.bufs[w.n][:0], d...)
	w.bufs[w.n] = buf
	w.msgs[w.n] = Message{Buf: buf, Addr: dst, Local: src, IfIndex: ifIndex}
	w.n++
	w.segs, w.short = 1, len(d) == 0
	w.queue++
	return sent, failed, err
}

// Flush writes every queued datagram and returns how many were sent, how
// many were lost to an error, and the first error. A datagram the kernel
// refuses for reasons of its own (its destination: port 0, no route, a
// firewall) is lost alone, and the ones queued after it still go: a
// server that answers a forged source must not lose its other answers of
// the batch with it. A refusal (ICMP port unreachable, reported by the
// next call on the socket) answers an earlier datagram: the write is
// tried once more before its datagram counts as lost. Only a closed
// socket loses the rest.
func (w *Writer) Flush() (sent, failed int, err error) {
	msgs := w.msgs[:w.n]
	retried := false
	for len(msgs) > 0 {
		k, werr := w.b.WriteBatch(msgs)
		for _, m := range msgs[:k] {
			sent += m.Datagrams(len(m.Buf))
		}
		msgs = msgs[k:]
		if werr == nil || len(msgs) == 0 {
			if err == nil {
				err = werr
			}
			break
		}
		if err == nil {
			err = werr
		}
		if errors.Is(werr, ErrRefused) && !retried {
			retried = true
			continue // the refusal was for an earlier datagram: once more
		}
		if errors.Is(werr, net.ErrClosed) {
			for _, m := range msgs {
				failed += m.Datagrams(len(m.Buf))
			}
			break
		}
		failed += msgs[0].Datagrams(len(msgs[0].Buf))
		msgs = msgs[1:]
	}
	for i := range w.msgs[:w.n] {
		w.msgs[i] = Message{}
	}
	w.n, w.segs, w.short, w.queue = 0, 0, false, 0
	return sent, failed, err
}
