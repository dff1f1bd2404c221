//go:build unix

package netem

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// peekWait: waitReadable waits without a buffer.
const peekWait = true

// waitReadable waits until a datagram, or an error, is queued on the
// socket, without reading the datagram. refused reports an ICMP port
// unreachable (ECONNREFUSED), which the peek has consumed.
func waitReadable(rc syscall.RawConn) (refused bool, err error) {
	var peek [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, _, _, perr := unix.Recvmsg(int(fd), peek[:], nil, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if perr == unix.EAGAIN || perr == unix.EINTR {
			return false
		}
		refused = perr == unix.ECONNREFUSED
		return true
	})
	return refused, err
}
