package dgram

import (
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errCmsg builds an IP_RECVERR (or IPV6_RECVERR) control message with
// the origin, ICMP type and code given.
func errCmsg(level, typ int32, origin, icmpType, code byte) []byte {
	ee := make([]byte, unsafe.Sizeof(unix.SockExtendedErr{}))
	ee[4], ee[5], ee[6] = origin, icmpType, code
	b := make([]byte, unix.CmsgSpace(len(ee)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(ee)))
	copy(b[unix.CmsgLen(0):], ee)
	return b
}

func TestClassifyErr(t *testing.T) {
	for _, tc := range []struct {
		name              string
		oob               []byte
		unreachable, port bool
	}{
		{"ICMP port unreachable", errCmsg(unix.IPPROTO_IP, unix.IP_RECVERR, unix.SO_EE_ORIGIN_ICMP, 3, 3), true, true},
		{"ICMP host unreachable", errCmsg(unix.IPPROTO_IP, unix.IP_RECVERR, unix.SO_EE_ORIGIN_ICMP, 3, 1), true, false},
		{"ICMP fragmentation needed", errCmsg(unix.IPPROTO_IP, unix.IP_RECVERR, unix.SO_EE_ORIGIN_ICMP, 3, 4), false, false},
		{"ICMP time exceeded", errCmsg(unix.IPPROTO_IP, unix.IP_RECVERR, unix.SO_EE_ORIGIN_ICMP, 11, 0), false, false},
		{"ICMPv6 port unreachable", errCmsg(unix.IPPROTO_IPV6, unix.IPV6_RECVERR, unix.SO_EE_ORIGIN_ICMP6, 1, 4), true, true},
		{"ICMPv6 filtered", errCmsg(unix.IPPROTO_IPV6, unix.IPV6_RECVERR, unix.SO_EE_ORIGIN_ICMP6, 1, 1), true, false},
		{"ICMPv6 packet too big", errCmsg(unix.IPPROTO_IPV6, unix.IPV6_RECVERR, unix.SO_EE_ORIGIN_ICMP6, 2, 0), false, false},
		{"local error", errCmsg(unix.IPPROTO_IP, unix.IP_RECVERR, unix.SO_EE_ORIGIN_LOCAL, 3, 3), false, false},
		{"empty", nil, false, false},
	} {
		if u, p := classifyErr(tc.oob); u != tc.unreachable || p != tc.port {
			t.Errorf("%s: unreachable %v, port %v; want %v, %v", tc.name, u, p, tc.unreachable, tc.port)
		}
	}
}

// FuzzClassifyErr: any control data is read without a panic, and a port
// unreachable is always an unreachable.
func FuzzClassifyErr(f *testing.F) {
	f.Add(errCmsg(unix.IPPROTO_IP, unix.IP_RECVERR, unix.SO_EE_ORIGIN_ICMP, 3, 3))
	f.Add(errCmsg(unix.IPPROTO_IPV6, unix.IPV6_RECVERR, unix.SO_EE_ORIGIN_ICMP6, 1, 4))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if u, p := classifyErr(b); p && !u {
			t.Fatal("port unreachable but not unreachable")
		}
	})
}

// TestDrainUnreachable: a datagram sent from an unconnected socket to a
// closed port comes back as port unreachable for that address, once the
// socket asked for ICMP errors.
func TestDrainUnreachable(t *testing.T) {
	closed, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	dst := closed.LocalAddr().(*net.UDPAddr).AddrPort()
	closed.Close()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !EnableRecvErr(c) {
		t.Fatal("EnableRecvErr failed on a UDP socket")
	}
	if _, err := c.WriteToUDPAddrPort([]byte("x"), dst); err != nil {
		t.Fatal(err)
	}
	// Readiness by signal: the read returns once the ICMP error has
	// come (as ECONNREFUSED), and leaves its message in the error queue.
	buf := make([]byte, 8)
	if err := c.SetReadDeadline(time.Now().Add(testDeadline)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadFromUDPAddrPort(buf)
	if err == nil {
		t.Fatal("a read on the socket returned a datagram, want the ICMP error")
	}
	var got []netip.AddrPort
	DrainUnreachable(c, func(a netip.AddrPort, port bool) {
		if port {
			got = append(got, a)
		}
	})
	if len(got) != 1 || got[0] != dst {
		t.Errorf("port unreachable from %v, want [%v]", got, dst)
	}
}
