package arq

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// handshake opens a connection between two Machines by hand, through a
// Gate, and returns them established at t0.
func handshake(t *testing.T, ccfg, scfg Config) (client, server *Machine) {
	t.Helper()
	from := netip.MustParseAddrPort("192.0.2.1:5000")
	g := NewGate(scfg, []byte("a secret of sixteen bytes"))
	c, err := NewClient(ccfg, 42, t0)
	if err != nil {
		t.Fatal(err)
	}
	var p, q Packet
	if !c.Next(t0, &p) || p.Type != TypeSyn {
		t.Fatalf("first packet %+v, want a SYN", p)
	}
	g.SynAck(&p, from, t0, &q)
	c.Receive(roundTrip(t, &q), t0)
	if !c.Next(t0, &p) || p.Type != TypeCookie {
		t.Fatalf("after the SYN-ACK: %+v, want a COOKIE", p)
	}
	if !g.Check(roundTrip(t, &p), from, t0) {
		t.Fatal("the Gate refused its own cookie")
	}
	s, err := NewServer(scfg, p.Conn, p.Window, p.MSS, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Next(t0, &q) || q.Type != TypeAck {
		t.Fatalf("the server's first packet %+v, want an ACK", q)
	}
	c.Receive(roundTrip(t, &q), t0)
	if !c.Established() {
		t.Fatal("the client is not established after the server's ACK")
	}
	return c, s
}

// roundTrip encodes and decodes p, as the wire does.
func roundTrip(t *testing.T, p *Packet) *Packet {
	t.Helper()
	var q Packet
	if err := Decode(p.Append(nil), &q); err != nil {
		t.Fatalf("Decode(%+v): %v", p, err)
	}
	return &q
}

// drain returns every packet m has to send now.
func drain(m *Machine, now time.Time) []Packet {
	var out []Packet
	var p Packet
	for m.Next(now, &p) {
		q := p
		q.Payload = append([]byte(nil), p.Payload...)
		out = append(out, q)
	}
	return out
}

// TestCookieBindsAddressAndTime: a cookie is good only for the address and
// connection it was minted for, unchanged, and not for ever.
func TestCookieBindsAddressAndTime(t *testing.T) {
	cfg := Config{IdleTimeout: 5 * time.Second}
	g := NewGate(cfg, []byte("another secret, sixteen bytes+"))
	from := netip.MustParseAddrPort("192.0.2.7:4000")
	var ack Packet
	g.SynAck(&Packet{Type: TypeSyn, Conn: 9}, from, t0, &ack)
	echo := Packet{Type: TypeCookie, Conn: 9, Cookie: ack.Cookie}
	if !g.Check(&echo, from, t0.Add(time.Second)) {
		t.Fatal("a fresh cookie from its own address was refused")
	}
	other := netip.MustParseAddrPort("192.0.2.8:4000")
	if g.Check(&echo, other, t0) {
		t.Error("a cookie was taken from another address: a spoofer could open connections in others' names")
	}
	if g.Check(&echo, netip.AddrPortFrom(from.Addr(), 4001), t0) {
		t.Error("a cookie was taken from another port")
	}
	wrongID := echo
	wrongID.Conn = 10
	if g.Check(&wrongID, from, t0) {
		t.Error("a cookie was taken for another connection ID")
	}
	tampered := echo
	tampered.Cookie[10] ^= 1
	if g.Check(&tampered, from, t0) {
		t.Error("a tampered cookie was taken")
	}
	if g.Check(&echo, from, t0.Add(cookieLifetime(&cfg)+2*time.Second)) {
		t.Error("an expired cookie was taken")
	}
	other2 := NewGate(cfg, []byte("a different listener's secret!!"))
	if other2.Check(&echo, from, t0) {
		t.Error("another listener took the cookie")
	}
}

// TestSynAckNoAmplification: the answer to a SYN, the only thing an
// unproven address gets, is less than twice the SYN's size.
func TestSynAckNoAmplification(t *testing.T) {
	syn := Packet{Type: TypeSyn, Conn: 1, Window: 64, MSS: 1400}
	var ack Packet
	NewGate(Config{}, []byte("sixteen bytes of secret")).SynAck(&syn, netip.MustParseAddrPort("192.0.2.1:1"), t0, &ack)
	if r := float64(ack.Len()) / float64(syn.Len()); r >= 2 {
		t.Errorf("SYN-ACK %d bytes for a SYN of %d: %.2fx", ack.Len(), syn.Len(), r)
	}
}

// TestOversizedDataDropped: DATA larger than the MSS the receiver
// announced is dropped and counted, and costs the receiver nothing.
func TestOversizedDataDropped(t *testing.T) {
	_, s := handshake(t, Config{}, Config{})
	before := s.Stats().Buffered
	for q := uint64(1); q < 50; q++ {
		s.Receive(&Packet{Type: TypeData, Seq: q, Conn: 42, Payload: make([]byte, 65000)}, t0)
	}
	st := s.Stats()
	if st.Oversized != 49 || st.OutOfOrder != 0 {
		t.Errorf("Oversized %d, OutOfOrder %d; want 49 dropped and none kept", st.Oversized, st.OutOfOrder)
	}
	if st.Buffered != before {
		t.Errorf("the receiver holds %d bytes after oversized DATA, %d before", st.Buffered, before)
	}
}

// TestRingGrowsOnlyWithDelivery: out-of-order segments never grow the
// receive ring beyond its first size; segments delivered in order do.
func TestRingGrowsOnlyWithDelivery(t *testing.T) {
	_, s := handshake(t, Config{}, Config{})
	for q := uint64(1); q < 10000; q += 3 {
		s.Receive(&Packet{Type: TypeData, Seq: q, Conn: 42, Payload: make([]byte, 1000)}, t0)
	}
	st := s.Stats()
	if st.RingGrowths != 0 || st.OutOfOrder > initialRing {
		t.Fatalf("out-of-order segments alone: %d growths, %d kept; want none and at most %d", st.RingGrowths, st.OutOfOrder, initialRing)
	}
	if st.Buffered > initialRing*(recvSegSize+DefaultMSS) {
		t.Errorf("%d bytes held for a window of %d segments", st.Buffered, initialRing)
	}
	// now the same receiver gets its data in order
	_, s = handshake(t, Config{}, Config{})
	for q := uint64(0); q < 2000; q++ {
		s.Receive(&Packet{Type: TypeData, Seq: q, Conn: 42, Flags: FlagEnd, Payload: []byte("x")}, t0)
		s.Recv(t0)
	}
	if g := s.Stats().RingGrowths; g == 0 {
		t.Errorf("2000 segments in order and the ring never grew")
	}
}

// TestBufferBoundPerConnection: what a connection holds, out of order
// and unread, stays under RecvBuffer whatever the peer sends.
func TestBufferBoundPerConnection(t *testing.T) {
	cfg := Config{RecvBuffer: 64 << 10}
	_, s := handshake(t, Config{}, cfg)
	for q := uint64(0); q < 5000; q++ {
		// every other segment, never read: the ring and the queue fill
		if q%2 == 0 || q < 100 {
			s.Receive(&Packet{Type: TypeData, Seq: q, Conn: 42, Payload: make([]byte, DefaultMSS)}, t0)
		}
	}
	st := s.Stats()
	if st.Buffered > cfg.RecvBuffer {
		t.Errorf("%d bytes held, over RecvBuffer %d", st.Buffered, cfg.RecvBuffer)
	}
	if st.DroppedMemory+st.OutOfWindow == 0 {
		t.Errorf("nothing was refused: %+v", st)
	}
}

// TestBudgetSharedAndReserved: a listener's connections share
// MaxBuffered; one that fills it does not starve another of its reserve.
func TestBudgetSharedAndReserved(t *testing.T) {
	cfg := Config{MaxBuffered: 64 << 10}.WithDefaults()
	bud := newBudget(cfg.MaxBuffered)
	hog, err := newServer(cfg, 1, 64, 1400, t0, bud)
	if err != nil {
		t.Fatal(err)
	}
	// a message that never ends, and is never read
	for q := uint64(0); q < 1000; q++ {
		hog.Receive(&Packet{Type: TypeData, Seq: q, Conn: 1, Payload: make([]byte, DefaultMSS)}, t0)
	}
	hst := hog.Stats()
	if hst.DroppedMemory == 0 {
		t.Fatalf("the hog was never refused memory: %+v", hst)
	}
	if used := bud.Used(); used > cfg.MaxBuffered {
		t.Fatalf("budget used %d, over its %d", used, cfg.MaxBuffered)
	}
	honest, err := newServer(cfg, 2, 64, 1400, t0, bud)
	if err != nil {
		t.Fatal(err)
	}
	for q := uint64(0); q < 10; q++ {
		honest.Receive(&Packet{Type: TypeData, Seq: q, Conn: 2, Flags: FlagEnd, Payload: make([]byte, DefaultMSS)}, t0)
	}
	if got := honest.Stats().MessagesReceived; got != 10 {
		t.Errorf("the honest connection got %d of 10 messages while another held the budget", got)
	}
	hog.releaseAll()
	honest.releaseAll()
	if bud.Used() != 0 {
		t.Errorf("%d bytes still counted after both connections ended", bud.Used())
	}
}

// TestStallTimeout: a peer that only keeps a connection alive (pings, no
// data) loses it after the stall timeout, with a RESET that says why.
func TestStallTimeout(t *testing.T) {
	c, s := handshake(t, Config{}, Config{})
	s.SetStallTimeout(3 * time.Second)
	now := t0
	for i := 0; i < 100 && !s.Done(); i++ {
		now = now.Add(500 * time.Millisecond)
		s.Receive(&Packet{Type: TypePing, Conn: 42}, now) // the client is alive
		s.Tick(now)
		drain(s, now)
	}
	if !errors.Is(s.Err(), ErrStalled) {
		t.Fatalf("after %v of pings: %v, want ErrStalled", now.Sub(t0), s.Err())
	}
	if d := now.Sub(t0); d < 3*time.Second || d > 4*time.Second {
		t.Errorf("stalled after %v, want 3s", d)
	}
	_ = c
}

// TestBusyReset: a RESET with ReasonBusy reads as ErrBusy, and as a
// reset, with the reason in words.
func TestBusyReset(t *testing.T) {
	c, _ := handshake(t, Config{}, Config{})
	c.Receive(&Packet{Type: TypeReset, Conn: 42, Reason: ReasonBusy}, t0)
	err := c.Err()
	if !errors.Is(err, ErrBusy) || !errors.Is(err, ErrReset) {
		t.Fatalf("Err = %v, want ErrBusy and ErrReset", err)
	}
	if want := "the receiver is busy with another transfer"; !contains(err.Error(), want) {
		t.Errorf("%q does not say %q", err, want)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
