package seq

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	alice = netip.MustParseAddrPort("127.0.0.1:1000")
	bob   = netip.MustParseAddrPort("127.0.0.1:2000")
	t0    = time.Unix(1_700_000_000, 0)
)

// datagram builds a data datagram; sent is in ms after t0 (negative: 0,
// "no send time").
func datagram(seq uint64, sentMs int) []byte {
	h := Header{Seq: seq}
	if sentMs >= 0 {
		h.Sent = t0.Add(time.Duration(sentMs) * time.Millisecond).UnixNano()
	}
	return h.Append(nil)
}

// step is one arrival and what it must produce.
type step struct {
	seq    uint64
	kind   Kind
	extra  string // "missing=2-3", "extent=1", "" ...
	sentMs int    // send time (ms after t0); arrival is at sentMs+1 unless atMs
	atMs   int
}

func describe(ev Event) string {
	switch ev.Kind {
	case Gap, Restart:
		if ev.Missing > 0 {
			return fmt.Sprintf("missing=%d-%d", ev.MissingFrom, ev.MissingFrom+ev.Missing-1)
		}
	case Late:
		s := fmt.Sprintf("extent=%d", ev.Extent)
		if ev.ExtentCapped {
			s += "+"
		}
		return s
	}
	return ""
}

func TestTrackerSequences(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		explicit bool // use the steps' sentMs/atMs; otherwise sent = seq ms, arrival = 100+i ms
		steps    []step
		want     string // Stats: received unique expected lost dup reordered stale restarts maxextent
	}{
		{"in order", Config{}, false, []step{
			{seq: 0, kind: InOrder}, {seq: 1, kind: InOrder}, {seq: 2, kind: InOrder}, {seq: 3, kind: InOrder},
		}, "rcv=4 uniq=4 exp=4 lost=0 dup=0 reord=0 stale=0 restarts=0 maxext=0"},

		{"first datagram skips seqs", Config{}, false, []step{
			{seq: 3, kind: Gap, extra: "missing=0-2"}, {seq: 4, kind: InOrder},
		}, "rcv=2 uniq=2 exp=5 lost=3 dup=0 reord=0 stale=0 restarts=0 maxext=0"},

		{"gap then late arrivals with extents", Config{}, false, []step{
			{seq: 0, kind: InOrder}, {seq: 1, kind: InOrder},
			{seq: 4, kind: Gap, extra: "missing=2-3"},
			{seq: 2, kind: Late, extra: "extent=1"}, // first arrival with seq>2 was 4, one arrival ago
			{seq: 3, kind: Late, extra: "extent=2"},
			{seq: 5, kind: InOrder},
		}, "rcv=6 uniq=6 exp=6 lost=0 dup=0 reord=2 stale=0 restarts=0 maxext=2"},

		{"RFC 4737 example order 1 2 4 5 3", Config{}, false, []step{
			{seq: 0, kind: InOrder}, {seq: 1, kind: InOrder}, {seq: 2, kind: InOrder},
			{seq: 4, kind: Gap, extra: "missing=3-3"}, {seq: 5, kind: InOrder},
			{seq: 3, kind: Late, extra: "extent=2"},
		}, "rcv=6 uniq=6 exp=6 lost=0 dup=0 reord=1 stale=0 restarts=0 maxext=2"},

		{"loss stays counted", Config{}, false, []step{
			{seq: 0, kind: InOrder}, {seq: 2, kind: Gap, extra: "missing=1-1"}, {seq: 3, kind: InOrder},
			{seq: 7, kind: Gap, extra: "missing=4-6"},
		}, "rcv=4 uniq=4 exp=8 lost=4 dup=0 reord=0 stale=0 restarts=0 maxext=0"},

		{"duplicates", Config{}, false, []step{
			{seq: 0, kind: InOrder}, {seq: 1, kind: InOrder}, {seq: 1, kind: Duplicate}, {seq: 0, kind: Duplicate},
			{seq: 2, kind: InOrder}, {seq: 2, kind: Duplicate},
		}, "rcv=6 uniq=3 exp=3 lost=0 dup=3 reord=0 stale=0 restarts=0 maxext=0"},

		{"duplicate of a late datagram", Config{}, false, []step{
			{seq: 0, kind: InOrder}, {seq: 2, kind: Gap, extra: "missing=1-1"},
			{seq: 1, kind: Late, extra: "extent=1"}, {seq: 1, kind: Duplicate},
		}, "rcv=4 uniq=3 exp=3 lost=0 dup=1 reord=1 stale=0 restarts=0 maxext=1"},

		// A restart is a suspect until the next datagram follows it (RFC
		// 3550 A.1); the one that confirms it carries the Restart event.
		{"restart: the counter went back after a pause", Config{}, true, []step{
			{seq: 0, kind: InOrder, sentMs: 0}, {seq: 1, kind: InOrder, sentMs: 10}, {seq: 2, kind: InOrder, sentMs: 20},
			{seq: 0, kind: Suspect, sentMs: 1500}, {seq: 1, kind: Restart, sentMs: 1510}, {seq: 2, kind: InOrder, sentMs: 1520},
		}, "rcv=6 uniq=6 exp=6 lost=0 dup=0 reord=0 stale=0 restarts=1 maxext=0 suspect=0"},

		{"restart after a pause whose seq 0 was lost", Config{}, true, []step{
			{seq: 0, kind: InOrder, sentMs: 0}, {seq: 1, kind: InOrder, sentMs: 10}, {seq: 2, kind: InOrder, sentMs: 20},
			{seq: 1, kind: Suspect, sentMs: 1500}, {seq: 2, kind: Restart, extra: "missing=0-0", sentMs: 1510},
		}, "rcv=5 uniq=5 exp=6 lost=1 dup=0 reord=0 stale=0 restarts=1 maxext=0 suspect=0"},

		{"a forged restart after a pause changes nothing", Config{}, true, []step{
			{seq: 0, kind: InOrder, sentMs: 0}, {seq: 1, kind: InOrder, sentMs: 10}, {seq: 2, kind: InOrder, sentMs: 20},
			{seq: 0, kind: Suspect, sentMs: 1500}, {seq: 3, kind: InOrder, sentMs: 1510}, {seq: 4, kind: InOrder, sentMs: 1520},
		}, "rcv=5 uniq=5 exp=5 lost=0 dup=0 reord=0 stale=0 restarts=0 maxext=0 suspect=1"},

		{"a forged seq 2^64-1 changes nothing", Config{}, false, []step{
			{seq: 0, kind: InOrder}, {seq: 1, kind: InOrder}, {seq: math.MaxUint64, kind: Suspect},
			{seq: 2, kind: InOrder}, {seq: 3, kind: InOrder},
		}, "rcv=4 uniq=4 exp=4 lost=0 dup=0 reord=0 stale=0 restarts=0 maxext=0 suspect=1"},

		{"a forged jump beyond MaxDropout changes nothing", Config{MaxDropout: 100}, false, []step{
			{seq: 0, kind: InOrder}, {seq: 1, kind: InOrder}, {seq: 102, kind: Suspect},
			{seq: 2, kind: InOrder}, {seq: 3, kind: InOrder},
		}, "rcv=4 uniq=4 exp=4 lost=0 dup=0 reord=0 stale=0 restarts=0 maxext=0 suspect=1"},

		{"a jump within MaxDropout is a gap at once", Config{MaxDropout: 100}, false, []step{
			{seq: 0, kind: InOrder}, {seq: 100, kind: Gap, extra: "missing=1-99"}, {seq: 101, kind: InOrder},
		}, "rcv=3 uniq=3 exp=102 lost=99 dup=0 reord=0 stale=0 restarts=0 maxext=0 suspect=0"},

		{"a real jump is confirmed by the next datagram: a gap", Config{MaxDropout: 100}, false, []step{
			{seq: 0, kind: InOrder}, {seq: 1, kind: InOrder}, {seq: 500, kind: Suspect},
			{seq: 501, kind: Gap, extra: "missing=2-499"}, {seq: 502, kind: InOrder}, {seq: 499, kind: Late, extra: "extent=3"},
		}, "rcv=6 uniq=6 exp=503 lost=497 dup=0 reord=1 stale=0 restarts=0 maxext=3 suspect=0"},

		{"a first datagram far from 0 starts the count where it is confirmed", Config{MaxDropout: 100}, false, []step{
			{seq: 100000, kind: Suspect}, {seq: 100001, kind: InOrder}, {seq: 100003, kind: Gap, extra: "missing=100002-100002"},
		}, "rcv=3 uniq=3 exp=4 lost=1 dup=0 reord=0 stale=0 restarts=0 maxext=0 suspect=0"},

		{"seq 2^64-1 is never confirmed: nothing follows it", Config{}, false, []step{
			{seq: math.MaxUint64 - 1, kind: Suspect}, {seq: math.MaxUint64, kind: Suspect}, {seq: 0, kind: InOrder},
		}, "rcv=1 uniq=1 exp=1 lost=0 dup=0 reord=0 stale=0 restarts=0 maxext=0 suspect=2"},

		{"reordered on purpose with fresh send times: no restart", Config{}, true, []step{
			{seq: 0, kind: InOrder, sentMs: 0}, {seq: 1, kind: InOrder, sentMs: 1}, {seq: 3, kind: Gap, extra: "missing=2-2", sentMs: 2},
			{seq: 2, kind: Late, extra: "extent=1", sentMs: 3}, {seq: 3, kind: Duplicate, sentMs: 4},
		}, "rcv=5 uniq=4 exp=4 lost=0 dup=1 reord=1 stale=0 restarts=0 maxext=1"},

		{"a straggler after a pause is not a restart", Config{}, true, []step{
			{seq: 0, kind: InOrder, sentMs: 0}, {seq: 2, kind: Gap, extra: "missing=1-1", sentMs: 20},
			{seq: 1, kind: Late, extra: "extent=1", sentMs: 10, atMs: 5000},
		}, "rcv=3 uniq=3 exp=3 lost=0 dup=0 reord=1 stale=0 restarts=0 maxext=1"},

		{"restart without send times: seq 0 after a pause", Config{RestartIdle: 2 * time.Second}, true, []step{
			{seq: 0, kind: InOrder, sentMs: -1, atMs: 0}, {seq: 1, kind: InOrder, sentMs: -1, atMs: 10},
			{seq: 0, kind: Duplicate, sentMs: -1, atMs: 1000}, // one second is not a pause
			{seq: 0, kind: Suspect, sentMs: -1, atMs: 3500},
			{seq: 1, kind: Restart, sentMs: -1, atMs: 3505},
			{seq: 3, kind: Gap, extra: "missing=2-2", sentMs: -1, atMs: 3510},
		}, "rcv=6 uniq=5 exp=6 lost=1 dup=1 reord=0 stale=0 restarts=1 maxext=0 suspect=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.cfg)
			for i, st := range tt.steps {
				sent, at := int(st.seq), 100+i
				if tt.explicit {
					sent, at = st.sentMs, st.atMs
					if at == 0 {
						at = max(sent, 0) + 1
					}
				}
				ev := tr.Observe(alice, datagram(st.seq, sent), t0.Add(time.Duration(at)*time.Millisecond))
				if ev.Kind != st.kind || describe(ev) != st.extra || ev.Header.Seq != st.seq {
					t.Errorf("step %d: Observe(seq %d) = %v %q, want %v %q", i, st.seq, ev.Kind, describe(ev), st.kind, st.extra)
				}
			}
			if tt.want == "" {
				return
			}
			s, _ := tr.Lookup(alice)
			got := fmt.Sprintf("rcv=%d uniq=%d exp=%d lost=%d dup=%d reord=%d stale=%d restarts=%d maxext=%d",
				s.Received, s.Unique, s.Expected, s.Lost, s.Duplicates, s.Reordered, s.Stale, s.Restarts, s.MaxExtent)
			if strings.Contains(tt.want, "suspect=") {
				got += fmt.Sprintf(" suspect=%d", s.Suspect)
			}
			if got != tt.want {
				t.Errorf("stats = %s\n         want %s", got, tt.want)
			}
			if s.Duplicates != s.Received-s.Unique {
				t.Errorf("duplicates %d != received %d - unique %d", s.Duplicates, s.Received, s.Unique)
			}
		})
	}
}

