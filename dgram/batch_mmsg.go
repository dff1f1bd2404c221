//go:build linux && (amd64 || arm64)

package dgram

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// mmsghdr is struct mmsghdr on 64-bit Linux.
type mmsghdr struct {
	hdr syscall.Msghdr
	len uint32
	_   [4]byte
}

// batchSys holds what recvmmsg/sendmmsg need, allocated once.
type batchSys struct {
	family int // AF_INET or AF_INET6: how destinations are encoded
	hdrs   []mmsghdr
	iovs   []syscall.Iovec
	names  []syscall.RawSockaddrInet6 // large enough for either family
	oobs   []byte                     // oobSize control-message bytes per message
	rc     syscall.RawConn

	// state of the call in progress, read by the callbacks below, which
	// are bound once so that no closure is allocated per call
	n       int
	flags   int
	errno   syscall.Errno
	readF   func(fd uintptr) bool
	readNBF func(fd uintptr) bool
	writeF  func(fd uintptr) bool
}

func (s *batchSys) init(c *net.UDPConn, size int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	s.rc = rc
	s.family = syscall.AF_INET6
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		s.family, ferr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN)
	}); err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	s.hdrs = make([]mmsghdr, size)
	s.iovs = make([]syscall.Iovec, size)
	s.names = make([]syscall.RawSockaddrInet6, size)
	s.oobs = make([]byte, size*batchOOB)
	s.readF = s.doRead
	s.readNBF = s.doReadNB
	s.writeF = s.doWrite
	return nil
}

// batchOOB is the control-message room of each message: a UDP_GRO or
// UDP_SEGMENT value.
var batchOOB = syscall.CmsgSpace(4)

// The calls are made with RawSyscall6: the socket is non-blocking, so
// recvmmsg and sendmmsg never block (EAGAIN sends the goroutine to the
// poller instead), and skipping the scheduler's syscall bookkeeping saves
// a thread handoff on every long batch.

func (s *batchSys) doRead(fd uintptr) bool {
	r, _, e := syscall.RawSyscall6(sysRecvmmsg, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.n),
		uintptr(s.flags), 0, 0)
	if e == syscall.EAGAIN || e == syscall.EINTR {
		return false // wait in the poller for the socket to be readable
	}
	s.n, s.errno = int(r), e
	return true
}

// doReadNB is doRead that never waits: EAGAIN is an answer (none queued).
func (s *batchSys) doReadNB(fd uintptr) bool {
	r, _, e := syscall.RawSyscall6(sysRecvmmsg, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.n),
		uintptr(s.flags|syscall.MSG_DONTWAIT), 0, 0)
	if e == syscall.EAGAIN || e == syscall.EINTR {
		s.n, s.errno = 0, 0
		return true
	}
	s.n, s.errno = int(r), e
	return true
}

func (s *batchSys) doWrite(fd uintptr) bool {
	r, _, e := syscall.RawSyscall6(sysSendmmsg, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.n),
		uintptr(s.flags), 0, 0)
	if e == syscall.EAGAIN || e == syscall.EINTR {
		return false
	}
	s.n, s.errno = int(r), e
	return true
}

func (s *batchSys) read(c *net.UDPConn, ms []Message) (int, error) {
	return s.readMode(ms, false)
}

func (s *batchSys) tryRead(c *net.UDPConn, ms []Message) (int, error) {
	return s.readMode(ms, true)
}

// setIov points iov at buf.
func setIov(iov *syscall.Iovec, buf []byte) {
	iov.Base = nil
	if len(buf) > 0 {
		iov.Base = &buf[0]
	}
	iov.SetLen(len(buf))
}

