package guard

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestPorts(t *testing.T) {
	g := New(Config{})
	for _, p := range []uint16{7, 19, 53, 123, 1900, 11211} {
		if v := g.Check(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p), []byte("x"), t0); v != BlockedPort {
			t.Errorf("port %d: %v", p, v)
		}
	}
	if v := g.Check(ap("127.0.0.1:0"), []byte("x"), t0); v != PortZero {
		t.Errorf("port 0: %v", v)
	}
	if v := g.Check(ap("127.0.0.1:40000"), []byte("x"), t0); v != Allow {
		t.Errorf("port 40000: %v", v)
	}
	c := g.Counts()
	if c[BlockedPort] != 6 || c[PortZero] != 1 || c[Allow] != 1 || g.Suppressed() != 7 {
		t.Errorf("counts %v", c)
	}
	// Configurable: nothing blocked but port 0; or another list.
	g = New(Config{Blocked: []uint16{}})
	if v := g.Check(ap("127.0.0.1:53"), []byte("x"), t0); v != Allow {
		t.Errorf("empty list, port 53: %v", v)
	}
	if v := g.Check(ap("127.0.0.1:0"), []byte("x"), t0); v != PortZero {
		t.Errorf("empty list, port 0: %v", v)
	}
	g = New(Config{Blocked: []uint16{9999}})
	if g.Check(ap("127.0.0.1:9999"), nil, t0) != BlockedPort || g.Check(ap("127.0.0.1:53"), nil, t0) != Allow {
		t.Error("custom list")
	}
}

// TestSourceRate floods from one address (several ports): it gets its
// burst, then the refill rate, never more.
func TestSourceRate(t *testing.T) {
	g := New(Config{PerSource: 10, Total: 1000})
	allowed := 0
	now := t0
	for i := range 1000 {
		now = t0.Add(time.Duration(i) * time.Millisecond) // 1000 datagrams in 1 s
		src := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.5"), uint16(20000+i%7))
		if g.Check(src, fmt.Appendf(nil, "%d", i), now) == Allow {
			allowed++
		}
	}
	// Burst 10 and 10 per second for the 0.999 s that passed.
	if allowed < 10 || allowed > 20 {
		t.Errorf("%d replies to a 1 s flood at 10/s", allowed)
	}
	// Another address has its own bucket.
	if v := g.Check(ap("127.0.0.6:1234"), []byte("y"), now); v != Allow {
		t.Errorf("another address: %v", v)
	}
	if g.Counts()[SourceRate] != uint64(1000-allowed) {
		t.Errorf("counts %v", g.Counts())
	}
}

func TestTotalRate(t *testing.T) {
	g := New(Config{PerSource: 5, Total: 50})
	allowed := 0
	for i := range 1000 { // 1000 addresses, one datagram each, at once
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(i >> 8), byte(i)}), 5000)
		if g.Check(src, []byte("x"), t0) == Allow {
			allowed++
		}
	}
	if allowed != 50 {
		t.Errorf("%d replies, total burst 50", allowed)
	}
	if g.Counts()[TotalRate] != 950 {
		t.Errorf("counts %v", g.Counts())
	}
}

// TestLoop bounces one datagram between the guard and a peer that
// answers at once with exactly what it got (100 us later, as another
// echo server on the same host), with no rate limit: the guard stops it
// after LoopLimit quick bounces.
func TestLoop(t *testing.T) {
	g := New(Config{LoopLimit: 20, PerSource: -1, Total: -1})
	peer := ap("127.0.0.1:9001")
	msg := []byte("bounce")
	now := t0
	n := 0
	for ; n < 1000; n++ {
		now = now.Add(100 * time.Microsecond)
		if g.Check(peer, msg, now) != Allow {
			break
		}
	}
	// the first datagram is no bounce; then 20 quick ones make a loop
	if n != 20 {
		t.Errorf("the loop ran %d times, want 20", n)
	}
	if g.Counts()[Loop] != 1 {
		t.Errorf("counts %v", g.Counts())
	}
	// A different payload from the same peer is answered again.
	if v := g.Check(peer, []byte("new"), now.Add(time.Second)); v != Allow {
		t.Errorf("a new payload: %v", v)
	}
	// Changing payloads (a ping) never count as a loop.
	g = New(Config{LoopLimit: 5})
	for i := range 100 {
		if v := g.Check(peer, fmt.Appendf(nil, "probe %d", i), t0.Add(time.Duration(i)*time.Second)); v != Allow {
			t.Fatalf("probe %d: %v", i, v)
		}
	}
}

// TestRepeatingClientIsNotALoop: clients that send one payload again and
// again at their own pace (a person, send --count --interval, even 1,000
// a second) get every reply with the default limits, however long they
// go on; the same client sending back our reply at once is a loop.
func TestRepeatingClientIsNotALoop(t *testing.T) {
	for _, every := range []time.Duration{time.Second, 20 * time.Millisecond, 5 * time.Millisecond, time.Millisecond} {
		g := New(Config{})
		client := ap("127.0.0.1:40000")
		msg := []byte("same payload every time")
		for i := range 20_000 {
			// the pace wobbles: some sends come early, as a sender that
			// catches up after an oversleep does
			at := t0.Add(time.Duration(i)*every + time.Duration(i%3)*every/4)
			if v := g.Check(client, msg, at); v != Allow {
				t.Fatalf("every %v: datagram %d: %v", every, i, v)
			}
		}
	}
}

