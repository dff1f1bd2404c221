package pmtu

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/nstest"
)

// Net is client - router - server in three namespaces; the router's link
// to the server has an MTU of 1280, the client's link 1500.
type Net struct {
	Cli, Rtr, Srv *nstest.NS
}

// Addresses of Net.
var (
	CliAddr4 = netip.MustParseAddr("198.18.1.2")
	RtrAddr4 = netip.MustParseAddr("198.18.1.1")
	SrvAddr4 = netip.MustParseAddr("198.18.2.2")
	CliAddr6 = netip.MustParseAddr("2001:db8:1::2")
	RtrAddr6 = netip.MustParseAddr("2001:db8:1::1")
	SrvAddr6 = netip.MustParseAddr("2001:db8:2::2")
)

// newNet builds the three namespaces (skipping the test where they cannot
// be made). With noICMP, the router drops the ICMP messages that would
// say a packet is too big, as a firewall that filters ICMP does.
func newNet(t *testing.T, noICMP bool) *Net {
	t.Helper()
	n := &Net{Cli: nstest.New(t), Rtr: nstest.New(t), Srv: nstest.New(t)}
	p := netip.MustParsePrefix
	nstest.Link(t, n.Cli, n.Rtr, nstest.LinkOptions{
		A: []netip.Prefix{p("198.18.1.2/24"), p("2001:db8:1::2/64")},
		B: []netip.Prefix{p("198.18.1.1/24"), p("2001:db8:1::1/64")},
	})
	nstest.Link(t, n.Rtr, n.Srv, nstest.LinkOptions{
		A:   []netip.Prefix{p("198.18.2.1/24"), p("2001:db8:2::1/64")},
		B:   []netip.Prefix{p("198.18.2.2/24"), p("2001:db8:2::2/64")},
		MTU: 1280,
	})
	n.Rtr.Forward()
	n.Cli.AddRoute(p("198.18.2.0/24"), netip.MustParseAddr("198.18.1.1"))
	n.Cli.AddRoute(p("2001:db8:2::/64"), netip.MustParseAddr("2001:db8:1::1"))
	n.Srv.AddRoute(p("198.18.1.0/24"), netip.MustParseAddr("198.18.2.1"))
	n.Srv.AddRoute(p("2001:db8:1::/64"), netip.MustParseAddr("2001:db8:2::1"))
	if noICMP {
		n.Rtr.Nft(`table inet noicmp {
	chain out {
		type filter hook output priority 0; policy accept;
		icmp type destination-unreachable drop
		icmpv6 type packet-too-big drop
	}
}
`)
	}
	return n
}

// echoServer runs an echo server in ns on [addr]:0 until the test ends
// and returns its address.
func echoServer(t *testing.T, ns *nstest.NS, addr netip.Addr) netip.AddrPort {
	t.Helper()
	var c *net.UDPConn
	ns.MustDo(func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		return err
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed
			}
			_, _ = c.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return dgram.LocalAddrPort(c)
}