func TestTrackerStale(t *testing.T) {
	tr := NewTracker(Config{Window: 64})
	now := t0
	tr.Observe(alice, datagram(0, 0), now)
	tr.Observe(alice, datagram(100, 100), now)
	// The window holds seqs 37..100: 37 is inside, 36 outside.
	if ev := tr.Observe(alice, datagram(37, 37), now); ev.Kind != Late {
		t.Errorf("seq 37 (window 64, highest 100) = %v, want late", ev.Kind)
	}
	if ev := tr.Observe(alice, datagram(36, 36), now); ev.Kind != Stale {
		t.Errorf("seq 36 (window 64, highest 100) = %v, want stale", ev.Kind)
	}
	// A stale datagram cannot be checked for duplication: the same one
	// again is stale again, and counted as unique (documented).
	if ev := tr.Observe(alice, datagram(36, 36), now); ev.Kind != Stale {
		t.Errorf("seq 36 again = %v, want stale", ev.Kind)
	}
	s, _ := tr.Lookup(alice)
	if s.Stale != 2 || s.Unique != 5 || s.Lost != 96 || s.Reordered != 1 {
		t.Errorf("stats: stale %d unique %d lost %d reordered %d; want 2, 5, 96, 1", s.Stale, s.Unique, s.Lost, s.Reordered)
	}
}

