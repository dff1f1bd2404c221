package netem

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

// echoServer answers every datagram with "echo:" + the datagram, from a
// plain socket, until the test ends.
func echoServer(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// startProxy runs a proxy to target until the test ends.
func startProxy(t *testing.T, cfg ProxyConfig) (*Proxy, netip.AddrPort) {
	t.Helper()
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProxy(ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve() }()
	t.Cleanup(func() {
		p.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v", err)
		}
		ln.Close()
	})
	return p, ln.LocalAddr().(*net.UDPAddr).AddrPort()
}

func client(t *testing.T, to netip.AddrPort) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func recvAll(t *testing.T, c *net.UDPConn, n int) []string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testDeadline))
	var got []string
	buf := make([]byte, 2048)
	for len(got) < n {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, string(buf[:k]))
	}
	return got
}

func TestProxyKeepsClientsApart(t *testing.T) {
	target := echoServer(t)
	p, addr := startProxy(t, ProxyConfig{Target: target})
	a, b := client(t, addr), client(t, addr)
	for i := range 5 {
		fmt.Fprintf(a, "a%d", i)
		fmt.Fprintf(b, "b%d", i)
	}
	ga, gb := recvAll(t, a, 5), recvAll(t, b, 5)
	if fmt.Sprint(ga) != "[echo:a0 echo:a1 echo:a2 echo:a3 echo:a4]" || fmt.Sprint(gb) != "[echo:b0 echo:b1 echo:b2 echo:b3 echo:b4]" {
		t.Errorf("client a got %q, b got %q", ga, gb)
	}
	s := p.Stats()
	if s.Clients != 2 || s.Up.In != 10 || s.Up.Out != 10 || s.Down.Out != 10 {
		t.Errorf("stats %+v", s)
	}
}

func TestProxyScriptedFaultsBothWays(t *testing.T) {
	target := echoServer(t)
	up, _ := ParseScript("drop 2; dup 4")
	down, _ := ParseScript("swap 1; corrupt 5")
	// The swapped reply is held until the next one passes it: however long
	// a loaded machine takes to bring that one (ReorderHold, by default
	// 10ms, would let it go alone).
	p, addr := startProxy(t, ProxyConfig{Target: target, Up: Config{Script: up}, Down: Config{Script: down, ReorderHold: testDeadline}, Seed: 3})
	c := client(t, addr)
	for i := 1; i <= 5; i++ {
		// the target's replies come in the order the proxy forwarded
		// requests; pacing is not needed for correctness
		fmt.Fprintf(c, "m%d", i)
	}
	// up: m1, m3, m4, m4, m5 reach the target; down: reply 1 is held
	// until reply 2 passes, reply 5 has one bit flipped.
	got := recvAll(t, c, 5)
	want := []string{"echo:m3", "echo:m1", "echo:m4", "echo:m4"}
	if fmt.Sprint(got[:4]) != fmt.Sprint(want) {
		t.Errorf("replies %q, want %q then a corrupted echo:m5", got, want)
	}
	if got[4] == "echo:m5" || len(got[4]) != len("echo:m5") {
		t.Errorf("fifth reply %q, want echo:m5 with one bit flipped", got[4])
	}
	s := p.Stats()
	if s.Up.DropScript != 1 || s.Up.Duplicated != 1 || s.Down.Reordered != 1 || s.Down.Corrupted != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestProxyClientTableBound(t *testing.T) {
	target := echoServer(t)
	p, addr := startProxy(t, ProxyConfig{Target: target, MaxClients: 2})
	a, b, c := client(t, addr), client(t, addr), client(t, addr)
	a.Write([]byte("a"))
	recvAll(t, a, 1)
	b.Write([]byte("b"))
	recvAll(t, b, 1)
	c.Write([]byte("c")) // no room: dropped and counted
	a.Write([]byte("a2"))
	recvAll(t, a, 1) // ordered after c's datagram on the proxy's socket
	if s := p.Stats(); s.Rejected != 1 || s.Clients != 2 {
		t.Errorf("stats %+v, want 1 rejected, 2 clients", s)
	}
}

func TestProxyIdleExpiry(t *testing.T) {
	// The rule, on a clock of the test's own: a client is expired once it
	// has been idle for Idle, not before, and comes back as a new mapping.
	// (With a short Idle on the real clock, a loaded machine can expire a
	// client between its request and the reply, which is then lost.)
	const idle = time.Hour
	target := echoServer(t)
	p, addr := startProxy(t, ProxyConfig{Target: target, Idle: idle})
	c := client(t, addr)
	before := time.Now()
	c.Write([]byte("x"))
	recvAll(t, c, 1)
	p.expire(before.Add(idle / 2))
	if s := p.Stats(); s.Expired != 0 || s.Clients != 1 {
		t.Fatalf("stats %+v after half the idle time, want the client kept", s)
	}
	p.expire(time.Now().Add(idle))
	if s := p.Stats(); s.Expired != 1 || s.Clients != 0 {
		t.Fatalf("stats %+v after the idle time, want the client expired", s)
	}
	// the client comes back: a new mapping
	c.Write([]byte("y"))
	if got := recvAll(t, c, 1); got[0] != "echo:y" {
		t.Errorf("after expiry got %q", got)
	}
	if s := p.Stats(); s.ClientsSeen != 2 || s.Clients != 1 {
		t.Errorf("stats %+v, want a second mapping", s)
	}

	// The janitor applies the rule on the real clock, by itself.
	p2, addr2 := startProxy(t, ProxyConfig{Target: target, Idle: 20 * time.Millisecond})
	c2 := client(t, addr2)
	c2.Write([]byte("x")) // its echo may come back or not: the janitor may be quicker
	deadline := time.Now().Add(testDeadline)
	for p2.Stats().Expired == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the idle client was never expired: %+v", p2.Stats())
		}
		time.Sleep(5 * time.Millisecond) // polling a counter, not ordering
	}
	if s := p2.Stats(); s.Clients != 0 || s.ClientsSeen != 1 {
		t.Errorf("stats %+v, want no clients after expiry", s)
	}
}

