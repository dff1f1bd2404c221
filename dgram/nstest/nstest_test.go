//go:build linux

package nstest

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRouterAndMTU builds client - router - server, the second hop with an
// MTU of 1280, and sends a datagram end to end from sockets opened with Do.
func TestRouterAndMTU(t *testing.T) {
	cli, rtr, srv := New(t), New(t), New(t)
	Link(t, cli, rtr, LinkOptions{
		A: []netip.Prefix{netip.MustParsePrefix("198.18.1.2/24"), netip.MustParsePrefix("2001:db8:1::2/64")},
		B: []netip.Prefix{netip.MustParsePrefix("198.18.1.1/24"), netip.MustParsePrefix("2001:db8:1::1/64")},
	})
	_, srvDev := Link(t, rtr, srv, LinkOptions{
		A:   []netip.Prefix{netip.MustParsePrefix("198.18.2.1/24"), netip.MustParsePrefix("2001:db8:2::1/64")},
		B:   []netip.Prefix{netip.MustParsePrefix("198.18.2.2/24"), netip.MustParsePrefix("2001:db8:2::2/64")},
		MTU: 1280,
	})
	rtr.Forward()
	cli.AddRoute(netip.MustParsePrefix("198.18.2.0/24"), netip.MustParseAddr("198.18.1.1"))
	cli.AddRoute(netip.MustParsePrefix("2001:db8:2::/64"), netip.MustParseAddr("2001:db8:1::1"))
	srv.AddRoute(netip.MustParsePrefix("198.18.1.0/24"), netip.MustParseAddr("198.18.2.1"))
	srv.AddRoute(netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParseAddr("2001:db8:2::1"))

	if out := srv.IP("link", "show", srvDev); !strings.Contains(out, "mtu 1280") {
		t.Errorf("ip link show %s = %q, want mtu 1280", srvDev, out)
	}
	for _, dst := range []string{"198.18.2.2", "2001:db8:2::2"} {
		var s *net.UDPConn
		srv.MustDo(func() (err error) {
			s, err = net.ListenUDP("udp", &net.UDPAddr{Port: 0})
			return err
		})
		port := s.LocalAddr().(*net.UDPAddr).Port
		var c *net.UDPConn
		cli.MustDo(func() (err error) {
			c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(dst), uint16(port))))
			return err
		})
		if _, err := c.Write([]byte("across the router")); err != nil {
			t.Fatalf("to %s: %v", dst, err)
		}
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 100)
		n, from, err := s.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("to %s: read: %v", dst, err)
		}
		if got := string(buf[:n]); got != "across the router" {
			t.Errorf("to %s: got %q", dst, got)
		}
		if want := c.LocalAddr().(*net.UDPAddr).AddrPort(); from.Addr().Unmap() != want.Addr().Unmap() || from.Port() != want.Port() {
			t.Errorf("to %s: from %v, want %v", dst, from, want)
		}
		c.Close()
		s.Close()
	}
}

// TestDoIsolated checks that Do runs in the namespace (only lo there) and
// that the calling goroutine stays where it was.
func TestDoIsolated(t *testing.T) {
	ns := New(t)
	var names []string
	ns.MustDo(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	})
	if strings.Join(names, ",") != "lo" {
		t.Errorf("interfaces in a new namespace = %v, want only lo", names)
	}
	sentinel := errors.New("from f")
	if err := ns.Do(func() error { return sentinel }); err != sentinel {
		t.Errorf("Do returned %v, want f's error", err)
	}
}

// TestDoLeavesNoThreadBehind: when Do returns, every thread of the process
// is back in the namespace it started in. A thread left behind may be the
// main thread, which Go parks instead of ending and which /proc/net
// follows: the process's own sockets would vanish from /proc/net/udp.
//
// /proc/net follows /proc/self, the thread group's leader (the main
// thread): the test reads that thread's namespace, not the listing of
// /proc/net/udp, which the kernel writes a page at a time, walking a
// table that other processes' sockets change meanwhile, and which may
// skip a socket that is there (it did, under load).
func TestDoLeavesNoThreadBehind(t *testing.T) {
	ns := New(t)
	home, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Skipf("no /proc/thread-self: %v", err)
	}
	// Each Do runs on a new goroutine, which may land on any thread, the
	// main thread included: a few dozen calls land on it (and on others).
	for i := range 50 {
		ns.MustDo(func() error { return nil })
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			got, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net")
			if err != nil {
				continue // the thread ended meanwhile
			}
			if got != home {
				t.Fatalf("after Do #%d: thread %s is in %s, want %s (the test's own)", i, task.Name(), got, home)
			}
		}
		if got, err := os.Readlink("/proc/self/ns/net"); err != nil || got != home {
			t.Fatalf("after Do #%d: the main thread, which /proc/net follows, is in %s (%v), want %s", i, got, err, home)
		}
	}
}

func TestRefusesRealAddresses(t *testing.T) {
	for _, s := range []string{"10.0.0.1/8", "198.16.0.1/24", "198.18.0.0/8", "2001:db9::1/64", "192.0.2.1/24"} {
		ft := &fakeT{TB: t}
		func() {
			defer func() { recover() }()
			checkRange(ft, netip.MustParsePrefix(s))
		}()
		if !ft.failed {
			t.Errorf("checkRange(%s) accepted an address outside the test ranges", s)
		}
	}
	for _, s := range []string{"198.18.0.1/24", "198.19.255.1/16", "2001:db8:1::1/64"} {
		ft := &fakeT{TB: t}
		checkRange(ft, netip.MustParsePrefix(s))
		if ft.failed {
			t.Errorf("checkRange(%s) refused a test address", s)
		}
	}
}

// fakeT records Fatalf instead of stopping the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}
