package probe

import (
	"bytes"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/seq"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newProber(t testing.TB) *Prober {
	t.Helper()
	p, err := New(Config{Size: 28, Type: seq.TypeData, Timeout: time.Second, Window: 8})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReplies walks a run probe by probe in virtual time: replies in
// order and out of it, a duplicate, a late one, a changed one, one never
// sent, junk, and a probe that never gets an answer.
func TestReplies(t *testing.T) {
	p := newProber(t)
	sent := map[uint64][]byte{}
	for i := range 5 {
		q, b := p.Next(t0.Add(time.Duration(i) * 100 * time.Millisecond))
		sent[q] = append([]byte(nil), b...)
	}
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	corrupt := append([]byte(nil), sent[3]...)
	corrupt[25] ^= 0x20
	short := sent[4][:27]
	cases := []struct {
		name   string
		b      []byte
		at     time.Time
		kind   Kind
		seq    uint64
		rtt    time.Duration
		reord  bool
		offset int
	}{
		{"first", sent[0], at(5), Reply, 0, 5 * time.Millisecond, false, 0},
		{"third before second", sent[2], at(210), Reply, 2, 10 * time.Millisecond, false, 0},
		{"second, after the third", sent[1], at(220), Reply, 1, 120 * time.Millisecond, true, 0},
		{"first again", sent[0], at(230), Duplicate, 0, 230 * time.Millisecond, false, 0},
		{"a changed byte", corrupt, at(310), Corrupted, 3, 10 * time.Millisecond, false, 25},
		{"cut short", short, at(420), Corrupted, 4, 20 * time.Millisecond, false, 27},
		{"never sent", seq.Header{Type: seq.TypeData, Seq: 99}.Append(nil), at(430), Unknown, 99, 0, false, 0},
		{"not a probe", []byte("hello"), at(440), Malformed, 0, 0, false, 0},
		{"the changed one, late but right", sent[3], at(1400), Late, 3, 1100 * time.Millisecond, false, 0},
	}
	for _, c := range cases {
		ev := p.Reply(c.b, c.at)
		if ev.Kind != c.kind || ev.Seq != c.seq || ev.RTT != c.rtt || ev.Reordered != c.reord || ev.Offset != c.offset {
			t.Errorf("%s: Reply = %+v, want %v seq %d rtt %v reordered %v offset %d", c.name, ev, c.kind, c.seq, c.rtt, c.reord, c.offset)
		}
	}
	var expired []uint64
	p.Expire(at(1500), func(ev Event) { expired = append(expired, ev.Seq) })
	if len(expired) != 1 || expired[0] != 4 {
		t.Errorf("expired %v, want [4] (3 was answered late, 4 only corrupted)", expired)
	}
	st := p.Stats()
	want := Stats{Transmitted: 5, Received: 3, Duplicates: 1, Late: 1, Reordered: 1, Corrupted: 2, Malformed: 1, Unknown: 1, Timeouts: 1}
	got := st
	got.RTTMin, got.RTTMax, got.rttSum, got.rttSum2 = 0, 0, 0, 0
	if got != want {
		t.Errorf("Stats = %+v\nwant %+v", got, want)
	}
	if st.RTTMin != 5*time.Millisecond || st.RTTMax != 120*time.Millisecond || st.RTTAvg() != 45*time.Millisecond {
		t.Errorf("rtt min/avg/max %v/%v/%v, want 5ms/45ms/120ms", st.RTTMin, st.RTTAvg(), st.RTTMax)
	}
	if l := st.LossPct(); l != 40 {
		t.Errorf("loss %v%%, want 40%%", l)
	}
}

// TestCorruptedNeverReceived: an echo server that changes one byte gets
// every reply counted as corrupted, none as received, and every probe
// expires (ping(8) says "wrong data byte").
func TestCorruptedNeverReceived(t *testing.T) {
	p := newProber(t)
	for i := range 20 {
		now := t0.Add(time.Duration(i) * time.Second)
		_, b := p.Next(now)
		bad := append([]byte(nil), b...)
		bad[len(bad)-1] = 'Z'
		if ev := p.Reply(bad, now.Add(time.Millisecond)); ev.Kind != Corrupted || ev.Want != int(b[len(b)-1]) || ev.Got != 'Z' {
			t.Fatalf("probe %d: %+v", i, ev)
		}
		p.Expire(now.Add(1500*time.Millisecond), func(Event) {})
	}
	if st := p.Stats(); st.Received != 0 || st.Corrupted != 20 || st.Timeouts != 20 {
		t.Errorf("%+v: want 0 received, 20 corrupted, 20 timeouts", st)
	}
}

// TestWindowForgets: a reply to a probe older than the window is Unknown,
// not taken for the probe that now has its slot.
func TestWindowForgets(t *testing.T) {
	p := newProber(t)
	var first []byte
	for i := range 20 {
		_, b := p.Next(t0.Add(time.Duration(i) * time.Millisecond))
		if i == 0 {
			first = append([]byte(nil), b...)
		}
	}
	if ev := p.Reply(first, t0.Add(30*time.Millisecond)); ev.Kind != Unknown {
		t.Errorf("a reply to probe 0 of 20 with a window of 8: %+v, want unknown", ev)
	}
	if d := p.Deadline(); !d.Equal(t0.Add(12*time.Millisecond + time.Second)) {
		t.Errorf("Deadline = %v, want probe 12's", d)
	}
}

// FuzzReply: whatever comes back, the counts stay consistent, and a
// Reply is exactly a probe that was sent.
func FuzzReply(f *testing.F) {
	p := newProber(f)
	_, b := p.Next(t0)
	f.Add(append([]byte(nil), b...))
	f.Add([]byte("dg\x01\x00\x00\x00\x00\x00\x00\x00\x00\x05"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		p := newProber(t)
		var sent [][]byte
		for i := range 4 {
			_, b := p.Next(t0.Add(time.Duration(i) * time.Millisecond))
			sent = append(sent, append([]byte(nil), b...))
		}
		ev := p.Reply(in, t0.Add(10*time.Millisecond))
		if ev.Kind == Reply && !bytes.Equal(in, sent[ev.Seq]) {
			t.Fatalf("a reply that is not probe %d was received", ev.Seq)
		}
		st := p.Stats()
		if st.Received+st.Late > st.Transmitted || st.Received+st.Duplicates+st.Late+st.Corrupted+st.Unknown+st.Malformed != 1 {
			t.Fatalf("inconsistent counts after one reply: %+v", st)
		}
	})
}
