package dgram

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// EnableGRO asks the kernel to coalesce received datagrams of one flow
// (UDP_GRO); batch reads then report Message.Segment. It fails on kernels
// without UDP GRO (before 5.0); callers fall back to plain reads. A Reader
// must not read a socket with GRO on: it would see coalesced buffers as
// one datagram.
func EnableGRO(c *net.UDPConn) error { return setsockoptInt(c, unix.SOL_UDP, unix.UDP_GRO, 1) }

// GSOSupported reports whether the kernel accepts UDP_SEGMENT on c, so that
// a batch write may carry Message.Segment in one system call.
func GSOSupported(c *net.UDPConn) bool {
	_, err := getsockoptInt(c, unix.SOL_UDP, unix.UDP_SEGMENT)
	return err == nil
}

// KernelDrops returns how many datagrams the kernel has dropped on c so far
// because its receive buffer was full (sk_drops, read with SO_MEMINFO), and
// whether the figure is available. Unlike the SO_RXQ_OVFL counter, which
// rides on the next datagram received, it is current at the moment of the
// call, so a summary can include drops after the last datagram read.
func KernelDrops(c *net.UDPConn) (uint64, bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info [unix.SK_MEMINFO_VARS]uint32
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(info))
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	}); err != nil || errno != 0 {
		return 0, false
	}
	return uint64(info[unix.SK_MEMINFO_DROPS]), true
}
