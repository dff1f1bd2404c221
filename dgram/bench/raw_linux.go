//go:build linux && (amd64 || arm64)

package bench

import (
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// The latency path runs where a C program would: plain blocking
// recvfrom/sendto (or non-blocking ones in a spin, for busy polling) on a
// thread of its own, so that the kernel wakes exactly the waiting thread.
// Go's poller would add a hand-off through epoll and the scheduler to every
// round trip, which a microsecond benchmark against sockperf shows.

// rawSocket runs f with the socket's descriptor in blocking mode on a
// locked thread, with a receive timeout of tick so that f can look at the
// clock; it restores non-blocking mode afterwards.
func rawSocket(conn *net.UDPConn, tick time.Duration, f func(fd int)) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var serr error
	err = rc.Control(func(fd uintptr) {
		ifd := int(fd)
		if serr = syscall.SetNonblock(ifd, false); serr != nil {
			return
		}
		defer syscall.SetNonblock(ifd, true)
		tv := syscall.NsecToTimeval(tick.Nanoseconds())
		if serr = syscall.SetsockoptTimeval(ifd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); serr != nil {
			return
		}
		defer syscall.SetsockoptTimeval(ifd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{})
		f(ifd)
	})
	if err != nil {
		return err
	}
	return serr
}

// rawAddr is a sockaddr buffer for recvfrom/sendto.
type rawAddr struct {
	sa  syscall.RawSockaddrInet6
	len uint32
}

// recvFrom reads one datagram (blocking, or not with dontwait) into b and
// the sender's address into from. It returns -1 on EAGAIN (timeout or
// nothing queued) or EINTR.
func recvFrom(fd int, b []byte, from *rawAddr, dontwait bool) int {
	flags := 0
	if dontwait {
		flags = syscall.MSG_DONTWAIT
	}
	from.len = syscall.SizeofSockaddrInet6
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		uintptr(flags), uintptr(unsafe.Pointer(&from.sa)), uintptr(unsafe.Pointer(&from.len)))
	if e != 0 {
		return -1
	}
	return int(n)
}

// sendTo sends b to to (nil: the connected peer).
func sendTo(fd int, b []byte, to *rawAddr) error {
	var sa, salen uintptr
	if to != nil {
		sa, salen = uintptr(unsafe.Pointer(&to.sa)), uintptr(to.len)
	}
	_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, sa, salen)
	if e != 0 {
		return e
	}
	return nil
}

const haveRaw = true

// addrPort converts the address to a netip.AddrPort.
func (a *rawAddr) addrPort() netip.AddrPort {
	raw := (*[syscall.SizeofSockaddrInet6]byte)(unsafe.Pointer(&a.sa))
	port := uint16(raw[2])<<8 | uint16(raw[3])
	if a.sa.Family == syscall.AF_INET {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[4:8])), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom16(a.sa.Addr).Unmap(), port)
}
