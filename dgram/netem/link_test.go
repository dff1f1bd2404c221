package netem

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"
)

// capture is an output that records what a link releases, and when, in
// virtual time.
type capture struct {
	now  *time.Time
	got  []uint32 // the datagrams' numbers (first 4 bytes)
	at   []time.Time
	data [][]byte
}

func (c *capture) send(items []*item) {
	for _, it := range items {
		c.got = append(c.got, binary.BigEndian.Uint32(it.buf))
		c.at = append(c.at, *c.now)
		c.data = append(c.data, append([]byte(nil), it.buf...))
	}
}

// vlink is a timed link driven by a virtual clock.
type vlink struct {
	l   *Link
	s   *Scheduler
	out *capture
	now time.Time
	c   Counters
	t0  time.Time
	log bytes.Buffer
	lg  *Logger
	dst netip.AddrPort
}

func newVLink(t *testing.T, cfg Config, seed uint64) *vlink {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	v := &vlink{s: NewScheduler(), t0: time.Unix(1000, 0), dst: netip.MustParseAddrPort("127.0.0.1:9")}
	v.now = v.t0
	v.out = &capture{now: &v.now}
	v.lg = NewLogger(&v.log)
	v.l = newLink("up", "", cfg, seed, 0, &v.c, v.s, v.out, v.lg)
	return v
}

// push sends datagram number n of size bytes (at least 4) at the current
// virtual time, then releases what is due.
func (v *vlink) push(n uint32, size int) {
	b := make([]byte, max(size, 4))
	binary.BigEndian.PutUint32(b, n)
	if v.l.timed() {
		v.l.push(v.now, b, v.dst)
	} else if k := v.l.filter(b); k > 0 {
		for range k {
			v.out.got = append(v.out.got, n)
			v.out.at = append(v.out.at, v.now)
			v.out.data = append(v.out.data, append([]byte(nil), b...))
		}
	}
	v.s.release(v.now)
}

// advance moves the clock by d, releasing at every datagram's time on the way.
func (v *vlink) advance(d time.Duration) {
	end := v.now.Add(d)
	for {
		at, ok := v.s.next()
		if !ok || at.After(end) {
			break
		}
		v.now = at
		v.s.release(v.now)
	}
	v.now = end
}

