package netem

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestProxyTap: Tap sees each datagram on each side of the proxy, with
// its addresses, for an untimed and a timed (delayed) link; a dropped one
// only where it was read.
func TestProxyTap(t *testing.T) {
	for _, cfg := range []Config{{}, {Delay: time.Millisecond}, {Script: mustScript(t, "drop 2")}} {
		target := echoServer(t)
		type ev struct {
			side     Side
			sent     bool
			from, to netip.AddrPort
			n        int
		}
		var mu sync.Mutex
		var evs []ev
		p, addr := startProxy(t, ProxyConfig{Target: target, Up: cfg, Tap: func(side Side, sent bool, from, to netip.AddrPort, b []byte) {
			mu.Lock()
			evs = append(evs, ev{side, sent, from, to, len(b)})
			mu.Unlock()
		}})
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			t.Fatal(err)
		}
		me := c.LocalAddr().(*net.UDPAddr).AddrPort()
		buf := make([]byte, 100)
		replies := 0
		for i := range 3 {
			if _, err := c.Write([]byte("abc")); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(buf); err == nil {
				replies++
			} else if cfg.Script == nil || i != 1 {
				t.Fatalf("%+v: no reply to datagram %d: %v", cfg, i+1, err)
			}
		}
		c.Close()
		// Tap runs after each write returns: a reply can reach the client
		// before its write was tapped. Close waits for every goroutine.
		p.Close()
		mu.Lock()
		counts := map[[2]bool]int{}
		for _, e := range evs {
			counts[[2]bool{e.side == ServerSide, e.sent}]++
			switch {
			case e.side == ClientSide && !e.sent && (e.from != me || e.to != addr || e.n != 3),
				e.side == ClientSide && e.sent && (e.to != me || e.from != addr || e.n != 8),
				e.side == ServerSide && e.sent && (e.to != target || e.n != 3),
				e.side == ServerSide && !e.sent && (e.from != target || e.n != 8):
				t.Errorf("%+v: tap %+v (client %v, proxy %v, target %v)", cfg, e, me, addr, target)
			}
		}
		mu.Unlock()
		want := map[[2]bool]int{{false, false}: 3, {true, true}: replies, {true, false}: replies, {false, true}: replies}
		for k, v := range want {
			if counts[k] != v {
				t.Errorf("%+v: %d taps on side %v sent %v, want %d (replies %d)", cfg, counts[k], k[0], k[1], v, replies)
			}
		}
	}
}

func mustScript(t *testing.T, s string) *Script {
	t.Helper()
	sc, err := ParseScript(s)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}
