package dgram

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvmsg is one recvmsg(2), as (*net.UDPConn).ReadMsgUDPAddrPort makes
// it (a 112-byte address buffer): unix.Recvmsg would also ask the socket
// its protocol (getsockopt SO_PROTOCOL) to decode the address, a call Go's
// own read does not make.
func recvmsg(fd int, buf, oob []byte, flags int) recvResult {
	var rsa unix.RawSockaddrAny
	var iov unix.Iovec
	setIov(&iov, buf)
	msg := unix.Msghdr{Name: (*byte)(unsafe.Pointer(&rsa)), Namelen: unix.SizeofSockaddrAny, Iov: &iov}
	msg.SetIovlen(1)
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	n, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	if e != 0 {
		return recvResult{err: e}
	}
	if raceEnabled {
		raceWrite(buf[:n])
	}
	return recvResult{n: int(n), oobn: int(msg.Controllen), flags: int(msg.Flags),
		from: decodeSockaddr((*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa)))}
}
