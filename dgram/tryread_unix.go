//go:build unix

package dgram

import (
	"net/netip"
	"syscall"
)

// TryRead reads a datagram only if one is already queued on the socket; it
// never waits. ok is false when none was queued. It clears the socket's
// read deadline, which the caller sets again before a blocking Read.
func (r *Reader) TryRead() (d Datagram, ok bool, err error) {
	if err := r.c.SetReadDeadline(noDeadline); err != nil {
		return Datagram{}, false, Classify("receive", r.local, err)
	}
	rc, err := r.c.SyscallConn()
	if err != nil {
		return Datagram{}, false, err
	}
	var (
		n, oobn, flags int
		from           syscall.Sockaddr
		rerr           error
	)
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, flags, from, rerr = syscall.Recvmsg(int(fd), r.buf, r.oob, syscall.MSG_DONTWAIT)
		return true // never wait in the poller
	})
	if err != nil {
		return Datagram{}, false, Classify("receive", r.local, err)
	}
	if rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK {
		return Datagram{}, false, nil
	}
	if rerr != nil {
		return Datagram{}, false, r.classify(rerr)
	}
	if dr, ok := parseDrops(r.oob[:oobn]); ok {
		r.drops = dr
	}
	d = Datagram{Data: r.buf[:n], From: sockaddrToAddrPort(from)}
	if flags&syscall.MSG_TRUNC != 0 {
		d.Truncated = true
		r.truncated++
	}
	return d, true, nil
}

func sockaddrToAddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}