func TestProxyRateNeverFaster(t *testing.T) {
	target := echoServer(t)
	const rate = 2e6 // 1250-byte datagrams take 5 ms each
	_, addr := startProxy(t, ProxyConfig{Target: target, Up: Config{Rate: rate}})
	c := client(t, addr)
	payload := bytes.Repeat([]byte("r"), 1250)
	start := time.Now()
	for range 40 {
		c.Write(payload)
	}
	recvAll(t, c, 40)
	// The scheduler never releases early, so the rate can only come out
	// lower than asked (on a busy machine), never higher.
	span := time.Since(start)
	got := 40 * 1250 * 8 / span.Seconds()
	if got > rate*1.05 {
		t.Errorf("measured %.0f bit/s, more than the %v limit", got, rate)
	}
}

func TestProxyValidates(t *testing.T) {
	ln, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer ln.Close()
	target := netip.MustParseAddrPort("127.0.0.1:9")
	if _, err := NewProxy(ln, ProxyConfig{Target: target, Down: Config{Dup: 3}}); !errors.Is(err, ErrConfig) {
		t.Errorf("NewProxy(Down.Dup 3) = %v, want ErrConfig", err)
	}
	if _, err := NewProxy(ln, ProxyConfig{}); err == nil {
		t.Error("NewProxy without a target succeeded")
	}
}

// BenchmarkProxy forwards 64-byte datagrams through an unimpaired proxy:
// a batch sender, the proxy and a batch receiver in one process.
func BenchmarkProxy(b *testing.B) {
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	sink, _ := net.ListenUDP("udp4", lo)
	defer sink.Close()
	dgram.SetBuffers(sink, 4<<20, 0)
	ln, _ := net.ListenUDP("udp4", lo)
	defer ln.Close()
	dgram.SetBuffers(ln, 4<<20, 0)
	p, err := NewProxy(ln, ProxyConfig{Target: sink.LocalAddr().(*net.UDPAddr).AddrPort()})
	if err != nil {
		b.Fatal(err)
	}
	go p.Serve()
	defer p.Close()
	src, _ := net.DialUDP("udp4", nil, ln.LocalAddr().(*net.UDPAddr))
	defer src.Close()
	wb, _ := dgram.NewBatch(src, 32)
	out := make([]dgram.Message, 32)
	for i := range out {
		out[i].Buf = make([]byte, 64)
	}
	rb, _ := dgram.NewBatch(sink, 64)
	in := make([]dgram.Message, 64)
	for i := range in {
		in[i].Buf = make([]byte, 2048)
	}
	var got int
	done := make(chan struct{})
	b.ReportAllocs()
	b.SetBytes(64)
	go func() {
		defer close(done)
		sink.SetReadDeadline(time.Now().Add(time.Minute))
		for got < b.N {
			sink.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := rb.Read(in)
			if err != nil {
				return
			}
			got += n
		}
	}()
	for i := 0; i < b.N; i += 32 {
		wb.Write(out)
	}
	<-done
	b.ReportMetric(float64(got)/float64(b.N)*100, "%delivered")
}

