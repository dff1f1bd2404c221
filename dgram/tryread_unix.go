//go:build unix

package dgram

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// TryRead reads a datagram only if one is already queued on the socket; it
// never waits. ok is false when none was queued. It clears the socket's
// read deadline, which the caller sets again before a blocking Read.
func (r *Reader) TryRead() (d Datagram, ok bool, err error) {
	if r.tracer != nil {
		return r.tryReadTraced()
	}
	if err := r.c.SetReadDeadline(noDeadline); err != nil {
		return Datagram{}, false, Classify("receive", r.localStr, err)
	}
	rc, err := r.c.SyscallConn()
	if err != nil {
		return Datagram{}, false, err
	}
	var (
		n, oobn, flags int
		from           unix.Sockaddr
		rerr           error
	)
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, oobn, flags, from, rerr = unix.Recvmsg(int(fd), r.buf, r.oob, unix.MSG_DONTWAIT)
			if rerr != unix.EINTR {
				return true // never wait in the poller
			}
		}
	})
	if err != nil {
		return Datagram{}, false, Classify("receive", r.localStr, err)
	}
	if rerr == unix.EAGAIN || rerr == unix.EWOULDBLOCK {
		return Datagram{}, false, nil
	}
	if rerr != nil {
		return Datagram{}, false, r.classify(rerr)
	}
	return r.datagram(n, r.oob[:oobn], flags&unix.MSG_TRUNC != 0, sockaddrToAddrPort(from)), true, nil
}

func sockaddrToAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}
