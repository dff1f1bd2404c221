package room

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// samples are one valid packet of each type, for seeds and round trips.
func samples() []Packet {
	var members Packet
	members.AppendList([]byte("alice"))
	members.AppendList([]byte("bob"))
	return []Packet{
		{Type: TypeHello, Session: 1, Nick: []byte("alice")},
		{Type: TypeChallenge, Session: 1, Cookie: [CookieLen]byte{1, 2, 3}},
		{Type: TypeJoin, Session: 1, Cookie: [CookieLen]byte{1, 2, 3}, Nick: []byte("alice")},
		{Type: TypeWelcome, Session: 1, MaxText: 1000, Rate: 50, Keepalive: 2000, Timeout: 10000},
		{Type: TypeRefuse, Session: 1, Code: RefuseNickTaken, Text: []byte(`the nick "alice" is taken`)},
		{Type: TypeEvent, Session: 1, Seq: 7, Kind: KindMessage, ID: 3, Nick: []byte("bob"), Text: []byte("hello")},
		{Type: TypeEvent, Session: 1, Seq: 1, Kind: KindMessage, Text: []byte("from a member")},
		{Type: TypeEvent, Session: 1, Seq: 8, Kind: KindJoin, Nick: []byte("carol")},
		{Type: TypeEvent, Session: 1, Seq: 9, Kind: KindLeave, Code: ReasonTimeout, Nick: []byte("carol")},
		{Type: TypeEvent, Session: 1, Seq: 1, Kind: KindMembers, More: true, List: members.List, NList: members.NList},
		{Type: TypeEvent, Session: 1, Seq: 10, Kind: KindMissed, Count: 3, Nick: []byte("eve")},
		{Type: TypeAck, Session: 1, Seq: 9, Bits: 0b101},
		{Type: TypePing, Session: 1},
		{Type: TypeReset, Session: 1, Code: ResetNotMember},
		{Type: TypeAnnounce, Session: 2, Seq: 4, Flags: AnnounceProbe, Low: 1, Nick: []byte("dave")},
		{Type: TypeData, Session: 2, Seq: 5, Nick: []byte("dave"), Text: []byte("multicast hello")},
		{Type: TypeNack, Session: 3, Target: 2, NRanges: 2, Ranges: [MaxNackRanges]Range{{2, 4}, {6, 7}}},
		{Type: TypeBye, Session: 2, Seq: 5, Code: ReasonLeft, Nick: []byte("dave")},
		{Type: TypeByeAck, Session: 3, Seq: 5, Target: 2},
		{Type: TypeConflict, Session: 3, Target: 4, Nick: []byte("dave")},
		{Type: TypeUnavailable, Session: 2, Seq: 3},
	}
}

// TestRoundTrip: every sample decodes to itself.
func TestRoundTrip(t *testing.T) {
	for _, p := range samples() {
		b := p.Append(nil)
		var q Packet
		if err := Decode(b, &q); err != nil {
			t.Errorf("Decode(%s) = %v", p.Type, err)
			continue
		}
		if c := q.Append(nil); !bytes.Equal(c, b) {
			t.Errorf("%s: round trip\n got %x\nwant %x", p.Type, c, b)
		}
		// Cut anywhere but in a trailing text, a packet is short.
		for n := range len(b) - len(p.Text) {
			if err := Decode(b[:n], &q); err == nil {
				t.Errorf("Decode(%s cut to %d bytes) = nil, want an error", p.Type, n)
			}
		}
	}
}

// FuzzDecode: no input panics, and whatever decodes encodes back to the
// same bytes (one encoding per packet).
func FuzzDecode(f *testing.F) {
	for _, p := range samples() {
		f.Add(p.Append(nil))
	}
	f.Add([]byte("dg\x01\x20"))
	f.Add([]byte("hello"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		err := Decode(b, &p)
		if err != nil {
			if !errors.Is(err, ErrShort) && !errors.Is(err, ErrNotRoom) && !errors.Is(err, ErrFormat) {
				t.Fatalf("Decode: an error of no kind: %v", err)
			}
			return
		}
		if c := p.Append(nil); !bytes.Equal(c, b) {
			t.Fatalf("round trip\n got %x\nwant %x", c, b)
		}
	})
}

// FuzzMachines feeds a datagram (three times) to a server and to a
// multicast member: nothing panics, every table stays within its bound,
// and the server sends the sender, which has not joined, no more than
// three times the bytes it sent.
func FuzzMachines(f *testing.F) {
	for _, p := range samples() {
		f.Add(p.Append(nil), uint8(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, src uint8) {
		cfg := ServerConfig{MaxMembers: 2, MaxQueue: 4, MaxQueued: 6, Window: 4}.withDefaults()
		from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1 + src%4}), 9000)
		var in, back int // bytes from and to from, which cannot join (it cannot forge a cookie)
		h := newHub(cfg, func(b []byte, to netip.AddrPort, _ route) {
			if to == from {
				back += len(b)
			}
		}, func(ServerEvent) {})
		var out []sent
		g := newTestGroup(t, &out)
		g.cfg.MaxMembers, g.cfg.Window = 2, 4
		now := t0
		for i := 0; i < 3; i++ {
			in += len(b)
			h.handle(b, from, route{}, now)
			h.tick(now)
			g.handle(b, from, route{}, now)
			g.tick(now)
			now = now.Add(time.Second)
		}
		if back > 3*in {
			t.Fatalf("the hub sent %d bytes to an address that sent %d and never joined: over 3x", back, in)
		}
		if len(h.order) > cfg.MaxMembers || h.queued > 2*cfg.MaxQueue*cfg.MaxMembers {
			t.Fatalf("hub over its bounds: %d members, %d queued", len(h.order), h.queued)
		}
		for _, pr := range g.peers {
			if len(pr.held) > g.cfg.Window {
				t.Fatalf("group holds %d early messages, window %d", len(pr.held), g.cfg.Window)
			}
		}
		if len(g.peers) > g.cfg.MaxMembers {
			t.Fatalf("group knows %d members, bound %d", len(g.peers), g.cfg.MaxMembers)
		}
	})
}
