//go:build unix

package room

import "golang.org/x/sys/unix"

// reuseAddr sets SO_REUSEADDR: several sockets on one host may then bind
// a multicast room's port, and each receives every datagram of the group.
func reuseAddr(fd uintptr) error {
	return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
}