func (s *batchSys) readMode(ms []Message, nonblock bool) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	for i := range ms {
		h := &s.hdrs[i]
		iov := &s.iovs[i]
		setIov(iov, ms[i].Buf)
		h.hdr = syscall.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&s.names[i])),
			Namelen: uint32(syscall.SizeofSockaddrInet6),
			Iov:     iov,
			Control: &s.oobs[i*batchOOB],
		}
		h.hdr.Iovlen = 1
		h.hdr.SetControllen(batchOOB)
		h.len = 0
	}
	s.n, s.flags, s.errno = len(ms), 0, 0
	f := s.readF
	if nonblock {
		f = s.readNBF
	}
	if err := s.rc.Read(f); err != nil {
		return 0, err
	}
	if s.errno != 0 {
		return 0, &net.OpError{Op: "read", Net: "udp", Err: syscall.Errno(s.errno)}
	}
	n := s.n
	for i := 0; i < n; i++ {
		h := &s.hdrs[i]
		m := &ms[i]
		m.N = min(int(h.len), len(m.Buf))
		m.Truncated = h.hdr.Flags&syscall.MSG_TRUNC != 0
		m.Addr = decodeSockaddr(&s.names[i])
		m.Segment = 0
		if h.hdr.Controllen > 0 {
			m.Segment = parseGRO(s.oobs[i*batchOOB : i*batchOOB+int(h.hdr.Controllen)])
		}
	}
	return n, nil
}

func (s *batchSys) write(c *net.UDPConn, ms []Message) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	for i := range ms {
		h := &s.hdrs[i]
		iov := &s.iovs[i]
		setIov(iov, ms[i].Buf)
		h.hdr = syscall.Msghdr{Iov: iov}
		h.hdr.Iovlen = 1
		if ms[i].Addr.IsValid() {
			h.hdr.Name = (*byte)(unsafe.Pointer(&s.names[i]))
			h.hdr.Namelen = encodeSockaddr(&s.names[i], ms[i].Addr, s.family)
		}
		if seg := ms[i].Segment; seg > 0 && seg < len(ms[i].Buf) {
			oob := s.oobs[i*batchOOB : (i+1)*batchOOB]
			putSegment(oob, seg)
			h.hdr.Control = &oob[0]
			h.hdr.SetControllen(syscall.CmsgSpace(2))
		}
		h.len = 0
	}
	s.n, s.flags, s.errno = len(ms), 0, 0
	if err := s.rc.Write(s.writeF); err != nil {
		return 0, err
	}
	if s.errno != 0 {
		return 0, &net.OpError{Op: "write", Net: "udp", Err: syscall.Errno(s.errno)}
	}
	return s.n, nil
}

// decodeSockaddr reads an AF_INET or AF_INET6 address (IPv4-mapped ones
// as IPv4).
func decodeSockaddr(sa *syscall.RawSockaddrInet6) netip.AddrPort {
	raw := (*[syscall.SizeofSockaddrInet6]byte)(unsafe.Pointer(sa))
	port := binary.BigEndian.Uint16(raw[2:4])
	switch sa.Family {
	case syscall.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[4:8])), port)
	case syscall.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// encodeSockaddr writes ap for a socket of the given family (IPv4
// destinations of an IPv6 socket become IPv4-mapped) and returns its length.
func encodeSockaddr(sa *syscall.RawSockaddrInet6, ap netip.AddrPort, family int) uint32 {
	raw := (*[syscall.SizeofSockaddrInet6]byte)(unsafe.Pointer(sa))
	*sa = syscall.RawSockaddrInet6{}
	binary.BigEndian.PutUint16(raw[2:4], ap.Port())
	if family == syscall.AF_INET {
		sa.Family = syscall.AF_INET
		a4 := ap.Addr().Unmap().As4()
		copy(raw[4:8], a4[:])
		return syscall.SizeofSockaddrInet4
	}
	sa.Family = syscall.AF_INET6
	sa.Addr = ap.Addr().As16()
	return syscall.SizeofSockaddrInet6
}

// parseGRO returns the segment size of a UDP_GRO control message in oob,
// or 0.
func parseGRO(oob []byte) int {
	it := cmsgIter{oob}
	for {
		level, typ, data, ok := it.next()
		if !ok {
			return 0
		}
		if level == solUDP && typ == udpGRO {
			switch {
			case len(data) >= 4:
				return int(binary.NativeEndian.Uint32(data))
			case len(data) >= 2:
				return int(binary.NativeEndian.Uint16(data))
			}
		}
	}
}

// putSegment writes a UDP_SEGMENT control message carrying seg into oob.
func putSegment(oob []byte, seg int) {
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = solUDP, udpSegment
	h.SetLen(syscall.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[syscall.SizeofCmsghdr:], uint16(seg))
}
