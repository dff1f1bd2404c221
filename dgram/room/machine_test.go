package room

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// sent is a packet a machine sent.
type sent struct {
	p  Packet
	to netip.AddrPort
}

// capture returns an out function that decodes and keeps what a machine
// sends.
func capture(t *testing.T, into *[]sent) func([]byte, netip.AddrPort, route) {
	return func(b []byte, to netip.AddrPort, _ route) {
		var p Packet
		if err := Decode(b, &p); err != nil {
			t.Fatalf("a machine sent a packet it cannot decode: %v", err)
		}
		// Keep a copy: p aliases b, which the machine reuses.
		p.Nick = append([]byte(nil), p.Nick...)
		p.Text = append([]byte(nil), p.Text...)
		*into = append(*into, sent{p, to})
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newTestGroup is a joined group machine, driven by hand.
func newTestGroup(t *testing.T, out *[]sent) *group {
	cfg := GroupConfig{Nick: "alice", NackDelay: time.Millisecond}.withDefaults()
	g := &group{cfg: cfg, session: 1, nick: "alice", dst: netip.MustParseAddrPort("239.255.0.1:9000"),
		out: capture(t, out), rng: rand.New(rand.NewPCG(1, 2)), joinedCh: make(chan struct{}),
		nextNum: 1, hist: make([]histEntry, cfg.History), state: gJoined}
	return g
}

func (g *group) feed(t *testing.T, p Packet, now time.Time) {
	t.Helper()
	b := p.Append(nil)
	g.handle(b, netip.MustParseAddrPort("127.0.0.1:9000"), route{}, now)
}

func events(g *group) []string {
	evs, _ := g.take()
	var s []string
	for _, e := range evs {
		s = append(s, show(e))
	}
	return s
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestGroupGapUnavailable: eve's messages 2 to 4 never come; alice asks
// for them (one NACK with the range), eve says they are gone from her
// history, and alice reports "missed 3 from eve" before message 5.
func TestGroupGapUnavailable(t *testing.T) {
	var out []sent
	g := newTestGroup(t, &out)
	eve := func(p Packet) Packet { p.Session, p.Nick = 7, []byte("eve"); return p }
	g.feed(t, eve(Packet{Type: TypeAnnounce, Seq: 0, Low: 1}), t0)
	g.feed(t, eve(Packet{Type: TypeData, Seq: 1, Text: []byte("one")}), t0)
	g.feed(t, eve(Packet{Type: TypeData, Seq: 5, Text: []byte("five")}), t0)
	if got, want := events(g), []string{"* eve joined", "<eve> one"}; !equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	out = nil
	g.tick(t0.Add(10 * time.Millisecond))
	var nack *Packet
	for i := range out {
		if out[i].p.Type == TypeNack {
			nack = &out[i].p
		}
	}
	if nack == nil || nack.Target != 7 || nack.NRanges != 1 || nack.Ranges[0] != (Range{2, 5}) {
		t.Fatalf("after the gap: sent %+v, want a NACK of eve's [2, 5)", out)
	}
	g.feed(t, eve(Packet{Type: TypeUnavailable, Seq: 5}), t0.Add(20*time.Millisecond))
	if got, want := events(g), []string{"* missed 3 from eve", "<eve> five"}; !equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if g.stats.Missed != 3 || g.stats.Nacks != 1 {
		t.Errorf("stats %+v: want 3 missed, 1 NACK", g.stats)
	}
}

// TestGroupGapGiveUp: nobody answers the NACKs; after NackTries of them
// alice gives up on the gap, reports it, and delivers what follows.
func TestGroupGapGiveUp(t *testing.T) {
	var out []sent
	g := newTestGroup(t, &out)
	eve := func(p Packet) Packet { p.Session, p.Nick = 7, []byte("eve"); return p }
	g.feed(t, eve(Packet{Type: TypeData, Seq: 1, Text: []byte("one")}), t0)
	g.feed(t, eve(Packet{Type: TypeData, Seq: 3, Text: []byte("three")}), t0)
	now := t0
	for i := 0; i < 100 && g.stats.Missed == 0; i++ {
		now = now.Add(100 * time.Millisecond)
		g.feed(t, eve(Packet{Type: TypeAnnounce, Seq: 3, Low: 1}), now) // eve is alive
		g.tick(now)
	}
	if got, want := events(g), []string{"* eve joined", "<eve> one", "* missed 1 from eve", "<eve> three"}; !equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	if g.stats.Nacks != uint64(g.cfg.NackTries) {
		t.Errorf("%d NACKs, want %d", g.stats.Nacks, g.cfg.NackTries)
	}
}

// TestGroupRepair: a NACK for alice's own messages is answered with the
// messages from her history, and UNAVAILABLE for what fell out of it.
func TestGroupRepair(t *testing.T) {
	var out []sent
	g := newTestGroup(t, &out)
	g.cfg.History = 4
	g.hist = make([]histEntry, 4)
	for i := range 6 {
		g.queue = append(g.queue, []byte{'a' + byte(i)})
	}
	g.pumpOwn(t0)
	out = nil
	g.feed(t, Packet{Type: TypeNack, Session: 9, Target: 1, NRanges: 1, Ranges: [MaxNackRanges]Range{{1, 100}}}, t0.Add(time.Second))
	var got []string
	for _, s := range out {
		got = append(got, s.p.Type.String()+" "+string(rune('0'+s.p.Seq))+" "+string(s.p.Text))
	}
	want := []string{"DATA 3 c", "DATA 4 d", "DATA 5 e", "DATA 6 f", "UNAVAILABLE 3 "}
	if !equal(got, want) {
		t.Fatalf("repairs %q, want %q", got, want)
	}
}
