//go:build unix

package dgram

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// readTraced is Read through the RawConn, each recvmsg told to the tracer.
func (r *Reader) readTraced() (Datagram, error) {
	rc, err := r.c.SyscallConn()
	if err != nil {
		return Datagram{}, r.classify(err)
	}
	var res recvResult
	err = rc.Read(func(fd uintptr) bool {
		for {
			res = r.recvmsgTraced(int(fd), 0)
			switch res.err {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait in the poller
			}
			return true
		}
	})
	if err == nil && res.err != nil {
		err = &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvmsg", res.err)}
	}
	if err != nil {
		return Datagram{}, r.classify(err)
	}
	return r.datagram(res.n, r.oob[:res.oobn], res.flags&unix.MSG_TRUNC != 0, res.from), nil
}

// tryReadTraced is TryRead, each recvmsg told to the tracer.
func (r *Reader) tryReadTraced() (Datagram, bool, error) {
	if err := r.c.SetReadDeadline(noDeadline); err != nil {
		return Datagram{}, false, Classify("receive", r.localStr, err)
	}
	rc, err := r.c.SyscallConn()
	if err != nil {
		return Datagram{}, false, err
	}
	var res recvResult
	err = rc.Read(func(fd uintptr) bool {
		for {
			if res = r.recvmsgTraced(int(fd), unix.MSG_DONTWAIT); res.err != unix.EINTR {
				return true // never wait in the poller
			}
		}
	})
	if err != nil {
		return Datagram{}, false, Classify("receive", r.localStr, err)
	}
	if res.err == unix.EAGAIN || res.err == unix.EWOULDBLOCK {
		return Datagram{}, false, nil
	}
	if res.err != nil {
		return Datagram{}, false, r.classify(res.err)
	}
	return r.datagram(res.n, r.oob[:res.oobn], res.flags&unix.MSG_TRUNC != 0, res.from), true, nil
}

// recvmsgTraced makes one recvmsg into the Reader's buffers and tells the
// tracer of it.
func (r *Reader) recvmsgTraced(fd, how int) recvResult {
	res := recvmsg(fd, r.buf, r.oob, how)
	s := Syscall{Name: "recvmsg", FD: fd, Flags: how, Arg: len(r.buf), Ret: res.n}
	var one [1]TracedDatagram
	if res.err != nil {
		s.Ret, s.Errno = -1, errnoOf(res.err)
	} else {
		one[0] = TracedDatagram{Addr: res.from, Len: res.n, Truncated: res.flags&unix.MSG_TRUNC != 0}
		s.Datagrams = one[:]
	}
	r.tracer.Syscall(&s)
	return res
}

// recvResult is what one recvmsg returned.
type recvResult struct {
	n, oobn, flags int
	from           netip.AddrPort
	err            error
}

func writeTraced(c *net.UDPConn, b []byte, t Tracer) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Write(int(fd), b)
			s := Syscall{Name: "write", FD: int(fd), Arg: len(b), Ret: n}
			var one [1]TracedDatagram
			if werr != nil {
				s.Ret, s.Errno = -1, errnoOf(werr)
			} else {
				one[0].Len = n
				s.Datagrams = one[:]
			}
			t.Syscall(&s)
			switch werr {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			}
			return true
		}
	})
	if err == nil && werr != nil {
		err = &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("write", werr)}
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}
