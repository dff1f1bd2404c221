package main

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/udpchat/udpchat/dgram/pcap"
)

// sendWithTTL sends b to dst from a socket whose outgoing IPv4 TTL (or
// IPv6 hop limit) is ttl, as a Python sender does with
// s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl).
func sendWithTTL(t *testing.T, dst netip.AddrPort, ttl int, b []byte) {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	_ = rc.Control(func(fd uintptr) {
		if dst.Addr().Is4() {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl)
		}
	})
	if serr != nil {
		t.Fatal(serr)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// capturedTTLs reads the TTLs of the datagrams a capture holds.
func capturedTTLs(t *testing.T, path string) []uint8 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := pcap.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	var ttls []uint8
	for _, r := range recs {
		u, err := pcap.ParseUDP(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		ttls = append(ttls, u.TTL)
	}
	return ttls
}

// TestListenShowsTTL: a sender that sets its TTL (hop limit) to 7 is seen
// with TTL 7 by listen --json ("ttl") and --verbose, and recorded so by
// --pcap; one that keeps the default arrives with 64.
func TestListenShowsTTL(t *testing.T) {
	addrs := []string{"127.0.0.1:0"}
	if hasIPv6Loopback() {
		addrs = append(addrs, "[::1]:0")
	}
	for _, addr := range addrs {
		path := filepath.Join(t.TempDir(), "ttl.pcapng")
		l := startChild(t, "listen", addr, "--json", "--count", "2", "--pcap", path)
		dst := netip.MustParseAddrPort(l.expectErr(`listening on (\S+)`)[1])
		sendWithTTL(t, dst, 7, []byte("seven"))
		l.expectOut(`^\{"type":"datagram","from":"[^"]+","to":"[^"]+","ttl":7,"bytes":5,"data":"seven"\}$`)
		sendWithTTL(t, dst, 64, []byte("default"))
		l.expectOut(`"ttl":64,"bytes":7,"data":"default"`)
		if code := l.wait(); code != 0 {
			t.Fatalf("listen exited %d", code)
		}
		if ttls := capturedTTLs(t, path); len(ttls) != 2 || ttls[0] != 7 || ttls[1] != 64 {
			t.Errorf("%s: the capture records TTLs %v, want [7 64]", addr, ttls)
		}

		v := startChild(t, "listen", addr, "--verbose", "--count", "1")
		dst = netip.MustParseAddrPort(v.expectErr(`listening on (\S+)`)[1])
		sendWithTTL(t, dst, 7, []byte("seven"))
		v.expectOut(` -> \S+ ttl 7 \(5 bytes\): seven$`)
		v.wait()
	}
}