func TestTrackerWindowSlides(t *testing.T) {
	// The bitmap is reused as the window slides: a seq that wraps onto an
	// old bit position must not be taken for a duplicate.
	tr := NewTracker(Config{Window: 64})
	for q := uint64(0); q < 1000; q++ {
		if q%7 == 3 {
			continue // lose some
		}
		if ev := tr.Observe(alice, datagram(q, int(q)), t0); ev.Kind != InOrder && ev.Kind != Gap {
			t.Fatalf("seq %d = %v, want in-order or gap", q, ev.Kind)
		}
	}
	// 997 is 3 mod 7 and was skipped: it arrives late, not as a duplicate.
	if ev := tr.Observe(alice, datagram(997, 997), t0); ev.Kind != Late {
		t.Errorf("late seq 997 = %v, want late", ev.Kind)
	}
	if ev := tr.Observe(alice, datagram(998, 998), t0); ev.Kind != Duplicate {
		t.Errorf("seq 998 again = %v, want duplicate", ev.Kind)
	}
	// a jump bigger than the window (within MaxDropout) clears it
	tr.Observe(alice, datagram(3500, 3500), t0)
	if ev := tr.Observe(alice, datagram(3490, 3490), t0); ev.Kind != Late {
		t.Errorf("seq 3490 after a jump to 3500 = %v, want late", ev.Kind)
	}
}

