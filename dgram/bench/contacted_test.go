package bench

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

// A benchmark server on every address answers a client that wrote to
// 127.0.0.2 from 127.0.0.2, on the batched path (throughput's control
// exchange and interval reports) and on the raw latency path alike: the
// client's socket is connected, so any other source would go unheard.
func TestServerAnswersFromContactedAddress(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2 is a loopback address on Linux only")
	}
	sc, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
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
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), dgram.LocalAddrPort(sc).Port())
	dial := func() *net.UDPConn {
		c, err := dgram.DialAddrPort(to, netip.AddrPort{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rows int
	res, err := RunThroughput(ctx, dial(), ThroughputConfig{Size: 100, Duration: 300 * time.Millisecond, RatePPS: 5000,
		Interval: 100 * time.Millisecond}, func(r Interval) {
		if r.Known {
			rows++
		}
	})
	if err != nil {
		t.Fatalf("throughput against a wildcard server, client of 127.0.0.2: %v", err)
	}
	if res.Received == 0 || rows == 0 {
		t.Errorf("received %d, %d interval reports heard; want some of each", res.Received, rows)
	}
	lat, err := RunLatency(ctx, dial(), LatencyConfig{Duration: 200 * time.Millisecond, Warmup: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("latency against a wildcard server, client of 127.0.0.2: %v", err)
	}
	if lat.Hist.Count() == 0 || lat.Lost != 0 {
		t.Errorf("latency: %d round trips, %d lost; want some and none lost", lat.Hist.Count(), lat.Lost)
	}
}
