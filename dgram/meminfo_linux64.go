//go:build linux && (amd64 || arm64)

package dgram

import (
	"net"
	"syscall"
	"unsafe"
)

// Linux's SO_MEMINFO: getsockopt fills SK_MEMINFO_VARS uint32 counters, of
// which SK_MEMINFO_DROPS is the socket's drop count (sk_drops).
const (
	soMeminfo      = 55
	skMeminfoVars  = 9
	skMeminfoDrops = 8
)

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
	var info [skMeminfoVars]uint32
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		size := uint32(unsafe.Sizeof(info))
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.SOL_SOCKET, soMeminfo,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	}); err != nil || errno != 0 {
		return 0, false
	}
	return uint64(info[skMeminfoDrops]), true
}