func TestTrackerExtentCapped(t *testing.T) {
	tr := NewTracker(Config{Window: 4096})
	tr.Observe(alice, datagram(0, 0), t0)
	for q := uint64(2); q <= 300; q++ { // 1 is missing
		tr.Observe(alice, datagram(q, int(q)), t0)
	}
	ev := tr.Observe(alice, datagram(1, 1), t0)
	// 301 arrivals so far; seq 2 arrived second, so the true extent is
	// 300, but only the last 128 advances are remembered.
	if ev.Kind != Late || !ev.ExtentCapped || ev.Extent != 128 {
		t.Errorf("seq 1 after 2..300 = %v extent %d capped %v; want late, 128, capped", ev.Kind, ev.Extent, ev.ExtentCapped)
	}
}

func TestTrackerMalformed(t *testing.T) {
	tr := NewTracker(Config{})
	bad := map[string]struct {
		b    []byte
		err  error
		want string
	}{
		"short":   {[]byte("dg\x01"), ErrShort, "short"},
		"magic":   {append([]byte("xx\x01\x00"), make([]byte, 16)...), ErrMagic, "bad magic"},
		"version": {append([]byte("dg\x02\x00"), make([]byte, 16)...), ErrVersion, "unknown version"},
		"type":    {Header{Type: 7, Seq: 1}.Append(nil), ErrType, "unknown type"},
	}
	for name, c := range bad {
		ev := tr.Observe(bob, c.b, t0)
		if ev.Kind != Malformed || !errors.Is(ev.Err, c.err) || ev.Cause() != c.want || ev.Len != len(c.b) {
			t.Errorf("%s: Observe = %v %v %q len %d, want malformed %v %q", name, ev.Kind, ev.Err, ev.Cause(), ev.Len, c.err, c.want)
		}
	}
	s, ok := tr.Lookup(bob)
	if !ok || s.Malformed != 4 || s.Received != 0 || s.HasHighest {
		t.Errorf("malformed-only sender: %+v, %v; want malformed 4, received 0", s, ok)
	}
	// Its first valid datagram promotes it; the malformed count stays.
	if ev := tr.Observe(bob, datagram(0, 0), t0); ev.Kind != InOrder {
		t.Errorf("first valid datagram = %v, want in-order", ev.Kind)
	}
	s, _ = tr.Lookup(bob)
	if s.Malformed != 4 || s.Received != 1 {
		t.Errorf("after promotion: malformed %d received %d; want 4, 1", s.Malformed, s.Received)
	}
	tot := tr.Totals()
	if tot.Datagrams != 5 || tot.Malformed != 4 || tot.Senders != 1 {
		t.Errorf("Totals = %+v; want 5 datagrams, 4 malformed, 1 sender", tot)
	}
}

