package arq

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/udpchat/udpchat/dgram/netem"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testDeadline bounds every transfer; a passing test is far quicker.
const testDeadline = 60 * time.Second

func udp(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c net.PacketConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// link is a pair of sockets whose writes both go through netem with cfg.
type link struct {
	srv, cli net.PacketConn
}

func impaired(t testing.TB, cfg netem.Config, seed uint64) link {
	t.Helper()
	s, c := udp(t), udp(t)
	if cfg.IsZero() {
		return link{s, c}
	}
	ws, err := netem.Wrap(s, netem.Options{Write: cfg, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	wc, err := netem.Wrap(c, netem.Options{Write: cfg, Seed: seed + 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close(); wc.Close() })
	return link{ws, wc}
}

// messages returns n messages of sizes from 0 to several segments, each
// starting with its number.
func messages(n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0))
	out := make([][]byte, n)
	for i := range out {
		size := r.IntN(3000)
		if i%50 == 7 {
			size = 0
		}
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if size >= 8 {
			copy(b, fmt.Sprintf("%08d", i))
		}
		out[i] = b
	}
	return out
}

// transfer sends msgs from a client to a server over l and checks that
// the server receives exactly them, once each, in order.
func transfer(t *testing.T, l link, cfg Config, msgs [][]byte) (client, server Stats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	ln, err := Listen(l.srv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		got [][]byte
		st  Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			done <- result{err: err}
			return
		}
		var got [][]byte
		for {
			m, err := c.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				c.Abort()
				done <- result{got: got, err: err}
				return
			}
			got = append(got, m)
		}
		err = c.Close()
		done <- result{got, c.Stats(), err}
	}()
	c, err := Dial(ctx, l.cli, addrOf(l.srv), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if err := c.Send(m); err != nil {
			t.Fatalf("Send(%d) = %v", i, err)
		}
	}
	if err := c.Close(); err != nil {
		r := <-done
		t.Fatalf("client Close = %v; server: %d messages, %v; client %+v", err, len(r.got), r.err, c.Stats())
	}
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("the transfer did not finish in time")
	}
	if r.err != nil {
		t.Fatalf("server: %v (after %d messages)", r.err, len(r.got))
	}
	if len(r.got) != len(msgs) {
		t.Fatalf("server got %d messages, want %d", len(r.got), len(msgs))
	}
	for i := range msgs {
		if !bytes.Equal(r.got[i], msgs[i]) {
			t.Fatalf("message %d: got %d bytes %.20q, want %d bytes %.20q", i, len(r.got[i]), r.got[i], len(msgs[i]), msgs[i])
		}
	}
	return c.Stats(), r.st
}

// fast is a configuration for tests: quick timeouts so failures show fast.
var fast = Config{InitialRTO: 50 * time.Millisecond}

func TestTransferThroughImpairments(t *testing.T) {
	ge, _ := netem.Burst(0.1, 3)
	cases := []struct {
		name string
		cfg  netem.Config
	}{
		{"clean", netem.Config{}},
		{"loss 1%", netem.Config{Loss: 0.01}},
		{"loss 10%", netem.Config{Loss: 0.10}},
		{"loss 30%", netem.Config{Loss: 0.30}},
		{"burst", netem.Config{GE: ge}},
		{"reorder", netem.Config{Reorder: 0.2, ReorderGap: 5}},
		{"jitter reorders", netem.Config{Delay: time.Millisecond, Jitter: time.Millisecond, JitterReorders: true}},
		{"duplicate", netem.Config{Dup: 0.2}},
		{"corrupt", netem.Config{Corrupt: 0.1}},
		{"everything", netem.Config{Loss: 0.05, Reorder: 0.05, Dup: 0.05, Corrupt: 0.05, Delay: 200 * time.Microsecond, Jitter: 100 * time.Microsecond}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msgs := messages(1500, uint64(i))
			cs, ss := transfer(t, impaired(t, tc.cfg, uint64(10*i)), fast, msgs)
			t.Logf("client: sent %d segments, %d retransmits, %d timeouts, %d recoveries, rtt %v; server: %d dup, %d out of order, %d corrupt",
				cs.SegmentsSent, cs.Retransmits, cs.Timeouts, cs.Recoveries, cs.SRTT, ss.DuplicateSegments, ss.OutOfOrder, ss.Corrupt)
			if tc.cfg.Corrupt > 0 && ss.Corrupt+cs.Corrupt == 0 {
				t.Error("corruption was configured but no packet failed its checksum")
			}
		})
	}
}

