package seal

import (
	"net"
	"sync"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

// maxDatagram is the largest UDP payload a Conn reads.
const maxDatagram = 65535

// Conn is a connection that seals what it writes and opens what it reads.
// Datagrams that fail to open are counted and skipped: reads return only
// authentic, new datagrams. It is a dgram.BatchConn: batch reads and
// writes keep the wrapped connection's batching and UDP GSO/GRO (each
// datagram of a coalesced buffer is sealed and opened on its own, and the
// sealed ones stay equal-sized, so they stay coalesced), and the metadata
// of each datagram (the address the peer contacted, the TTL, ...) passes
// through, so a keyed server still answers from the right address. Its
// methods are safe for concurrent use, as a PacketConn's are.
type Conn struct {
	net.PacketConn // the wrapped connection, as a BatchConn
	inner          dgram.BatchConn
	sealer         *Sealer

	rmu        sync.Mutex // serialises reads
	in         []dgram.Message
	inN, inPos int        // messages read from inner, the one being opened
	inOff      int        // byte offset of the next datagram in in[inPos]
	omu        sync.Mutex // guards opener
	opener     *Opener
	wmu        sync.Mutex // serialises writes
	out        []dgram.Message
	outBuf     [][]byte
	owner      []int  // the input message each output message carries
	last       []bool // an output message is its input's last
}

var (
	_ dgram.BatchConn = (*Conn)(nil)
	_ net.PacketConn  = (*Conn)(nil)
)

// connBatch is how many datagrams a Conn reads from the wrapped connection
// at once.
const connBatch = 32

// NewConn wraps pc: a new session for what it sends, an Opener (cfg) for
// what it receives, which rejects reflections of its own session. A pc
// that is a dgram.BatchConn (a *dgram.Conn, netem.Conn, ...) is used as
// it is, with its options (ask it for GRO, Dst, TTL); a *net.UDPConn gets
// plain batched I/O (dgram.AsBatchConn). The Conn owns pc: its Close
// closes pc, as every wrapper in this module does.
func NewConn(pc net.PacketConn, k *Key, cfg Config) (*Conn, error) {
	s, err := k.NewSealer()
	if err != nil {
		return nil, err
	}
	inner, err := dgram.AsBatchConn(pc, dgram.ConnConfig{Batch: connBatch})
	if err != nil {
		return nil, err
	}
	o := k.NewOpener(cfg)
	o.Ignore(s.Session())
	c := &Conn{PacketConn: inner, inner: inner, sealer: s, opener: o,
		in:  make([]dgram.Message, connBatch),
		out: make([]dgram.Message, 2*connBatch), outBuf: make([][]byte, 2*connBatch),
		owner: make([]int, 2*connBatch), last: make([]bool, 2*connBatch)}
	for i := range c.in {
		c.in[i].Buf = make([]byte, maxDatagram)
	}
	return c, nil
}

// ReadFrom reads the next authentic datagram into p. A plaintext longer
// than p is cut to len(p), as a UDP socket cuts a datagram.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	ms := [1]dgram.Message{{Buf: p}}
	if _, err := c.ReadBatch(ms[:]); err != nil {
		return 0, nil, err
	}
	return ms[0].N, net.UDPAddrFromAddrPort(ms[0].Addr), nil
}

// ReadBatch implements dgram.BatchConn: it fills ms with authentic, new
// datagrams, opened. A coalesced message of the wrapped connection comes
// out coalesced as long as its datagrams open and fit; a plaintext longer
// than its buffer is cut and flagged Truncated.
func (c *Conn) ReadBatch(ms []dgram.Message) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	out := 0
	for out < len(ms) {
		if c.inPos >= c.inN {
			if out > 0 {
				break // never wait once something is ready
			}
			n, err := c.inner.ReadBatch(c.in)
			if err != nil {
				return 0, err
			}
			c.inN, c.inPos, c.inOff = n, 0, 0
			continue
		}
		if c.openInto(&ms[out]) {
			out++
		}
	}
	return out, nil
}

// openInto opens datagrams of c.in[c.inPos] from c.inOff into dst, as
// many as keep dst one datagram or a valid coalesced buffer, and reports
// whether dst got any.
func (c *Conn) openInto(dst *dgram.Message) bool {
	m := &c.in[c.inPos]
	data := m.Buf[:m.N]
	*dst = dgram.Message{Buf: dst.Buf, Addr: m.Addr, Local: m.Local, IfIndex: m.IfIndex, TTL: m.TTL,
		Drops: m.Drops, CtrlTruncated: m.CtrlTruncated}
	seg := m.Segment
	if seg <= 0 || seg >= len(data) {
		seg = max(len(data), 1)
	}
	c.omu.Lock()
	defer c.omu.Unlock()
	if len(data) == 0 {
		c.opener.Open(nil, m.Addr, data) // counted as unsealed
		c.inPos++
		return false
	}
	count, pseg := 0, 0
	for c.inOff < len(data) {
		piece := data[c.inOff:min(c.inOff+seg, len(data))]
		plain := len(piece) - Overhead
		room := len(dst.Buf) - dst.N
		if count > 0 && (plain > pseg || plain > room) {
			break // dst is complete; this datagram starts the next one
		}
		c.inOff += len(piece)
		var opened []byte
		var cause Cause
		if plain <= room {
			opened, _, cause = c.opener.Open(dst.Buf[dst.N:dst.N], m.Addr, piece)
		} else { // too long for dst: open in place, keep what fits
			opened, _, cause = c.opener.Open(piece[HeaderLen:HeaderLen], m.Addr, piece)
			if cause == None {
				opened = opened[:copy(dst.Buf[dst.N:], opened)]
				dst.Truncated = true
			}
		}
		if cause != None {
			continue // counted by the opener
		}
		dst.N += len(opened)
		count++
		if count == 1 {
			pseg = len(opened)
		}
		if len(opened) < pseg || dst.Truncated {
			break // a short datagram ends a coalesced buffer
		}
	}
	if c.inOff >= len(data) {
		c.inPos, c.inOff = c.inPos+1, 0
	}
	if count > 1 {
		dst.Segment = pseg
	}
	return count > 0
}

