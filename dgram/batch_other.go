//go:build !linux

package dgram

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// batchSys falls back to one system call per datagram, through the net
// package (and golang.org/x/net for control messages).
type batchSys struct {
	c      *net.UDPConn
	oob    []byte
	tracer Tracer // not called: one datagram per call through the net package
}

func (s *batchSys) init(c *net.UDPConn, size int) error {
	s.c, s.oob = c, make([]byte, oobRead)
	return nil
}

func (s *batchSys) read(b *Batch, ms []Message, nonblock bool) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	if nonblock {
		if err := s.c.SetReadDeadline(time.Now().Add(time.Microsecond)); err != nil {
			return 0, err
		}
		defer s.c.SetReadDeadline(time.Time{})
	}
	n, oobn, flags, addr, err := s.c.ReadMsgUDPAddrPort(ms[0].Buf, s.oob)
	if err != nil {
		var ne net.Error
		if nonblock && errors.As(err, &ne) && ne.Timeout() {
			return 0, nil
		}
		return 0, err
	}
	m := &ms[0]
	m.resetMeta()
	m.N, m.Addr = n, netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	m.Truncated = flags&msgTrunc != 0
	var md meta
	parseOOB(s.oob[:oobn], &md)
	b.fillMeta(m, &md)
	return 1, nil
}

func (s *batchSys) write(b *Batch, ms []Message) (int, error) {
	for i := range ms {
		m := &ms[i]
		if err := b.checkFamily(m.Addr, m.Local); err != nil {
			return i, err
		}
		var oob []byte
		if m.Local.IsValid() {
			oob = sourceOOB(m.Local.Addr().Unmap(), m.IfIndex)
		}
		// without UDP_SEGMENT, a coalesced buffer goes out one segment at a time
		seg := m.Segment
		if seg <= 0 || seg >= len(m.Buf) {
			seg = len(m.Buf)
		}
		for off := 0; off < len(m.Buf) || off == 0; off += max(seg, 1) {
			p := m.Buf[off:min(off+seg, len(m.Buf))]
			var err error
			if m.Addr.IsValid() {
				_, _, err = s.c.WriteMsgUDPAddrPort(p, oob, m.Addr)
			} else {
				_, _, err = s.c.WriteMsgUDPAddrPort(p, oob, netip.AddrPort{})
			}
			if err != nil {
				return i, err
			}
			if seg == 0 {
				break
			}
		}
	}
	return len(ms), nil
}
