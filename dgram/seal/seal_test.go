package seal

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

var (
	t0     = time.Unix(1_700_000_000, 0)
	peerA  = netip.MustParseAddrPort("127.0.0.1:4000")
	peerB  = netip.MustParseAddrPort("127.0.0.2:4000")
	secret = bytes.Repeat([]byte{7}, SecretLen)
)

func mustKey(t testing.TB, s []byte) *Key {
	t.Helper()
	k, err := NewKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSealer(t testing.TB, k *Key, id uint64) *Sealer {
	t.Helper()
	s, err := k.NewSealerID(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func seal(t testing.TB, s *Sealer, msg string, at time.Time) []byte {
	t.Helper()
	b, err := s.Seal(nil, []byte(msg), at)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTripAndFormat(t *testing.T) {
	k := mustKey(t, secret)
	s := mustSealer(t, k, 0x0102030405060708)
	msg := "attack at dawn, attack at dawn"
	b := seal(t, s, msg, t0)
	if len(b) != len(msg)+Overhead {
		t.Fatalf("sealed %d bytes, want %d", len(b), len(msg)+Overhead)
	}
	if !bytes.Equal(b[:4], []byte{'d', 'g', 1, Type}) {
		t.Errorf("header starts % x", b[:4])
	}
	if got := binary.BigEndian.Uint64(b[4:12]); got != 0 {
		t.Errorf("first seq %d", got)
	}
	if got := int64(binary.BigEndian.Uint64(b[12:20])); got != t0.UnixNano() {
		t.Errorf("sent %d", got)
	}
	if got := binary.BigEndian.Uint64(b[20:28]); got != 0x0102030405060708 {
		t.Errorf("session %x", got)
	}
	for _, word := range []string{"attack", "dawn", "at"} {
		if bytes.Contains(b[HeaderLen:], []byte(word)) {
			t.Errorf("the sealed bytes contain the plaintext %q", word)
		}
	}
	b2 := seal(t, s, msg, t0)
	if binary.BigEndian.Uint64(b2[4:12]) != 1 || bytes.Equal(b[HeaderLen:], b2[HeaderLen:]) {
		t.Errorf("the second datagram has seq %d and the same ciphertext: %v", binary.BigEndian.Uint64(b2[4:12]), bytes.Equal(b[HeaderLen:], b2[HeaderLen:]))
	}
	o := k.NewOpener(Config{Start: t0})
	for i, d := range [][]byte{b, b2} {
		out, h, c := o.Open(nil, peerA, d)
		if c != None || string(out) != msg || h.Seq != uint64(i) {
			t.Fatalf("open %d: %q, %+v, %v", i, out, h, c)
		}
	}
	// In place.
	b3 := seal(t, s, "in place", t0)
	out, _, c := o.Open(b3[HeaderLen:HeaderLen], peerA, b3)
	if c != None || string(out) != "in place" {
		t.Fatalf("in place: %q %v", out, c)
	}
}

// TestRejections sends every kind of bad datagram between legitimate ones
// and checks that each is rejected with its cause and that the legitimate
// traffic arrives in full.
func TestRejections(t *testing.T) {
	k := mustKey(t, secret)
	other := mustKey(t, bytes.Repeat([]byte{8}, SecretLen))
	s := mustSealer(t, k, 1)
	o := k.NewOpener(Config{Start: t0})

	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		return c
	}
	var legit []string
	var want Rejections
	deliver := func(msg string) []byte {
		b := seal(t, s, msg, t0.Add(time.Second))
		out, _, c := o.Open(nil, peerA, b)
		if c != None || string(out) != msg {
			t.Fatalf("legitimate %q: %q %v", msg, out, c)
		}
		legit = append(legit, msg)
		return b
	}
	bad := func(name string, b []byte, from netip.AddrPort, cause Cause) {
		t.Helper()
		out, _, c := o.Open(nil, from, b)
		if c != cause || out != nil {
			t.Errorf("%s: cause %v, want %v (out %q)", name, c, cause, out)
		}
		want[cause]++
	}

	first := deliver("one")
	wrong := mustSealer(t, other, 2)
	bad("wrong key", seal(t, wrong, "evil", t0.Add(time.Second)), peerB, BadTag)
	nextB := seal(t, s, "two", t0.Add(time.Second))
	bad("tampered seq", flip(nextB, 11), peerA, BadTag)
	bad("tampered sent", flip(nextB, 15), peerA, BadTag)
	bad("tampered session", flip(nextB, 25), peerA, BadTag)
	bad("tampered type", flip(nextB, 3), peerA, Unsealed)
	bad("tampered payload", flip(nextB, HeaderLen+1), peerA, BadTag)
	bad("tampered tag", flip(nextB, len(nextB)-1), peerA, BadTag)
	bad("truncated", nextB[:len(nextB)-1], peerA, BadTag)
	bad("truncated below the overhead", nextB[:Overhead-1], peerA, Unsealed)
	bad("plain text", []byte("hello"), peerB, Unsealed)
	if out, _, c := o.Open(nil, peerA, nextB); c != None || string(out) != "two" {
		t.Fatalf("the untampered datagram after its tampered copies: %q %v", out, c)
	}
	legit = append(legit, "two")
	bad("replayed", first, peerA, Replay)
	bad("replayed again", nextB, peerB, Replay)
	deliver("three")

	// A sender that shares the key: its own session, its own window.
	s2 := mustSealer(t, k, 3)
	for i := range 3 {
		msg := string(rune('x' + i))
		out, _, c := o.Open(nil, peerB, seal(t, s2, msg, t0.Add(time.Second)))
		if c != None || string(out) != msg {
			t.Fatalf("second sender %q: %q %v", msg, out, c)
		}
	}
	deliver("four")

	// A datagram from before the receiver started (a restart).
	old := mustSealer(t, k, 4)
	bad("from before a restart", seal(t, old, "old", t0.Add(-time.Second)), peerA, UnknownSession)

	// Stale: behind the window.
	staleMsg := seal(t, s, "late", t0.Add(time.Second))
	for range Window + 1 {
		if _, _, c := o.Open(nil, peerA, seal(t, s, "x", t0.Add(time.Second))); c != None {
			t.Fatal(c)
		}
	}
	bad("behind the window", staleMsg, peerA, Stale)

	// Reflection of one's own session.
	o.Ignore(9)
	bad("own session reflected", seal(t, mustSealer(t, k, 9), "mine", t0.Add(time.Second)), peerB, Replay)

	if got := o.Rejected(); got != want {
		t.Errorf("rejected %v, want %v", got, want)
	}
	if got, w := o.Accepted(), uint64(len(legit)+3+Window+1); got != w {
		t.Errorf("accepted %d, want %d", got, w)
	}
	// Per peer: both addresses authenticated at some point, so both have
	// counts; an address that never did has none.
	pa, ok := o.Peer(peerA)
	if !ok || pa.Rejected[BadTag] == 0 || pa.Rejected[Replay] != 1 {
		t.Errorf("peer A: %+v %v", pa, ok)
	}
	if _, ok := o.Peer(netip.MustParseAddrPort("127.0.0.9:1")); ok {
		t.Error("an address that never authenticated has per-peer counts")
	}
}

func TestReorderWithinWindowAccepted(t *testing.T) {
	k := mustKey(t, secret)
	s := mustSealer(t, k, 1)
	o := k.NewOpener(Config{Start: t0})
	var ds [][]byte
	for i := range 100 {
		ds = append(ds, seal(t, s, string(rune('a'+i%26)), t0))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	for i, d := range ds {
		if _, _, c := o.Open(nil, peerA, d); c != None {
			t.Fatalf("reordered datagram %d: %v", i, c)
		}
	}
	for i, d := range ds {
		if _, _, c := o.Open(nil, peerA, d); c != Replay {
			t.Fatalf("second copy %d: %v", i, c)
		}
	}
}

// TestWindowModel compares the bitmap with a map of every seq accepted.
func TestWindowModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var w window
	seen := map[uint64]bool{}
	top := uint64(0)
	for range 200000 {
		var n uint64
		switch rng.IntN(4) {
		case 0:
			n = top + uint64(rng.IntN(3*Window))
		default:
			n = top - min(top, uint64(rng.IntN(Window+200)))
		}
		want := None
		switch {
		case n >= top:
		case top-n > Window:
			want = Stale
		case seen[n]:
			want = Replay
		}
		if got := w.check(n); got != want {
			t.Fatalf("seq %d (top %d): %v, want %v", n, top, got, want)
		}
		if want == None {
			w.accept(n)
			seen[n] = true
			top = max(top, n+1)
		}
	}
}

func TestSessionTableBounded(t *testing.T) {
	k := mustKey(t, secret)
	o := k.NewOpener(Config{Start: t0, MaxSessions: 8})
	var firsts [][]byte
	for i := range 20 {
		s := mustSealer(t, k, uint64(100+i))
		b := seal(t, s, "hi", t0.Add(time.Duration(i)*time.Millisecond))
		firsts = append(firsts, b)
		if _, _, c := o.Open(nil, peerA, b); c != None {
			t.Fatal(c)
		}
	}
	if o.Sessions() != 8 || o.Evicted() != 12 {
		t.Fatalf("%d sessions, %d evicted", o.Sessions(), o.Evicted())
	}
	// A replay of an evicted session cannot be checked against its window:
	// it is refused as unknown, not accepted.
	if _, _, c := o.Open(nil, peerA, firsts[0]); c != UnknownSession {
		t.Errorf("replay of an evicted session: %v", c)
	}
	// A recent session is still known.
	if _, _, c := o.Open(nil, peerA, firsts[19]); c != Replay {
		t.Errorf("replay of a known session: %v", c)
	}
	// A new session, sent later, is accepted.
	if _, _, c := o.Open(nil, peerA, seal(t, mustSealer(t, k, 999), "new", t0.Add(time.Minute))); c != None {
		t.Errorf("new session: %v", c)
	}
}

func TestSealerExhausted(t *testing.T) {
	s := mustSealer(t, mustKey(t, secret), 1)
	s.next = ^uint64(0)
	if _, err := s.Seal(nil, []byte("last"), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(nil, []byte("one too many"), t0); err != ErrExhausted {
		t.Fatalf("after the last seq: %v", err)
	}
}

func TestParseSecret(t *testing.T) {
	good := FormatSecret(secret)
	if b, err := ParseSecret(good); err != nil || !bytes.Equal(b, secret) {
		t.Fatalf("%x %v", b, err)
	}
	if b, err := ParseSecret([]byte("  " + string(bytes.TrimSpace(good)) + "\r\n\n")); err != nil || !bytes.Equal(b, secret) {
		t.Errorf("with whitespace: %x %v", b, err)
	}
	for _, bad := range []string{"", "\n", "zz", "0102", string(good[:30]), "not hex at all, a passphrase"} {
		if _, err := ParseSecret([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := NewKey(secret[:MinSecretLen-1]); err == nil {
		t.Error("short secret accepted")
	}
}
