package pmtu

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SetDF sets the don't-fragment behaviour of c (IP_MTU_DISCOVER, and for
// IPv6 IPV6_MTU_DISCOVER with IPV6_DONTFRAG, so that the sending host
// does not fragment either). Both modes set DF on every datagram; they
// differ in what the kernel does with the path MTU it learned from ICMP:
//
//   - Do (IP_PMTUDISC_DO) refuses, with EMSGSIZE, any send larger than it:
//     the mode for an application that must never be fragmented (send --df).
//   - Probe (IP_PMTUDISC_PROBE) ignores it and refuses only sends larger
//     than the interface's MTU: the mode for probes that test the path
//     themselves (RFC 8899).
func SetDF(c *net.UDPConn, m Mode) error {
	v4, v6 := unix.IP_PMTUDISC_DO, unix.IPV6_PMTUDISC_DO
	if m == Probe {
		v4, v6 = unix.IP_PMTUDISC_PROBE, unix.IPV6_PMTUDISC_PROBE
	}
	return control(c, func(fd int, is6 bool) error {
		if !is6 {
			return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, v4)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, v6); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1); err != nil {
			return err
		}
		// IPv4 destinations of a dual-stack socket: best effort
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, v4)
		return nil
	})
}

// PathMTU returns the path MTU the kernel knows for c's peer (IP_MTU or
// IPV6_MTU on a connected socket): the route's MTU, lowered by what ICMP
// "fragmentation needed" or "packet too big" messages said. c must be
// connected.
func PathMTU(c *net.UDPConn) (int, error) {
	var mtu int
	err := control(c, func(fd int, is6 bool) error {
		var err error
		if is6 {
			mtu, err = unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU)
		} else {
			mtu, err = unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU)
		}
		return err
	})
	return mtu, err
}

// enableErrQueue asks the kernel to queue the ICMP errors c receives, with
// the address of the router that sent each and the start of the datagram
// it refused (IP_RECVERR, IPV6_RECVERR).
func enableErrQueue(c *net.UDPConn) error {
	return control(c, func(fd int, is6 bool) error {
		if is6 {
			return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
		}
		return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
	})
}

// control runs f on c's descriptor with the socket's family.
func control(c *net.UDPConn, f func(fd int, is6 bool) error) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		dom, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		if err != nil {
			ferr = err
			return
		}
		ferr = f(int(fd), dom == unix.AF_INET6)
	}); err != nil {
		return err
	}
	if ferr != nil {
		return &net.OpError{Op: "setsockopt", Net: "udp", Err: ferr}
	}
	return nil
}

// maxReports bounds the error-queue entries read at once.
const maxReports = 64

// readErrQueue reads, without waiting, the errors queued on c
// (MSG_ERRQUEUE), at most maxReports.
func readErrQueue(c *net.UDPConn, buf, oob []byte) ([]report, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var out []report
	var rerr error
	err = rc.Control(func(fd uintptr) {
		for range maxReports {
			n, oobn, _, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
			if err != nil {
				if !errors.Is(err, unix.EAGAIN) {
					rerr = err
				}
				return
			}
			if r, ok := parseErr(oob[:oobn]); ok {
				r.payload = append([]byte(nil), buf[:n]...)
				out = append(out, r)
			}
		}
	})
	if err != nil {
		return out, err
	}
	return out, rerr
}

// eeSize is the size of struct sock_extended_err.
const eeSize = int(unsafe.Sizeof(unix.SockExtendedErr{}))

// parseErr reads the sock_extended_err of an IP_RECVERR/IPV6_RECVERR
// control message and the offender's address after it.
func parseErr(oob []byte) (report, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return report{}, false
	}
	for _, m := range msgs {
		ok := m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_RECVERR ||
			m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_RECVERR
		if !ok || len(m.Data) < eeSize {
			continue
		}
		d := m.Data
		r := report{
			errno:  syscall.Errno(binary.NativeEndian.Uint32(d[0:])),
			origin: d[4], typ: d[5], code: d[6],
			mtu: int(binary.NativeEndian.Uint32(d[8:])),
		}
		sa := d[eeSize:]
		if len(sa) >= 2 {
			switch binary.NativeEndian.Uint16(sa) {
			case unix.AF_INET:
				if len(sa) >= 8 {
					r.from = netip.AddrFrom4([4]byte(sa[4:8]))
				}
			case unix.AF_INET6:
				if len(sa) >= 24 {
					r.from = netip.AddrFrom16([16]byte(sa[8:24])).Unmap()
				}
			}
		}
		return r, true
	}
	return report{}, false
}

// origins of queued errors (linux/errqueue.h)
const (
	originLocal = unix.SO_EE_ORIGIN_LOCAL
	originICMP  = unix.SO_EE_ORIGIN_ICMP
	originICMP6 = unix.SO_EE_ORIGIN_ICMP6
)