func TestTrackerSenderTableBound(t *testing.T) {
	tr := NewTracker(Config{MaxSenders: 4})
	addr := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(3000+i))
	}
	for i := range 4 {
		tr.Observe(addr(i), datagram(0, 0), t0)
	}
	tr.Observe(addr(0), datagram(1, 1), t0) // 0 is now the most recently seen
	tr.Observe(addr(4), datagram(0, 0), t0) // evicts 1, the least recently seen
	tr.Observe(addr(5), datagram(0, 0), t0) // evicts 2
	if _, ok := tr.Lookup(addr(1)); ok {
		t.Error("sender 1 (least recently seen) was not evicted")
	}
	if _, ok := tr.Lookup(addr(2)); ok {
		t.Error("sender 2 was not evicted")
	}
	if s, ok := tr.Lookup(addr(0)); !ok || s.Received != 2 {
		t.Errorf("sender 0 (recently seen) = %+v, %v; want kept with 2 received", s, ok)
	}
	tot := tr.Totals()
	if tot.Senders != 4 || tot.Evicted != 2 {
		t.Errorf("Totals = %+v; want 4 senders, 2 evicted", tot)
	}
	var order []uint16
	for _, s := range tr.Senders() {
		order = append(order, s.Peer.Port())
	}
	if fmt.Sprint(order) != "[3000 3003 3004 3005]" {
		t.Errorf("Senders() order = %v, want first-seen order [3000 3003 3004 3005]", order)
	}

	// Malformed floods from many addresses stay in their own table.
	for i := range 1000 {
		tr.Observe(addr(100+i), []byte("junk"), t0)
	}
	if _, ok := tr.Lookup(addr(0)); !ok {
		t.Error("a flood of malformed datagrams evicted a real sender")
	}
	tot = tr.Totals()
	if tot.Senders != 4+16 || tot.EvictedMalformed != 1000-16 || tot.Malformed != 1000 {
		t.Errorf("after the flood: %+v; want 20 senders, 984 malformed-only evicted, 1000 malformed", tot)
	}
}

// TestTrackerJitter works RFC 3550 A.8 by hand: transit times 5, 5, 7, 5 ms
// give D = 0, 2, -2 and J = 0, 0.125, 0.2421875 ms.
func TestTrackerJitter(t *testing.T) {
	tr := NewTracker(Config{})
	sent := []int{0, 10, 20, 30}
	arrive := []int{5, 15, 27, 35}
	want := []float64{0, 0, 0.125, 0.2421875}
	for i := range sent {
		tr.Observe(alice, datagram(uint64(i), sent[i]), t0.Add(time.Duration(arrive[i])*time.Millisecond))
		s, _ := tr.Lookup(alice)
		if math.Abs(s.JitterMs()-want[i]) > 1e-9 {
			t.Errorf("after datagram %d: jitter %v ms, want %v", i, s.JitterMs(), want[i])
		}
	}
	// A duplicate does not move the estimate.
	tr.Observe(alice, datagram(3, 30), t0.Add(100*time.Millisecond))
	if s, _ := tr.Lookup(alice); math.Abs(s.JitterMs()-0.2421875) > 1e-9 {
		t.Errorf("after a duplicate: jitter %v ms, want unchanged 0.2421875", s.JitterMs())
	}
}

