package dgram

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSys holds what recvmmsg/sendmmsg need, allocated once.
type batchSys struct {
	rc    syscall.RawConn
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for either family
	roob  []byte                  // oobRead bytes per slot, for reads
	woob  []byte                  // oobWrite bytes per slot, for writes
	owner []int                   // write: the message each header sends
	ends  []int                   // write: where a header's piece ends in its message, or -1 (whole)
	race  []byte                  // with the race detector: scratch for raceRead

	// fault, in tests, fails a sendmmsg that carries UDP_SEGMENT with the
	// errno it returns (0: none), before the kernel sees it
	fault func() unix.Errno

	tracer Tracer           // ConnConfig.Tracer, or nil
	traced []TracedDatagram // its scratch
	wms    []Message        // the messages being written, for the tracer
	wgso   bool             // and whether this call carries UDP_SEGMENT

	// state of the call in progress, read by the callbacks below, which
	// are bound once so that no closure is allocated per call
	n       int
	errno   unix.Errno
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
	s.hdrs = make([]unix.Mmsghdr, size)
	s.iovs = make([]unix.Iovec, size)
	s.names = make([]unix.RawSockaddrInet6, size)
	s.roob = make([]byte, size*oobRead)
	s.woob = make([]byte, size*oobWrite)
	s.owner = make([]int, size)
	s.ends = make([]int, size)
	s.readF = s.doRead
	s.readNBF = s.doReadNB
	s.writeF = s.doWrite
	if raceEnabled {
		s.race = make([]byte, 4096)
	}
	return nil
}

// The calls go through unix.Syscall6, which tells the scheduler a system
// call is under way (and lets the race detector see the buffers). The
// socket is non-blocking: EAGAIN returns false, and the runtime parks the
// goroutine in its poller until the socket is ready.

func (s *batchSys) doRead(fd uintptr) bool {
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.n), 0, 0, 0)
		if s.tracer != nil {
			s.trace("recvmmsg", fd, 0, r, e)
		}
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait in the poller
		}
		s.n, s.errno = int(r), e
		return true
	}
}

// doReadNB is doRead that never waits: EAGAIN is an answer (none queued).
func (s *batchSys) doReadNB(fd uintptr) bool {
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.n),
			unix.MSG_DONTWAIT, 0, 0)
		if s.tracer != nil {
			s.trace("recvmmsg", fd, unix.MSG_DONTWAIT, r, e)
		}
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			s.n, s.errno = 0, 0
			return true
		}
		s.n, s.errno = int(r), e
		return true
	}
}

func (s *batchSys) doWrite(fd uintptr) bool {
	for {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[0])), uintptr(s.n), 0, 0, 0)
		if s.tracer != nil {
			s.trace("sendmmsg", fd, 0, r, e)
		}
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		s.n, s.errno = int(r), e
		return true
	}
}

// trace tells the tracer of a recvmmsg or sendmmsg just made.
func (s *batchSys) trace(name string, fd uintptr, flags int, r uintptr, e unix.Errno) {
	c := Syscall{Name: name, FD: int(fd), Flags: flags, Arg: s.n, Ret: int(r)}
	if e != 0 {
		c.Ret, c.Errno = -1, e
	}
	s.traced = s.traced[:0]
	for i := range max(c.Ret, 0) {
		h := &s.hdrs[i]
		d := TracedDatagram{Len: int(h.Len)}
		if name == "sendmmsg" {
			d.Len = int(s.iovs[i].Len)
			if h.Hdr.Namelen > 0 {
				d.Addr = decodeSockaddr(&s.names[i])
			}
			if m := &s.wms[s.owner[i]]; s.wgso && m.Segment > 0 && m.Segment < d.Len {
				d.Segment = m.Segment
			}
		} else {
			d.Addr = decodeSockaddr(&s.names[i])
			d.Truncated = h.Hdr.Flags&unix.MSG_TRUNC != 0
		}
		s.traced = append(s.traced, d)
	}
	c.Datagrams = s.traced
	s.tracer.Syscall(&c)
}

// setIov points iov at buf.
func setIov(iov *unix.Iovec, buf []byte) {
	iov.Base = nil
	if len(buf) > 0 {
		iov.Base = &buf[0]
	}
	iov.SetLen(len(buf))
}

func (s *batchSys) read(b *Batch, ms []Message, nonblock bool) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	for i := range ms {
		h := &s.hdrs[i]
		setIov(&s.iovs[i], ms[i].Buf)
		h.Hdr = unix.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&s.names[i])),
			Namelen: unix.SizeofSockaddrInet6,
			Iov:     &s.iovs[i],
			Control: &s.roob[i*oobRead],
		}
		h.Hdr.SetIovlen(1)
		h.Hdr.SetControllen(oobRead)
		h.Len = 0
	}
	s.n, s.errno = len(ms), 0
	f := s.readF
	if nonblock {
		f = s.readNBF
	}
	if err := s.rc.Read(f); err != nil {
		return 0, err
	}
	if s.errno != 0 {
		return 0, &net.OpError{Op: "read", Net: "udp", Err: s.errno}
	}
	n := s.n
	for i := range n {
		h := &s.hdrs[i]
		m := &ms[i]
		m.resetMeta()
		m.N = min(int(h.Len), len(m.Buf))
		m.Truncated = h.Hdr.Flags&unix.MSG_TRUNC != 0
		raceWrite(m.Buf[:m.N])
		m.Addr = decodeSockaddr(&s.names[i])
		var md meta
		if cl := int(h.Hdr.Controllen); cl > 0 {
			parseOOB(s.roob[i*oobRead:i*oobRead+min(cl, oobRead)], &md)
		}
		if h.Hdr.Flags&unix.MSG_CTRUNC != 0 {
			m.CtrlTruncated = true
			b.ctrunc.Add(1)
		}
		b.fillMeta(m, &md)
	}
	return n, nil
}