// TestProxyHeldBound: 64 clients send 60 KB datagrams through a long
// delay; what the proxy holds stays within MaxHeldBytes over all of them,
// the rest is dropped and counted as "held", and Close gives it all back.
// A client that comes once the delay has passed is served again.
func TestProxyHeldBound(t *testing.T) {
	target := echoServer(t)
	const bound = 2 << 20
	p, addr := startProxy(t, ProxyConfig{Target: target, Up: Config{Delay: time.Hour}, MaxHeldBytes: bound, Seed: 1})
	big := make([]byte, 60_000)
	sent := 0
	var st ProxyStats
	for i := range 64 {
		c := client(t, addr)
		for j := range 2 {
			big[0], big[1] = byte(i), byte(j)
			if _, err := c.Write(big); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		// one client at a time, so that the listening socket's buffer
		// never overflows: wait until the proxy has taken them in
		deadline := time.Now().Add(testDeadline)
		for st = p.Stats(); st.Up.In < uint64(sent) && time.Now().Before(deadline); st = p.Stats() {
			time.Sleep(time.Millisecond) // polling a counter, bounded by the deadline
		}
		if st.Up.In != uint64(sent) {
			t.Fatalf("the proxy took in %d of %d datagrams", st.Up.In, sent)
		}
	}
	// 2 MiB holds 34 datagrams of 60 KB (and their bookkeeping)
	want := uint64(bound / itemCost(len(big)))
	if st.Held > bound || st.MaxHeld != bound || st.Up.Delayed != want || st.Up.DropHeld != uint64(sent)-want || st.Up.Dropped != st.Up.DropHeld {
		t.Errorf("held %d of %d; delayed %d (want %d), dropped %d, of which held %d",
			st.Held, st.MaxHeld, st.Up.Delayed, want, st.Up.Dropped, st.Up.DropHeld)
	}
	p.Close()
	if h := p.Stats().Held; h != 0 {
		t.Errorf("after Close the proxy still counts %d bytes held", h)
	}
}

// TestProxyBuffersShared: many clients whose replies come at once share a
// few receive buffers, never one each, and every reply still arrives.
func TestProxyBuffersShared(t *testing.T) {
	target := echoServer(t)
	p, addr := startProxy(t, ProxyConfig{Target: target, Seed: 1})
	var cs []*net.UDPConn
	for i := range 100 {
		c := client(t, addr)
		if _, err := c.Write(fmt.Appendf(nil, "client %d", i)); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	for i, c := range cs {
		if got := recvAll(t, c, 1); got[0] != fmt.Sprintf("echo:client %d", i) {
			t.Errorf("client %d got %q", i, got)
		}
	}
	allocated := 0
	for range readBuffers {
		if b := <-p.bufs; b != nil {
			allocated++
		}
	}
	for range readBuffers {
		p.bufs <- nil
	}
	if allocated == 0 || allocated > readBuffers {
		t.Errorf("%d receive buffers for 100 clients, want 1 to %d", allocated, readBuffers)
	}
}

// TestProxyDownSkipsUnsendable: a reply to a client the kernel refuses to
// send to (port 0: only a forged source has it) is lost alone; the
// other clients' replies written in the same batch still go. Before, the
// whole rest of the batch was counted as errors and dropped.
func TestProxyDownSkipsUnsendable(t *testing.T) {
	p, _ := startProxy(t, ProxyConfig{Target: echoServer(t)})
	a, b := client(t, p.lnAt), client(t, p.lnAt)
	at := func(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }
	out := []dgram.Message{
		{Buf: []byte("to a"), Addr: at(a)},
		{Buf: []byte("forged"), Addr: netip.MustParseAddrPort("127.0.0.1:0")},
		{Buf: []byte("to b"), Addr: at(b)},
	}
	p.downMu.Lock()
	p.writeDown(out)
	p.downMu.Unlock()
	if got := recvAll(t, a, 1); got[0] != "to a" {
		t.Errorf("a got %q", got)
	}
	if got := recvAll(t, b, 1); got[0] != "to b" {
		t.Errorf("b got %q", got)
	}
	if e := p.Stats().Down.OutErrors; e != 1 {
		t.Errorf("down errors = %d, want 1 (the forged client's reply)", e)
	}
}