// dialIn opens a socket connected to dst inside ns.
func dialIn(t *testing.T, ns *nstest.NS, dst netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	ns.MustDo(func() (err error) {
		c, err = dgram.DialAddrPort(dst, netip.AddrPort{})
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// warmUp sends small datagrams on c until one is echoed (for at most
// 10s): the first packets on fresh links wait for neighbour discovery,
// which on IPv6 takes a second right after the links come up, and a
// probe that waits that long would be taken for lost.
func warmUp(t *testing.T, c *net.UDPConn) {
	t.Helper()
	buf := make([]byte, 64)
	for range 100 {
		if _, err := c.Write([]byte("warm-up")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && string(buf[:n]) == "warm-up" {
			_ = c.SetReadDeadline(time.Time{})
			return
		}
	}
	t.Fatal("no echo of a small datagram within 10s")
}

// TestRunAcrossRouter finds the 1280-byte second hop, with the router's
// ICMP messages and without them, over IPv4 and IPv6.
func TestRunAcrossRouter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noICMP bool
		srv    netip.Addr
		rtr    netip.Addr
		ov     int
	}{
		{"IPv4/icmp", false, SrvAddr4, RtrAddr4, Overhead4},
		{"IPv4/no-icmp", true, SrvAddr4, RtrAddr4, Overhead4},
		{"IPv6/icmp", false, SrvAddr6, RtrAddr6, Overhead6},
		{"IPv6/no-icmp", true, SrvAddr6, RtrAddr6, Overhead6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNet(t, tc.noICMP)
			srv := echoServer(t, n.Srv, tc.srv)
			c := dialIn(t, n.Cli, srv)
			warmUp(t, c)
			var events []Event
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var rep Report
			// Run inside the client's namespace, where net.Interfaces
			// finds the interface of the socket's address.
			err := n.Cli.Do(func() (err error) {
				// A generous timer: an echo held up by a loaded machine must
				// not pass for a lost probe (the size would fail after three).
				rep, err = Run(ctx, c, Options{Timeout: 500 * time.Millisecond, OnEvent: func(e Event) { events = append(events, e) }})
				return err
			})
			if err != nil {
				t.Fatalf("Run: %v (events %+v)", err, events)
			}
			if rep.PathMTU != 1280 || rep.MaxPayload != 1280-tc.ov || !rep.Complete {
				t.Errorf("found %+v, want path MTU 1280, payload %d, complete (events %+v)", rep.Result, 1280-tc.ov, events)
			}
			if rep.IfaceMTU != 1500 || rep.Iface != "eth0" || rep.KernelBefore != 1500 {
				t.Errorf("interface %s MTU %d, kernel's path MTU %d before probing; want eth0, 1500 and 1500", rep.Iface, rep.IfaceMTU, rep.KernelBefore)
			}
			outcomes := 0
			for _, e := range events {
				if !e.Late {
					outcomes++
				}
			}
			if rep.Probes != outcomes {
				t.Errorf("%d probes, %d outcomes (events %+v)", rep.Probes, outcomes, events)
			}
			var icmps int
			for _, e := range events {
				if e.Kind == TooBig {
					icmps++
					if e.From != tc.rtr || e.MTU != 1280 || e.Local {
						t.Errorf("too big: from %v, MTU %d, local %v; want the router %v saying 1280", e.From, e.MTU, e.Local, tc.rtr)
					}
				}
			}
			if tc.noICMP {
				if icmps != 0 || rep.Bound != BoundLost || rep.KernelMTU != 1500 {
					t.Errorf("ICMP dropped: %d too-big messages, bound %v, kernel MTU %d; want 0, lost, 1500 (the kernel never learned)", icmps, rep.Bound, rep.KernelMTU)
				}
			} else {
				if icmps == 0 || rep.Bound != BoundICMP || rep.KernelMTU != 1280 {
					t.Errorf("ICMP allowed: %d too-big messages, bound %v, kernel MTU %d; want some, icmp, 1280", icmps, rep.Bound, rep.KernelMTU)
				}
				if sizes := distinctSizes(events); sizes > 4 {
					t.Errorf("with ICMP, %d sizes probed; want at most 4 (base, first hop, the MTU named, one above)", sizes)
				}
			}
		})
	}
}

// distinctSizes counts the sizes probed.
func distinctSizes(events []Event) int {
	m := map[int]bool{}
	for _, e := range events {
		m[e.Size] = true
	}
	return len(m)
}

// TestRunLoopback: loopback carries the largest datagram.
func TestRunLoopback(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		srvConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 65536)
			for {
				n, from, err := srvConn.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				_, _ = srvConn.WriteToUDPAddrPort(buf[:n], from)
			}
		}()
		c, err := dgram.DialAddrPort(dgram.LocalAddrPort(srvConn), netip.AddrPort{})
		if err != nil {
			t.Fatal(err)
		}
		var events []Event
		rep, err := Run(context.Background(), c, Options{Timeout: 5 * time.Second, OnEvent: func(e Event) { events = append(events, e) }})
		c.Close()
		srvConn.Close()
		<-done
		if err != nil {
			t.Fatal(err)
		}
		limit := Max4
		if addr[0] == '[' {
			limit = Max6
		}
		want := min(rep.IfaceMTU, limit)
		if rep.PathMTU != want || rep.Bound != BoundRoute || distinctSizes(events) != 2 {
			t.Errorf("%s: %+v, want path MTU %d (the route's), found with 2 sizes (events %+v)", addr, rep, want, events)
		}
	}
}

// TestRunNoEcho: a port where nobody listens is refused; a listener that
// does not echo gives ErrNoEcho.
func TestRunNoEcho(t *testing.T) {
	mute, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	c, err := dgram.DialAddrPort(dgram.LocalAddrPort(mute), netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rep, err := Run(context.Background(), c, Options{Timeout: 20 * time.Millisecond})
	if !errors.Is(err, ErrNoEcho) || rep.Probes != 2*DefaultTries {
		t.Errorf("mute listener: %v after %d probes, want ErrNoEcho after %d", err, rep.Probes, 2*DefaultTries)
	}
	addr := dgram.LocalAddrPort(mute)
	mute.Close()
	c2, err := dgram.DialAddrPort(addr, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, err = Run(context.Background(), c2, Options{Timeout: 5 * time.Second})
	if !errors.Is(err, dgram.ErrRefused) {
		t.Errorf("closed port: %v, want ErrRefused", err)
	}
}