// TestTrackerSkewedClock: send times no clock would give (2^63-1, a
// negative one, an hour off) are left out of the jitter and counted; a
// sender whose clock is a few minutes off is still measured.
func TestTrackerSkewedClock(t *testing.T) {
	tr := NewTracker(Config{})
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	obs := func(q uint64, sent int64, arrive time.Time) {
		tr.Observe(alice, Header{Seq: q, Sent: sent}.Append(nil), arrive)
	}
	// clock 3 minutes behind ours, transit 5 ms then 7 ms: J = 2/16 ms
	off := -3 * time.Minute
	obs(0, t0.Add(off).UnixNano(), at(5))
	obs(1, t0.Add(off+10*time.Millisecond).UnixNano(), at(17))
	for i, sent := range []int64{math.MaxInt64, math.MinInt64, -1, t0.Add(time.Hour).UnixNano(), t0.Add(-time.Hour).UnixNano()} {
		obs(uint64(2+i), sent, at(30+i))
	}
	s, _ := tr.Lookup(alice)
	if s.Skewed != 5 || s.Received != 7 || math.Abs(s.JitterMs()-0.125) > 1e-9 {
		t.Errorf("skewed %d, received %d, jitter %v ms; want 5, 7, 0.125", s.Skewed, s.Received, s.JitterMs())
	}
}

func TestKindStrings(t *testing.T) {
	want := "in-order gap late duplicate stale restart malformed suspect"
	var got []string
	for k := InOrder; k <= Suspect; k++ {
		got = append(got, k.String())
	}
	if strings.Join(got, " ") != want {
		t.Errorf("kind names = %q, want %q", got, want)
	}
}

func TestObserveAllocs(t *testing.T) {
	tr := NewTracker(Config{})
	b := make([]byte, 64)
	q := uint64(0)
	tr.Observe(alice, datagram(0, 0), t0) // creates the sender
	junk := []byte("junk")
	allocs := testing.AllocsPerRun(1000, func() {
		q++
		Header{Seq: q, Sent: int64(q)}.Put(b)
		tr.Observe(alice, b, t0)
		tr.Observe(alice, junk, t0) // malformed from a known sender
	})
	if allocs != 0 {
		t.Errorf("Observe allocates %v times per datagram, want 0", allocs)
	}
}

// TestObserveRunMatchesObserve: the fast path for runs counts exactly what
// datagram-by-datagram observation counts.
func TestObserveRunMatchesObserve(t *testing.T) {
	const seg = 32
	build := func(seqs ...uint64) []byte {
		var b []byte
		for _, q := range seqs {
			d := make([]byte, seg)
			Header{Seq: q, Sent: int64(q) * 1000}.Put(d)
			b = append(b, d...)
		}
		return b
	}
	buffers := [][]byte{
		build(0, 1, 2, 3),
		build(4, 5, 7, 8), // a gap inside
		build(6, 9, 10),   // a late one first
		append(build(11, 12), []byte("junkjunkjunkjunkjunkjunkjunkjunk")...),
		build(13, 13, 14), // a duplicate
	}
	slow, fast := NewTracker(Config{}), NewTracker(Config{})
	now := time.Unix(5, 0)
	var ev Event
	for _, b := range buffers {
		for off := 0; off < len(b); off += seg {
			slow.ObserveTo(&ev, alice, b[off:min(off+seg, len(b))], now)
		}
		rest := b
		for len(rest) > 0 {
			k := fast.ObserveRun(alice, rest, seg, now)
			rest = rest[k:]
			if len(rest) > 0 {
				fast.ObserveTo(&ev, alice, rest[:min(seg, len(rest))], now)
				rest = rest[min(seg, len(rest)):]
			}
		}
		now = now.Add(time.Millisecond)
	}
	a, _ := slow.Lookup(alice)
	b, _ := fast.Lookup(alice)
	a.FirstSeen, b.FirstSeen, a.LastSeen, b.LastSeen = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if a != b {
		t.Errorf("ObserveRun gave %+v\nObserveTo gave %+v", b, a)
	}
	if slow.Totals() != fast.Totals() {
		t.Errorf("totals differ: %+v vs %+v", fast.Totals(), slow.Totals())
	}
}
