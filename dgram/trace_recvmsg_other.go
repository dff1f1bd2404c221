//go:build unix && !linux

package dgram

import "golang.org/x/sys/unix"

// recvmsg is one recvmsg(2).
func recvmsg(fd int, buf, oob []byte, flags int) recvResult {
	n, oobn, rflags, from, err := unix.Recvmsg(fd, buf, oob, flags)
	if err != nil {
		return recvResult{err: err}
	}
	return recvResult{n: n, oobn: oobn, flags: rflags, from: sockaddrToAddrPort(from)}
}