// TestCatchUpClient: a client that waits for each reply and, behind its
// schedule, sends the same payload the moment the reply arrives looks like
// a loop for LoopLimit datagrams; the one refusal tells it apart (a loop
// would die, it sends again) and it gets every other reply. A reflector
// on another port of the same address is still caught.
func TestCatchUpClient(t *testing.T) {
	g := New(Config{LoopLimit: 50, PerSource: -1, Total: -1})
	client := ap("127.0.0.1:40000")
	msg := []byte("same")
	now := t0
	refused := 0
	for range 5000 {
		now = now.Add(100 * time.Microsecond)
		if g.Check(client, msg, now) != Allow {
			refused++
			now = now.Add(time.Second) // the client's timeout, then it goes on
		}
	}
	if refused != 1 {
		t.Errorf("a catch-up client was refused %d times, want 1", refused)
	}
	reflector := ap("127.0.0.1:7777")
	n := 0
	for ; n < 1000; n++ {
		now = now.Add(100 * time.Microsecond)
		if g.Check(reflector, msg, now) != Allow {
			break
		}
	}
	if n != 50 {
		t.Errorf("a loop with a reflector on the client's address ran %d times, want 50", n)
	}
}

// TestHonestRates: one source at 1,000 and 2,000 datagrams a second
// (distinct payloads, as ping's) gets every reply for a minute; above its
// rate it does not.
func TestHonestRates(t *testing.T) {
	for _, tc := range []struct {
		pps    int
		allAns bool
	}{{200, true}, {1000, true}, {2000, true}, {4000, false}} {
		g := New(Config{})
		src := ap("127.0.0.1:40000")
		refused := 0
		for i := range 60 * tc.pps {
			at := t0.Add(time.Duration(i) * time.Second / time.Duration(tc.pps))
			if g.Check(src, fmt.Appendf(nil, "probe %d", i), at) != Allow {
				refused++
			}
		}
		if (refused == 0) != tc.allAns {
			t.Errorf("%d/s for 60 s: %d refused", tc.pps, refused)
		}
	}
}

// TestTableBounded sends from 100,000 addresses: the table stays at its
// bound and counts what it forgot.
func TestTableBounded(t *testing.T) {
	g := New(Config{MaxSources: 1000, Total: -1})
	for i := range 100_000 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, byte(i >> 16), byte(i >> 8), byte(i)}), 4000)
		if v := g.Check(src, []byte("x"), t0); v != Allow {
			t.Fatalf("source %d: %v", i, v)
		}
	}
	if g.Sources() != 1000 || g.Evicted() != 99_000 {
		t.Errorf("%d sources, %d evicted", g.Sources(), g.Evicted())
	}
	// The list and the map agree.
	n := 0
	for s := g.sources.lru.Front(); s != nil; s = s.Next() {
		if g.sources.m[s.Value.addr] != s {
			t.Fatal("list entry not in the map")
		}
		n++
	}
	if n != 1000 {
		t.Errorf("list has %d", n)
	}
}

func TestNoLimit(t *testing.T) {
	g := New(Config{PerSource: -1, Total: -1, LoopLimit: 1 << 30})
	for i := range 10000 {
		if v := g.Check(ap("127.0.0.1:5000"), []byte("x"), t0); v != Allow {
			t.Fatalf("%d: %v", i, v)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	g := New(Config{PerSource: -1, Total: -1})
	msg := make([]byte, 64)
	srcs := make([]netip.AddrPort, 1024)
	for i := range srcs {
		srcs[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(i >> 8), byte(i)}), 5000)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		msg[0] = byte(i)
		g.Check(srcs[i%len(srcs)], msg, t0)
		i++
	}
}

// TestLimiter: per-address buckets and a global one, like the Guard's,
// with the table bounded.
func TestLimiter(t *testing.T) {
	l := NewLimiter(LimiterConfig{PerSource: 10, Total: 100, MaxSources: 50})
	a := netip.MustParseAddr("127.0.0.7")
	allowed := 0
	for i := range 1000 { // one address, 1000 events in one second
		if l.Allow(a, t0.Add(time.Duration(i)*time.Millisecond)) == Allow {
			allowed++
		}
	}
	if allowed < 10 || allowed > 20 {
		t.Errorf("one address: %d of 1000 allowed at 10/s", allowed)
	}
	// 1000 addresses at once: the global burst (100, less what a used)
	allowed = 0
	now := t0.Add(time.Second)
	for i := range 1000 {
		if l.Allow(netip.AddrFrom4([4]byte{127, 2, byte(i >> 8), byte(i)}), now) == Allow {
			allowed++
		}
	}
	if allowed > 100 || allowed < 50 {
		t.Errorf("1000 addresses: %d allowed, global burst 100", allowed)
	}
	c := l.Counts()
	if c[Allow]+c[SourceRate]+c[TotalRate] != 2000 || c[TotalRate] == 0 || c[SourceRate] == 0 {
		t.Errorf("counts %v", c)
	}
	// once the global bucket is empty, addresses are not even looked up:
	// only those that came before take a place in the table
	if l.Sources() != 50 || l.Evicted() == 0 || l.Evicted() > uint64(allowed)+1 {
		t.Errorf("%d sources, %d evicted (%d allowed)", l.Sources(), l.Evicted(), allowed)
	}
	// No limit.
	l = NewLimiter(LimiterConfig{PerSource: -1, Total: -1})
	for i := range 10000 {
		if v := l.Allow(a, t0); v != Allow {
			t.Fatalf("%d: %v", i, v)
		}
	}
}