func seqs(from, to uint32) []uint32 {
	var s []uint32
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestScriptOnTheLink(t *testing.T) {
	s, err := ParseScript("drop 5,17; dup 7; swap 9")
	if err != nil {
		t.Fatal(err)
	}
	v := newVLink(t, Config{Script: s}, 1)
	for i := uint32(1); i <= 20; i++ {
		v.push(i, 16)
		v.advance(time.Millisecond)
	}
	v.advance(time.Second)
	want := []uint32{1, 2, 3, 4, 6, 7, 7, 8, 10, 9, 11, 12, 13, 14, 15, 16, 18, 19, 20}
	if fmt.Sprint(v.out.got) != fmt.Sprint(want) {
		t.Errorf("released %v\nwant     %v", v.out.got, want)
	}
	c := v.c.Snapshot()
	if c.In != 20 || c.Out != 19 || c.DropScript != 2 || c.Duplicated != 1 || c.Reordered != 1 {
		t.Errorf("counters %+v", c)
	}
}

func TestDelayAndOrder(t *testing.T) {
	v := newVLink(t, Config{Delay: 10 * time.Millisecond}, 1)
	v.push(1, 8)
	v.advance(9 * time.Millisecond)
	if len(v.out.got) != 0 {
		t.Fatalf("released %v after 9ms of a 10ms delay", v.out.got)
	}
	v.advance(time.Millisecond)
	if len(v.out.got) != 1 || !v.out.at[0].Equal(v.t0.Add(10*time.Millisecond)) {
		t.Fatalf("released %v at %v, want datagram 1 at 10ms", v.out.got, v.out.at)
	}

	// Jitter without JitterReorders keeps the order.
	v = newVLink(t, Config{Delay: 20 * time.Millisecond, Jitter: 15 * time.Millisecond}, 5)
	for i := uint32(1); i <= 200; i++ {
		v.push(i, 8)
		v.advance(100 * time.Microsecond)
	}
	v.advance(time.Second)
	if fmt.Sprint(v.out.got) != fmt.Sprint(seqs(1, 200)) {
		t.Errorf("jitter reordered although JitterReorders is off: %v", v.out.got)
	}

	// With JitterReorders it may overtake.
	v = newVLink(t, Config{Delay: 20 * time.Millisecond, Jitter: 15 * time.Millisecond, JitterReorders: true}, 5)
	for i := uint32(1); i <= 200; i++ {
		v.push(i, 8)
		v.advance(100 * time.Microsecond)
	}
	v.advance(time.Second)
	inversions := 0
	for i := 1; i < len(v.out.got); i++ {
		if v.out.got[i] < v.out.got[i-1] {
			inversions++
		}
	}
	if len(v.out.got) != 200 || inversions == 0 {
		t.Errorf("JitterReorders: %d released, %d inversions; want 200 and some", len(v.out.got), inversions)
	}
	if d := v.c.Snapshot().Delayed; d != 200 {
		t.Errorf("Delayed = %d, want 200", d)
	}
}

func TestReorderGapAndHold(t *testing.T) {
	// Every datagram is held back with probability 1/2; a held one leaves
	// right after the third datagram that passes it.
	v := newVLink(t, Config{Reorder: 0.3, ReorderGap: 3, ReorderHold: time.Hour}, 11)
	for i := uint32(1); i <= 1000; i++ {
		v.push(i, 8)
	}
	v.advance(2 * time.Hour)
	if len(v.out.got) != 1000 {
		t.Fatalf("released %d of 1000", len(v.out.got))
	}
	// Every datagram comes out; the held ones exactly 3 places later than
	// the datagrams that passed them, unless they were held themselves.
	seen := map[uint32]bool{}
	for _, n := range v.out.got {
		if seen[n] {
			t.Fatalf("datagram %d released twice", n)
		}
		seen[n] = true
	}
	late := 0
	for pos, n := range v.out.got {
		if int(n) < pos+1 {
			late++
		}
	}
	within(t, "held", float64(v.c.Snapshot().Reordered)/1000, 0.3, 1000)
	if late == 0 {
		t.Error("no datagram came out late")
	}

	// With nothing after it, a held datagram leaves after ReorderHold.
	s, _ := ParseScript("swap 2")
	v = newVLink(t, Config{Script: s, ReorderHold: 10 * time.Millisecond}, 1)
	v.push(1, 8)
	v.push(2, 8)
	v.advance(9 * time.Millisecond)
	if fmt.Sprint(v.out.got) != "[1]" {
		t.Fatalf("after 9ms: %v, want [1] (2 held)", v.out.got)
	}
	v.advance(time.Millisecond)
	if fmt.Sprint(v.out.got) != "[1 2]" {
		t.Errorf("after ReorderHold: %v, want [1 2]", v.out.got)
	}
}

func TestRate(t *testing.T) {
	// 1250-byte datagrams (10 kbit) at 1 Mbit/s: one every 10 ms.
	const rate = 1e6
	v := newVLink(t, Config{Rate: rate, Queue: 2000}, 1)
	for i := uint32(1); i <= 500; i++ {
		v.push(i, 1250)
	}
	v.advance(time.Minute)
	if len(v.out.got) != 500 {
		t.Fatalf("released %d of 500", len(v.out.got))
	}
	span := v.out.at[len(v.out.at)-1].Sub(v.t0)
	got := float64(500*1250*8) / span.Seconds()
	if math.Abs(got-rate)/rate > 0.05 {
		t.Errorf("measured rate %.0f bit/s over %v, want %v within 5%%", got, span, rate)
	}
	for i := 1; i < len(v.out.at); i++ {
		if gap := v.out.at[i].Sub(v.out.at[i-1]); gap != 10*time.Millisecond {
			t.Fatalf("gap between datagrams %d and %d is %v, want 10ms", i, i+1, gap)
		}
	}
}

func TestRateQueueTailDrop(t *testing.T) {
	v := newVLink(t, Config{Rate: 1e6, Queue: 100}, 1)
	for i := uint32(1); i <= 150; i++ {
		v.push(i, 1250)
	}
	c := v.c.Snapshot()
	if c.DropQueue != 50 || c.Dropped != 50 {
		t.Fatalf("queue drops %d (dropped %d), want 50: a queue of 100 tail-drops the rest", c.DropQueue, c.Dropped)
	}
	// Once the queue drains, datagrams are accepted again.
	v.advance(500 * time.Millisecond) // 50 left the link
	for i := uint32(151); i <= 160; i++ {
		v.push(i, 1250)
	}
	if c := v.c.Snapshot(); c.DropQueue != 50 {
		t.Errorf("after draining: %d queue drops, want still 50", c.DropQueue)
	}
	v.advance(time.Minute)
	if len(v.out.got) != 110 {
		t.Errorf("released %d, want 110", len(v.out.got))
	}
}

func TestLimit(t *testing.T) {
	v := newVLink(t, Config{Delay: time.Second, Limit: 10}, 1)
	for i := uint32(1); i <= 15; i++ {
		v.push(i, 8)
	}
	if c := v.c.Snapshot(); c.DropLimit != 5 {
		t.Errorf("limit drops %d, want 5", c.DropLimit)
	}
	v.advance(2 * time.Second)
	if len(v.out.got) != 10 {
		t.Errorf("released %d, want 10", len(v.out.got))
	}
	if p := v.l.pending.Load(); p != 0 {
		t.Errorf("pending %d after everything left", p)
	}
}

func TestCorruptFlipsOneBit(t *testing.T) {
	v := newVLink(t, Config{Corrupt: 1}, 3)
	for i := uint32(1); i <= 100; i++ {
		v.push(i|0x80000000, 64) // the high bit set keeps the number readable after a flip there
	}
	for k, d := range v.out.data {
		orig := make([]byte, 64)
		binary.BigEndian.PutUint32(orig, uint32(k+1)|0x80000000)
		diff := 0
		for i := range d {
			for x := d[i] ^ orig[i]; x != 0; x &= x - 1 {
				diff++
			}
		}
		if diff != 1 {
			t.Fatalf("datagram %d: %d bits differ, want exactly 1", k+1, diff)
		}
	}
}

func TestDecisionLogDeterministic(t *testing.T) {
	cfg := Config{Loss: 0.1, Dup: 0.05, Corrupt: 0.05, Reorder: 0.05, Delay: 5 * time.Millisecond, Jitter: 2 * time.Millisecond}
	logOf := func(seed uint64) string {
		v := newVLink(t, cfg, seed)
		for i := uint32(1); i <= 500; i++ {
			v.push(i, 100+int(i%50))
			v.advance(time.Millisecond)
		}
		v.lg.Flush()
		return v.log.String()
	}
	a, b, c := logOf(1), logOf(1), logOf(2)
	if a != b {
		t.Error("the same seed gave two different decision logs")
	}
	if a == c {
		t.Error("seeds 1 and 2 gave the same decision log")
	}
	if n := bytes.Count([]byte(a), []byte("\n")); n != 500 {
		t.Errorf("log has %d lines, want one per datagram (500)", n)
	}
	first := a[:bytes.IndexByte([]byte(a), '\n')]
	if !bytes.HasPrefix([]byte(first), []byte(`{"dir":"up","index":1,"size":101,"action":`)) {
		t.Errorf("first log line %s", first)
	}
}

func TestUntimedFilter(t *testing.T) {
	s, _ := ParseScript("drop 2; dup 3; corrupt 4")
	v := newVLink(t, Config{Script: s}, 1)
	if v.l.timed() {
		t.Fatal("drop/dup/corrupt only should not need the scheduler")
	}
	for i := uint32(1); i <= 5; i++ {
		v.push(i, 8)
	}
	if fmt.Sprint(v.out.got) != "[1 3 3 4 5]" {
		t.Errorf("untimed filter released %v, want [1 3 3 4 5]", v.out.got)
	}
	if v.s.Len() != 0 {
		t.Error("untimed datagrams went through the scheduler")
	}
}

func TestSim(t *testing.T) {
	s, _ := ParseScript("drop 2; swap 4")
	var got []uint32
	var at []time.Duration
	t0 := time.Unix(0, 0)
	sim, err := NewSim(Config{Delay: 5 * time.Millisecond, Script: s}, 1, nil, func(b []byte, when time.Time) {
		got = append(got, binary.BigEndian.Uint32(b))
		at = append(at, when.Sub(t0))
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint32(1); i <= 6; i++ {
		sim.Send(t0.Add(time.Duration(i)*time.Millisecond), numbered(i))
	}
	end := sim.Drain()
	if fmt.Sprint(got) != "[1 3 5 4 6]" {
		t.Errorf("released %v, want [1 3 5 4 6]", got)
	}
	if fmt.Sprint(at) != "[6ms 8ms 10ms 10ms 11ms]" || end.Sub(t0) != 11*time.Millisecond {
		t.Errorf("release times %v (end %v), want [6ms 8ms 10ms 10ms 11ms]", at, end.Sub(t0))
	}
	if c := sim.Counters(); c.In != 6 || c.Out != 5 || c.DropScript != 1 || c.Reordered != 1 {
		t.Errorf("counters %+v", c)
	}
}
