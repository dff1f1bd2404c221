package room

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/guard"
)

// sent is a packet a machine sent.
type sent struct {
	p  Packet
	to netip.AddrPort
}

// capture returns an out function that decodes and keeps what a machine
// sends.
func capture(t testing.TB, into *[]sent) func([]byte, netip.AddrPort, route) {
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

// hubMember joins a hub driven by hand, as a member at from would, and
// returns its session.
func hubMember(t testing.TB, h *hub, out *[]sent, from netip.AddrPort, nick string, now time.Time) uint64 {
	t.Helper()
	session := uint64(from.Port())
	feed := func(p Packet) {
		p.Session = session
		h.handle(p.Append(nil), from, route{}, now)
	}
	*out = nil
	feed(Packet{Type: TypeHello, Nick: []byte(nick)})
	if len(*out) != 1 || (*out)[0].p.Type != TypeChallenge {
		t.Fatalf("HELLO answered with %+v, want a CHALLENGE", *out)
	}
	cookie := (*out)[0].p.Cookie
	*out = nil
	feed(Packet{Type: TypeJoin, Cookie: cookie, Nick: []byte(nick)})
	if len(*out) == 0 || (*out)[0].p.Type != TypeWelcome {
		t.Fatalf("JOIN answered with %+v, want a WELCOME", *out)
	}
	return session
}

// lastAck returns the cumulative number of the last ACK sent to to.
func lastAck(out []sent, to netip.AddrPort) (uint64, bool) {
	for i := len(out) - 1; i >= 0; i-- {
		if out[i].to == to && out[i].p.Type == TypeAck {
			return out[i].p.Seq, true
		}
	}
	return 0, false
}

// TestHubRate: a member that sends faster than the room's rate has its
// messages held back (not acknowledged) and relayed as tokens come back,
// in order; a line over the limit is dropped and counted.
func TestHubRate(t *testing.T) {
	var out []sent
	cfg := ServerConfig{Rate: 2, MaxText: 10}.withDefaults()
	h := newHub(cfg, capture(t, &out), func(ServerEvent) {})
	alice := netip.MustParseAddrPort("127.0.0.1:1001")
	bob := netip.MustParseAddrPort("127.0.0.1:1002")
	hubMember(t, h, &out, alice, "alice", t0)
	bs := hubMember(t, h, &out, bob, "bob", t0)
	out = nil
	for n := uint64(1); n <= 5; n++ {
		text := []byte{'m', '0' + byte(n)}
		if n == 3 {
			text = []byte("far too long for ten")
		}
		h.handle((&Packet{Type: TypeEvent, Session: bs, Seq: n, Kind: KindMessage, Text: text}).Append(nil), bob, route{}, t0)
	}
	if cum, _ := lastAck(out, bob); cum != 2 || h.stats.RateLimited != 1 {
		t.Fatalf("at once: acknowledged through %d, %d rate-limited; want 2 and 1", cum, h.stats.RateLimited)
	}
	h.tick(t0.Add(time.Second)) // two more tokens: for 3 (too long: dropped) and 4
	h.tick(t0.Add(2 * time.Second))
	var relayed []string
	seen := map[uint64]bool{} // event numbers: retransmissions come again
	for _, s := range out {
		if s.to == alice && s.p.Type == TypeEvent && s.p.Kind == KindMessage && !seen[s.p.Seq] {
			seen[s.p.Seq] = true
			relayed = append(relayed, string(s.p.Text))
		}
	}
	if cum, _ := lastAck(out, bob); cum != 5 || !equal(relayed, []string{"m1", "m2", "m4", "m5"}) || h.stats.BadMessages != 1 {
		t.Errorf("after 2s: acknowledged through %d, relayed %q, %d bad; want 5, [m1 m2 m4 m5], 1 bad", cum, relayed, h.stats.BadMessages)
	}
}

// TestHubFull: past MaxMembers, a join is refused, and says why.
func TestHubFull(t *testing.T) {
	var out []sent
	h := newHub(ServerConfig{MaxMembers: 1}.withDefaults(), capture(t, &out), func(ServerEvent) {})
	hubMember(t, h, &out, netip.MustParseAddrPort("127.0.0.1:1001"), "alice", t0)
	from := netip.MustParseAddrPort("127.0.0.1:1002")
	out = nil
	h.handle((&Packet{Type: TypeHello, Session: 9, Nick: []byte("bob")}).Append(nil), from, route{}, t0)
	h.handle((&Packet{Type: TypeJoin, Session: 9, Cookie: out[0].p.Cookie, Nick: []byte("bob")}).Append(nil), from, route{}, t0)
	last := out[len(out)-1].p
	if last.Type != TypeRefuse || last.Code != RefuseFull || string(last.Text) != "the room is full (1 member)" {
		t.Fatalf("JOIN past the limit answered with %+v, want REFUSE full", last)
	}
}

// TestHubStrangers: an address that has not joined gets RESETs for its
// events, pings and acks, and nothing it sends is relayed; the guard
// holds back answers to a flood of HELLOs.
func TestHubStrangers(t *testing.T) {
	var out []sent
	h := newHub(ServerConfig{Guard: guard.Config{PerSource: 5}}.withDefaults(), capture(t, &out), func(ServerEvent) {})
	alice := netip.MustParseAddrPort("127.0.0.1:1001")
	hubMember(t, h, &out, alice, "alice", t0)
	out = nil
	eve := netip.MustParseAddrPort("127.0.0.1:666")
	for _, p := range []Packet{
		{Type: TypeEvent, Session: 1, Seq: 1, Kind: KindMessage, Text: []byte("spoofed")},
		{Type: TypePing, Session: 1},
		{Type: TypeAck, Session: 1, Seq: 9},
	} {
		h.handle(p.Append(nil), eve, route{}, t0)
	}
	for _, s := range out {
		if s.to != eve || s.p.Type != TypeReset {
			t.Errorf("a stranger's packet drew %s to %v; want only RESETs to the stranger", s.p.Type, s.to)
		}
	}
	out = nil
	flood := netip.MustParseAddrPort("127.0.0.9:4444") // an address of its own: guard buckets are per address
	for range 100 {
		h.handle((&Packet{Type: TypeHello, Session: 2, Nick: []byte("eve")}).Append(nil), flood, route{}, t0)
	}
	if rated := h.guard.Counts()[guard.SourceRate]; len(out) != 5 || rated != 95 || h.stats.Suppressed < 95 {
		t.Errorf("100 HELLOs from one address in an instant: %d answered, %d held back by its rate (%d suppressed in all); want 5 and 95",
			len(out), rated, h.stats.Suppressed)
	}
}

// TestHubRefusedOnce: a JOIN sent again (its REFUSE was slow or lost) is
// refused again, but counted and logged once.
func TestHubRefusedOnce(t *testing.T) {
	var out []sent
	var notes []ServerEvent
	h := newHub(ServerConfig{}.withDefaults(), capture(t, &out), func(e ServerEvent) { notes = append(notes, e) })
	hubMember(t, h, &out, netip.MustParseAddrPort("127.0.0.1:1001"), "alice", t0)
	from := netip.MustParseAddrPort("127.0.0.1:1002")
	out = nil
	h.handle((&Packet{Type: TypeHello, Session: 9, Nick: []byte("Alice")}).Append(nil), from, route{}, t0)
	join := (&Packet{Type: TypeJoin, Session: 9, Cookie: out[0].p.Cookie, Nick: []byte("Alice")}).Append(nil)
	out = nil
	h.handle(join, from, route{}, t0)
	h.handle(join, from, route{}, t0)
	if len(out) != 2 || out[1].p.Type != TypeRefuse || h.stats.Refused != 1 || len(notes) != 2 {
		t.Errorf("a JOIN twice: %d answers, %d refused, %d notes (%+v); want 2 REFUSEs, 1 refused, 2 notes (a join, a refusal)", len(out), h.stats.Refused, len(notes), notes)
	}
}
