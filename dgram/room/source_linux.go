package room

import (
	"context"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// groupSource returns the source address the kernel puts on what a
// socket bound to the wildcard address sends to group through ifi: the
// address it binds a UDP socket to when that socket, with ifi as its
// multicast interface, connects to the group (connecting sends nothing).
// It is the unspecified address when ifi has no address the kernel would
// use, and invalid when it cannot be told.
func groupSource(group netip.AddrPort, ifi *net.Interface) netip.Addr {
	netw, to := "udp4", group
	if group.Addr().Is6() {
		netw, to = "udp6", netip.AddrPortFrom(group.Addr().WithZone(ifi.Name), group.Port())
	}
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if group.Addr().Is6() {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index)
			} else {
				serr = unix.SetsockoptIPMreqn(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)})
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.DialContext(context.Background(), netw, to.String())
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
		return a.AddrPort().Addr().Unmap().WithZone("")
	}
	return netip.Addr{}
}
