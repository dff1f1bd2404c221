//go:build linux

package nstest

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestSpoofer forges a datagram from 127.5.6.7:4321 to a socket on
// 127.9.8.7: it arrives from the forged address, intact (the kernel checks
// the UDP checksum), and the Spoofer refuses destinations off the machine.
func TestSpoofer(t *testing.T) {
	s := NewSpoofer(t)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 9, 8, 7)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst := c.LocalAddr().(*net.UDPAddr).AddrPort()
	src := netip.MustParseAddrPort("127.5.6.7:4321")
	for _, msg := range []string{"forged", "odd length", ""} {
		if err := s.Send(src, dst, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 100)
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil || from != src || string(buf[:n]) != msg {
			t.Fatalf("got %q from %v (%v), want %q from %v", buf[:n], from, err, msg, src)
		}
	}
	if err := s.Send(src, netip.MustParseAddrPort("192.0.2.1:9"), []byte("x")); err == nil {
		t.Error("a forged datagram to 192.0.2.1 was sent")
	}
	if err := s.Send(netip.MustParseAddrPort("[::1]:5"), dst, []byte("x")); err == nil {
		t.Error("an IPv6 source was accepted")
	}
}
