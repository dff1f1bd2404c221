package bench

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/nstest"
)

// A benchmark server bound to every address of a host with two addresses
// per family serves clients of each address, on the batched path
// (throughput) and on the raw latency path.
func TestTwoHomedServer(t *testing.T) {
	cli, srvNS := nstest.New(t), nstest.New(t)
	p := netip.MustParsePrefix
	nstest.Link(t, cli, srvNS, nstest.LinkOptions{
		A: []netip.Prefix{p("198.18.0.10/24"), p("2001:db8::10/64")},
		B: []netip.Prefix{p("198.18.0.1/24"), p("198.18.0.2/24"), p("2001:db8::1/64"), p("2001:db8::2/64")},
	})
	var sc *net.UDPConn
	srvNS.MustDo(func() (err error) {
		sc, err = net.ListenUDP("udp", &net.UDPAddr{})
		return err
	})
	s := NewServer(sc)
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	defer func() {
		s.Close()
		if err := <-served; err != nil {
			t.Error(err)
		}
		sc.Close()
	}()
	port := dgram.LocalAddrPort(sc).Port()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, a := range []string{"198.18.0.2", "2001:db8::2", "198.18.0.1"} {
		to := netip.AddrPortFrom(netip.MustParseAddr(a), port)
		var c *net.UDPConn
		cli.MustDo(func() (err error) {
			c, err = dgram.DialAddrPort(to, netip.AddrPort{})
			return err
		})
		res, err := RunThroughput(ctx, c, ThroughputConfig{Size: 200, Duration: 200 * time.Millisecond, RatePPS: 5000}, nil)
		if err != nil || res.Received == 0 {
			t.Errorf("throughput to %v: %d received, %v", to, res.Received, err)
		}
		lat, err := RunLatency(ctx, c, LatencyConfig{Duration: 200 * time.Millisecond, Warmup: 10 * time.Millisecond})
		if err != nil || lat.Hist.Count() == 0 {
			t.Errorf("latency to %v: %d round trips, %v", to, lat.Hist.Count(), err)
		}
		c.Close()
	}
}
