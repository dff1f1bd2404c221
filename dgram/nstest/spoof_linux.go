//go:build linux

package nstest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Spoofer sends UDP datagrams whose source address is whatever the test
// says, through a raw IPv4 socket that writes its own IP header
// (IP_HDRINCL), as an attacker who forges a victim's address does. Tests
// use it to show that a server cannot be turned against the address a
// datagram claims: they bind a socket to that address (every address of
// 127.0.0.0/8 is local) and count what the server sends there.
//
// Destinations must be on loopback (127.0.0.0/8) or in Range4, so that no
// forged datagram leaves the machine or a test namespace.
type Spoofer struct {
	fd  int
	buf []byte
}

// NewSpoofer opens the raw socket, closed when the test ends. It skips the
// test when raw sockets cannot be opened (they need root, CAP_NET_RAW),
// saying so.
func NewSpoofer(t testing.TB) *Spoofer {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("skipped: forging source addresses needs a raw socket, and so root (this test runs as uid %d)", os.Geteuid())
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		t.Skipf("skipped: cannot open a raw socket to forge source addresses: %v", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
		unix.Close(fd)
		t.Skipf("skipped: IP_HDRINCL: %v", err)
	}
	// a deep send buffer, so that a flood does not fail with ENOBUFS
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
	s := &Spoofer{fd: fd}
	t.Cleanup(func() { unix.Close(fd) })
	return s
}

// Send sends payload in one UDP datagram from src to dst, both IPv4. The
// UDP checksum is computed, as a real sender's would be.
func (s *Spoofer) Send(src, dst netip.AddrPort, payload []byte) error {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if !sa.Is4() || !da.Is4() {
		return fmt.Errorf("nstest: Spoofer sends IPv4 only, not %v -> %v", src, dst)
	}
	if !da.IsLoopback() && !Range4.Contains(da) {
		return fmt.Errorf("nstest: Spoofer sends only to loopback or %v, not %v", Range4, da)
	}
	n := 20 + 8 + len(payload)
	if n > 65535 {
		return fmt.Errorf("nstest: a datagram of %d bytes does not fit one IPv4 packet", len(payload))
	}
	b := s.buf[:0]
	b = append(b, 0x45, 0)                          // version 4, header 20 bytes; TOS
	b = binary.BigEndian.AppendUint16(b, uint16(n)) // total length
	b = append(b, 0, 0, 0x40, 0)                    // ID (the kernel fills it in), DF
	b = append(b, 64, unix.IPPROTO_UDP, 0, 0)       // TTL, protocol, checksum (the kernel fills it in)
	s4, d4 := sa.As4(), da.As4()
	b = append(b, s4[:]...)
	b = append(b, d4[:]...)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	b = append(b, 0, 0)
	b = append(b, payload...)
	binary.BigEndian.PutUint16(b[26:28], udpChecksum(s4, d4, b[20:]))
	s.buf = b
	return unix.Sendto(s.fd, b, 0, &unix.SockaddrInet4{Addr: d4})
}

// udpChecksum is the UDP checksum over the IPv4 pseudo-header and seg (the
// UDP header, with a zero checksum field, and the payload).
func udpChecksum(src, dst [4]byte, seg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	sum += unix.IPPROTO_UDP + uint32(len(seg))
	add(seg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	if c == 0 {
		c = 0xffff // 0 means "no checksum"
	}
	return c
}