// WriteTo seals p and sends it to addr. It returns len(p) on success.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: net.UnknownNetworkError(addr.Network())}
	}
	ms := [1]dgram.Message{{Buf: p, Addr: ua.AddrPort()}}
	if _, err := c.WriteBatch(ms[:]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteBatch implements dgram.BatchConn: it seals every datagram of ms
// (each segment of a coalesced message on its own, so the message stays
// coalesced) and writes them in batches. It returns how many messages
// went out whole.
func (c *Conn) WriteBatch(ms []dgram.Message) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	now := time.Now()
	done := 0
	for done < len(ms) {
		k := 0
		var sealErr error
		for i := done; i < len(ms); i++ {
			need := outputs(&ms[i])
			if k > 0 && k+need > len(c.out) {
				break // the next call
			}
			c.grow(k + need)
			if k, sealErr = c.seal(&ms[i], i, k, now); sealErr != nil {
				break
			}
		}
		if k == 0 {
			return done, sealErr
		}
		n, err := c.inner.WriteBatch(c.out[:k])
		for j := range n {
			if c.last[j] {
				done = c.owner[j] + 1
			}
		}
		for j := range c.out[:k] {
			c.out[j].Buf = nil
		}
		if err != nil {
			return done, err
		}
		if sealErr != nil {
			return done, sealErr
		}
	}
	return done, nil
}

// outputs returns how many messages the sealed form of m may need: one
// per dgram.MaxSegments datagrams or dgram.MaxGSOBytes bytes.
func outputs(m *dgram.Message) int {
	seg := m.Segment
	if seg <= 0 || seg >= len(m.Buf) {
		return 1
	}
	n := (len(m.Buf) + seg - 1) / seg
	per := max(1, min(dgram.MaxSegments, dgram.MaxGSOBytes/(seg+Overhead)))
	return (n+per-1)/per + 1
}

// grow makes room for n output messages.
func (c *Conn) grow(n int) {
	for len(c.out) < n {
		c.out = append(c.out, dgram.Message{})
		c.outBuf = append(c.outBuf, nil)
		c.owner = append(c.owner, 0)
		c.last = append(c.last, false)
	}
}

// seal seals message m (input index i) into output messages from k on,
// cutting a coalesced buffer where its sealed form would pass
// dgram.MaxGSOBytes or dgram.MaxSegments, and returns the next free output
// index (room for outputs(m) was made).
func (c *Conn) seal(m *dgram.Message, i, k int, now time.Time) (int, error) {
	seg := m.Segment
	if seg <= 0 || seg >= len(m.Buf) {
		seg = len(m.Buf)
	}
	start := k
	buf := c.outBuf[k][:0]
	pieces := 0
	emit := func() {
		c.outBuf[k] = buf
		c.out[k] = dgram.Message{Buf: buf, Addr: m.Addr, Local: m.Local, IfIndex: m.IfIndex}
		if pieces > 1 {
			c.out[k].Segment = seg + Overhead
		}
		c.owner[k], c.last[k] = i, false
		k++
	}
	for off := 0; off < len(m.Buf) || off == 0; off += max(seg, 1) {
		p := m.Buf[off:min(off+seg, len(m.Buf))]
		if pieces > 0 && (len(buf)+len(p)+Overhead > dgram.MaxGSOBytes || pieces == dgram.MaxSegments) {
			emit()
			buf, pieces = c.outBuf[k][:0], 0
		}
		var err error
		if buf, err = c.sealer.Seal(buf, p, now); err != nil {
			return start, err
		}
		pieces++
		if seg == 0 {
			break
		}
	}
	emit()
	c.last[k-1] = true
	return k, nil
}

// GSO reports whether the wrapped connection sends coalesced buffers in
// one system call.
func (c *Conn) GSO() bool {
	g, ok := c.inner.(interface{ GSO() bool })
	return ok && g.GSO()
}

// Overhead is how many bytes sealing adds to every datagram (Overhead):
// code that sizes its datagrams to a path's MTU takes them off, so that a
// sealed datagram still fits one packet.
func (c *Conn) Overhead() int { return Overhead }

// Session is the ID of the session this Conn seals under.
func (c *Conn) Session() uint64 { return c.sealer.Session() }

// Rejected returns the rejection counts so far.
func (c *Conn) Rejected() Rejections {
	c.omu.Lock()
	defer c.omu.Unlock()
	return c.opener.Rejected()
}

// Accepted returns the number of authentic datagrams read.
func (c *Conn) Accepted() uint64 {
	c.omu.Lock()
	defer c.omu.Unlock()
	return c.opener.Accepted()
}
