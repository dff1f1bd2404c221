package seal

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/seq"
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

// TestSeqEdge: a session stops at seq 2^64-2 (ErrExhausted after it); the
// opener accepts 2^64-2, refuses 2^64-1 even when it authenticates, and
// its window, whose top is then 2^64-1, does not wrap: replays and older
// seqs are still told apart.
func TestSeqEdge(t *testing.T) {
	k := mustKey(t, secret)
	s := mustSealer(t, k, 1)
	o := k.NewOpener(Config{Start: t0})
	s.next = MaxSeq - 3
	var ds [][]byte
	for range 4 {
		ds = append(ds, seal(t, s, "near the end", t0.Add(time.Second)))
	}
	if _, err := s.Seal(nil, []byte("one too many"), t0); err != ErrExhausted {
		t.Fatalf("after seq 2^64-2: %v, want ErrExhausted", err)
	}
	if h, _ := ParseHeader(ds[3]); h.Seq != MaxSeq {
		t.Fatalf("the last datagram has seq %d, want %d", h.Seq, uint64(MaxSeq))
	}
	// seq 2^64-1, sealed by hand as a Sealer would: authentic, but refused
	a, err := k.aead(1)
	if err != nil {
		t.Fatal(err)
	}
	last := seq.Header{Type: Type, Seq: math.MaxUint64, Sent: t0.Add(time.Second).UnixNano()}.Append(nil)
	last = binary.BigEndian.AppendUint64(last, 1)
	n := nonce(math.MaxUint64)
	last = a.Seal(last, n[:], []byte("wraps"), last[:HeaderLen])
	for _, step := range []struct {
		b    []byte
		want Cause
	}{
		{ds[3], None}, {last, Unsealed}, {ds[3], Replay}, {ds[0], None}, {ds[0], Replay},
		{last, Unsealed}, {ds[2], None}, {ds[1], None}, {ds[1], Replay}, {ds[3], Replay},
	} {
		h, _ := ParseHeader(step.b)
		if _, _, c := o.Open(nil, peerA, bytes.Clone(step.b)); c != step.want {
			t.Errorf("seq %d: %v, want %v", h.Seq, c, step.want)
		}
	}
}

// TestJunkIsCheap floods an Opener with junk of random sessions from one
// address and from many: past the per-address and global rates it is
// refused as throttled without a key derivation, nothing is kept for it,
// and a session already known, or a new one once tokens are back, still
// opens.
func TestJunkIsCheap(t *testing.T) {
	k := mustKey(t, secret)
	o := k.NewOpener(Config{Start: t0, NewSessionRate: 10, NewSessionTotal: 100})
	now := t0
	o.now = func() time.Time { return now }
	known := mustSealer(t, k, 7)
	if _, _, c := o.Open(nil, peerA, seal(t, known, "hello", t0.Add(time.Second))); c != None {
		t.Fatal(c)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	junk := func(from netip.AddrPort) Cause {
		b := seq.Header{Type: Type, Seq: rng.Uint64() >> 1, Sent: t0.Add(time.Hour).UnixNano()}.Append(nil)
		b = binary.BigEndian.AppendUint64(b, rng.Uint64())
		b = append(b, make([]byte, 64+TagLen)...)
		_, _, c := o.Open(nil, from, b)
		return c
	}
	var got [NumCauses]int
	for range 1000 {
		got[junk(peerA)]++
	}
	// 9 tokens left for peerA (one went to its real session), then throttled
	if got[BadTag] != 9 || got[Throttled] != 991 {
		t.Errorf("junk from one address: %v", got)
	}
	got = [NumCauses]int{}
	for i := range 1000 {
		got[junk(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 3, byte(i >> 8), byte(i)}), 9))]++
	}
	// the global bucket: 100, less the 10 already taken
	if got[BadTag] != 90 || got[Throttled] != 910 {
		t.Errorf("junk from 1000 addresses: %v", got)
	}
	if o.Sessions() != 1 || len(o.peers) != 1 {
		t.Errorf("junk left %d sessions and %d peers behind, want 1 and 1", o.Sessions(), len(o.peers))
	}
	if _, _, c := o.Open(nil, peerA, seal(t, known, "still", t0.Add(time.Second))); c != None {
		t.Errorf("a known session during the flood: %v", c)
	}
	if _, _, c := o.Open(nil, peerB, seal(t, mustSealer(t, k, 8), "new", t0.Add(time.Second))); c != Throttled {
		t.Errorf("a new session during the flood: %v, want throttled", c)
	}
	now = now.Add(time.Second)
	if _, _, c := o.Open(nil, peerB, seal(t, mustSealer(t, k, 8), "new", t0.Add(time.Second))); c != None {
		t.Errorf("a new session a second later: %v", c)
	}
	// junk with a send time before the receiver started costs nothing
	before := o.limit.Counts()
	b := seq.Header{Type: Type, Seq: 1, Sent: t0.Add(-time.Second).UnixNano()}.Append(nil)
	b = append(b, make([]byte, 8+64+TagLen)...)
	if _, _, c := o.Open(nil, peerA, b); c != UnknownSession || o.limit.Counts() != before {
		t.Errorf("junk from before the start: %v, limiter %v -> %v", c, before, o.limit.Counts())
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

// TestDerivationsAgree: the Opener's derivation gives the Sealer's key.
func TestDerivationsAgree(t *testing.T) {
	k := mustKey(t, secret)
	o := k.NewOpener(Config{})
	for _, id := range []uint64{0, 1, 0xdeadbeef, math.MaxUint64} {
		a, _ := k.aead(id)
		b, _ := k.sessionAEAD(o.mac, id)
		n := nonce(3)
		if x, y := a.Seal(nil, n[:], []byte("same key?"), nil), b.Seal(nil, n[:], []byte("same key?"), nil); !bytes.Equal(x, y) {
			t.Errorf("session %x: the two derivations differ", id)
		}
	}
}