// write sends ms, splitting coalesced messages into single datagrams when
// GSO is off, and turning GSO off after EIO.
func (s *batchSys) write(b *Batch, ms []Message) (int, error) {
	done, off := 0, 0 // messages fully sent; bytes of ms[done] already sent
	noGSO := false    // the kernel refused these segments (EINVAL): one by one, this call
	for done < len(ms) {
		k, usedGSO, err := s.fill(b, ms, done, off, !noGSO && b.gso.Load())
		if k == 0 {
			return done, err
		}
		s.n, s.errno = k, 0
		if raceEnabled {
			for j := range k {
				raceRead(unsafe.Slice(s.iovs[j].Base, s.iovs[j].Len), s.race)
			}
		}
		var injected unix.Errno
		if usedGSO && s.fault != nil {
			injected = s.fault()
		}
		if s.tracer != nil {
			s.wms, s.wgso = ms, usedGSO
		}
		if injected != 0 {
			s.errno = injected
		} else if err := s.rc.Write(s.writeF); err != nil {
			return done, err
		}
		if s.errno == unix.EIO && usedGSO {
			b.gsoFailed(s.errno)
			continue // nothing of this call went out: again, without GSO
		}
		if (s.errno == unix.EINVAL || s.errno == unix.EMSGSIZE) && usedGSO {
			// segments the path cannot carry whole (larger than its MTU),
			// too many of them, or too many bytes in all: the kernel
			// takes the datagrams one by one, so send them so, this time
			noGSO = true
			continue
		}
		if s.errno != 0 {
			return done, &net.OpError{Op: "write", Net: "udp", Err: s.errno}
		}
		if s.n <= 0 { // the kernel took nothing and said nothing: do not spin
			return done, &net.OpError{Op: "write", Net: "udp", Err: io.ErrShortWrite}
		}
		for j := range s.n {
			if e := s.ends[j]; e < 0 || e >= len(ms[s.owner[j]].Buf) {
				done, off = s.owner[j]+1, 0
			} else {
				off = e
			}
		}
	}
	return done, nil
}

// fill builds the headers of the next call, from byte off of ms[done]. It
// returns how many it built, whether one carries UDP_SEGMENT, and, when
// it built none, why (a message whose addresses do not fit the socket).
func (s *batchSys) fill(b *Batch, ms []Message, done, off int, gso bool) (k int, usedGSO bool, err error) {
	for i := done; k < len(s.hdrs) && i < len(ms); k++ {
		m := &ms[i]
		if err := b.checkFamily(m.Addr, m.Local); err != nil {
			return k, usedGSO, err
		}
		h := &s.hdrs[k]
		h.Hdr = unix.Msghdr{}
		h.Len = 0
		if m.Addr.IsValid() {
			h.Hdr.Name = (*byte)(unsafe.Pointer(&s.names[k]))
			h.Hdr.Namelen = encodeSockaddr(&s.names[k], m.Addr, b.v6)
		}
		oob := s.woob[k*oobWrite : (k+1)*oobWrite]
		ol := 0
		if m.Local.IsValid() && (b.wild || m.Local.Addr().Unmap() != b.local.Addr().Unmap()) {
			// (a socket bound to one address sends from it anyway)
			ol += putSource(oob[ol:], m.Local.Addr().Unmap(), m.IfIndex)
		}
		payload, end := m.Buf, -1
		if seg := m.Segment; seg > 0 && seg < len(m.Buf) {
			if gso {
				ol += putSegment(oob[ol:], seg)
				usedGSO = true
			} else {
				end = min(off+seg, len(m.Buf))
				payload = m.Buf[off:end]
			}
		}
		setIov(&s.iovs[k], payload)
		h.Hdr.Iov = &s.iovs[k]
		h.Hdr.SetIovlen(1)
		if ol > 0 {
			h.Hdr.Control = &oob[0]
			h.Hdr.SetControllen(ol)
		}
		s.owner[k], s.ends[k] = i, end
		if end < 0 || end >= len(m.Buf) {
			i, off = i+1, 0
		} else {
			off = end
		}
	}
	return k, usedGSO, nil
}

// decodeSockaddr reads an AF_INET or AF_INET6 address (IPv4-mapped ones
// as IPv4).
func decodeSockaddr(sa *unix.RawSockaddrInet6) netip.AddrPort {
	raw := (*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(sa))
	port := binary.BigEndian.Uint16(raw[2:4])
	switch sa.Family {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[4:8])), port)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// encodeSockaddr writes ap for a socket of the given family (IPv4
// destinations of an IPv6 socket become IPv4-mapped) and returns its
// length. The caller has checked the family (checkFamily).
func encodeSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort, v6 bool) uint32 {
	raw := (*[unix.SizeofSockaddrInet6]byte)(unsafe.Pointer(sa))
	*sa = unix.RawSockaddrInet6{}
	binary.BigEndian.PutUint16(raw[2:4], ap.Port())
	if !v6 {
		sa.Family = unix.AF_INET
		a4 := ap.Addr().Unmap().As4()
		copy(raw[4:8], a4[:])
		return unix.SizeofSockaddrInet4
	}
	sa.Family = unix.AF_INET6
	sa.Addr = ap.Addr().As16()
	return unix.SizeofSockaddrInet6
}