func TestFileThroughLoss(t *testing.T) {
	data := make([]byte, 4<<20)
	r := rand.New(rand.NewPCG(5, 5))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	l := impaired(t, netem.Config{Loss: 0.1}, 3)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	ln, err := Listen(l.srv, fast)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sum := make(chan [32]byte, 1)
	go func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			t.Error(err)
			sum <- [32]byte{}
			return
		}
		h := sha256.New()
		if _, err := io.Copy(h, c.Reader()); err != nil {
			t.Error(err)
		}
		c.Close()
		sum <- [32]byte(h.Sum(nil))
	}()
	c, err := Dial(ctx, l.cli, addrOf(l.srv), fast)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(c.Writer(), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := <-sum; got != sha256.Sum256(data) {
		t.Errorf("the file arrived different: sha256 %x, want %x", got, sha256.Sum256(data))
	}
}

func TestReceiverDiesSenderFails(t *testing.T) {
	s, cpc := udp(t), udp(t)
	cfg := Config{IdleTimeout: 2 * time.Second, InitialRTO: 20 * time.Millisecond, MaxRTO: 200 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	ln, err := Listen(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan *Conn, 1)
	go func() {
		c, _ := ln.Accept(ctx)
		accepted <- c
	}()
	c, err := Dial(ctx, cpc, addrOf(s), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	sc := <-accepted
	if err := c.Send([]byte("first")); err != nil {
		t.Fatal(err)
	}
	if m, err := sc.Recv(); err != nil || string(m) != "first" {
		t.Fatalf("Recv = %q, %v", m, err)
	}
	// The receiving process dies: nothing answers any more, not even a RESET.
	sc.mu.Lock()
	sc.m.done = true
	sc.mu.Unlock()
	sc.teardown()
	ln.ep.close()
	start := time.Now()
	var sendErr error
	for i := 0; sendErr == nil && time.Since(start) < testDeadline; i++ {
		sendErr = c.Send(make([]byte, 1000))
	}
	if sendErr == nil {
		sendErr = c.Close()
	}
	if !errors.Is(sendErr, ErrPeerUnreachable) && !errors.Is(sendErr, ErrIdle) {
		t.Fatalf("sending to a dead receiver: %v, want ErrPeerUnreachable or ErrIdle", sendErr)
	}
	if d := time.Since(start); d > cfg.IdleTimeout+time.Second {
		t.Errorf("the sender took %v to give up, more than its idle timeout %v", d, cfg.IdleTimeout)
	}
	sc.Abort()
	ln.Close()
}

func TestSenderDiesReceiverFails(t *testing.T) {
	s, cpc := udp(t), udp(t)
	cfg := Config{IdleTimeout: time.Second, KeepAlive: 200 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	ln, err := Listen(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *Conn, 1)
	go func() {
		c, _ := ln.Accept(ctx)
		accepted <- c
	}()
	c, err := Dial(ctx, cpc, addrOf(s), cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	c.Send([]byte("part of a transfer"))
	sc.Recv()
	// The sending process dies without a word.
	c.mu.Lock()
	c.m.done = true
	c.mu.Unlock()
	c.teardown()
	_, err = sc.Recv()
	if !errors.Is(err, ErrIdle) {
		t.Fatalf("Recv after the sender died = %v, want ErrIdle", err)
	}
	sc.Close()
}

func TestStrayDatagramsIgnored(t *testing.T) {
	s, cpc := udp(t), udp(t)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	ln, err := Listen(s, fast)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// An old transfer's DATA (another connection ID) and garbage.
	old := (&Packet{Type: TypeData, Seq: 0, Conn: 12345, Flags: FlagEnd, Payload: []byte("stale")}).Append(nil)
	raw := udp(t)
	raw.WriteTo(old, s.LocalAddr())
	raw.WriteTo([]byte("not arq at all"), s.LocalAddr())
	bad := (&Packet{Type: TypeData, Conn: 1, Payload: []byte("x")}).Append(nil)
	bad[len(bad)-1] ^= 1
	raw.WriteTo(bad, s.LocalAddr())

	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			got <- nil
			return
		}
		m, _ := c.Recv()
		got <- m
		c.Close()
	}()
	c, err := Dial(ctx, cpc, addrOf(s), fast)
	if err != nil {
		t.Fatal(err)
	}
	c.Send([]byte("fresh"))
	c.Close()
	if m := <-got; string(m) != "fresh" {
		t.Errorf("first message %q, want \"fresh\": a stray datagram got in", m)
	}
	if ln.Stray() != 2 || ln.Corrupt() != 1 {
		t.Errorf("stray %d, corrupt %d; want 2 and 1", ln.Stray(), ln.Corrupt())
	}
}

func TestFlowControlSlowReader(t *testing.T) {
	l := impaired(t, netem.Config{}, 0)
	cfg := fast
	cfg.RecvWindow = 64
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	ln, err := Listen(l.srv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 400
	st := make(chan Stats, 1)
	go func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			st <- Stats{}
			return
		}
		for i := 0; ; i++ {
			if i%50 == 0 {
				time.Sleep(5 * time.Millisecond) // a reader that falls behind
			}
			if _, err := c.Recv(); err != nil {
				break
			}
		}
		c.Close()
		st <- c.Stats()
	}()
	c, err := Dial(ctx, l.cli, addrOf(l.srv), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := c.Send(make([]byte, 1400)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	s := <-st
	if s.MessagesReceived != n || s.OutOfWindow != 0 {
		t.Errorf("received %d of %d, %d beyond the window: the sender must respect the advertised window", s.MessagesReceived, n, s.OutOfWindow)
	}
}

func TestDialNobody(t *testing.T) {
	cpc := udp(t)
	dead := udp(t)
	addr := addrOf(dead)
	dead.Close()
	cfg := Config{InitialRTO: 10 * time.Millisecond, MaxRTO: 50 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}
	_, err := Dial(context.Background(), cpc, addr, cfg)
	if !errors.Is(err, ErrPeerUnreachable) {
		t.Fatalf("Dial(nobody) = %v, want ErrPeerUnreachable", err)
	}
}

// TestWildcardAnswersFromContactedAddress: a listener bound to 0.0.0.0
// answers a client that wrote to 127.0.0.2 from 127.0.0.2. The client's
// socket is connected to 127.0.0.2, so the kernel would drop an answer
// from any other address, and the handshake would never finish.
func TestWildcardAnswersFromContactedAddress(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln, err := Listen(srv, fast)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), addrOf(srv).Port())
	cli, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			got <- err.Error()
			return
		}
		m, _ := c.Recv()
		got <- string(m) + " via " + c.LocalAddr().String()
		c.Close()
	}()
	cfg := fast
	cfg.IdleTimeout = 2 * time.Second
	c, err := Dial(ctx, cli, dst, cfg)
	if err != nil {
		t.Fatalf("Dial(%v) through a wildcard listener: %v", dst, err)
	}
	if err := c.Send([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if want := "hello via " + dst.String(); <-got != want {
		t.Errorf("server side: got another message or address, want %q", want)
	}
}
