//go:build !(linux && (amd64 || arm64))

package dgram

import (
	"errors"
	"net"
	"net/netip"
	"time"
)

// batchSys falls back to one system call per datagram.
type batchSys struct{}

func (s *batchSys) init(c *net.UDPConn, size int) error { return nil }

func (s *batchSys) read(c *net.UDPConn, ms []Message) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	n, _, flags, addr, err := c.ReadMsgUDPAddrPort(ms[0].Buf, nil)
	if err != nil {
		return 0, err
	}
	ms[0].N, ms[0].Addr = n, netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	ms[0].Truncated = flags&msgTrunc != 0
	return 1, nil
}

func (s *batchSys) write(c *net.UDPConn, ms []Message) (int, error) {
	for i, m := range ms {
		// without UDP_SEGMENT, a coalesced buffer goes out one segment at a time
		seg := m.Segment
		if seg <= 0 || seg >= len(m.Buf) {
			seg = len(m.Buf)
		}
		for off := 0; off < len(m.Buf) || off == 0; off += max(seg, 1) {
			b := m.Buf[off:min(off+seg, len(m.Buf))]
			var err error
			if m.Addr.IsValid() {
				_, err = c.WriteToUDPAddrPort(b, m.Addr)
			} else {
				_, err = c.Write(b)
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

func (s *batchSys) tryRead(c *net.UDPConn, ms []Message) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	if err := c.SetReadDeadline(time.Now().Add(time.Microsecond)); err != nil {
		return 0, err
	}
	n, err := s.read(c, ms)
	_ = c.SetReadDeadline(time.Time{})
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return 0, nil
	}
	return n, err
}
