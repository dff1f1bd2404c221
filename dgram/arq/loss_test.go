package arq

import (
	"bytes"
	"testing"
	"time"
)

// acks returns the ACKs among pkts.
func acks(pkts []Packet) []Packet {
	var out []Packet
	for _, p := range pkts {
		if p.Type == TypeAck {
			out = append(out, p)
		}
	}
	return out
}

// TestSACKReportsEveryArrival: with more holes than an ACK has SACK
// ranges, every segment that arrives is still reported, in the ACK that
// follows it: the blocks that changed last lead (RFC 2018), so the
// sender never takes a segment that arrived for lost.
func TestSACKReportsEveryArrival(t *testing.T) {
	_, s := handshake(t, Config{}, Config{})
	// 300 segments in order, read: the window grows past 200
	for q := uint64(0); q < 300; q++ {
		s.Receive(&Packet{Type: TypeData, Seq: q, Conn: 42, Payload: []byte("x"), Flags: FlagEnd}, t0)
		for _, ok := s.Recv(t0); ok; _, ok = s.Recv(t0) {
		}
		drain(s, t0) // the ACK advertises the window as it grows
	}
	// every other segment from 301 to 499, two per ACK, 100 apart: 100
	// blocks, three times MaxSACK; each ACK reports both of its arrivals
	has := func(a *Packet, q uint64) bool {
		for _, r := range a.SACK[:a.NSACK] {
			if q >= r.Start && q < r.End {
				return true
			}
		}
		return false
	}
	for q := uint64(301); q < 400; q += 2 {
		s.Receive(&Packet{Type: TypeData, Seq: q, Conn: 42, Payload: []byte("x"), Sent: int64(q)}, t0)
		s.Receive(&Packet{Type: TypeData, Seq: q + 100, Conn: 42, Payload: []byte("x"), Sent: int64(q + 100)}, t0)
		as := acks(drain(s, t0))
		if len(as) != 1 {
			t.Fatalf("after segments %d and %d: %d ACKs, want 1", q, q+100, len(as))
		}
		a := roundTrip(t, &as[0])
		if a.NSACK == 0 || a.SACK[0] != (Range{q + 100, q + 101}) {
			t.Fatalf("after segment %d: first SACK range %v, want [%d, %d)", q+100, a.SACK[:min(a.NSACK, 3)], q+100, q+101)
		}
		if !has(a, q) {
			t.Fatalf("segment %d arrived and is in no SACK range of the ACK that follows", q)
		}
		if a.Echo != int64(q+100) {
			t.Errorf("after segment %d: echo %d, want the latest send time %d", q+100, a.Echo, q+100)
		}
	}
	// the one that joins two blocks is reported as the joined block
	s.Receive(&Packet{Type: TypeData, Seq: 400, Conn: 42, Payload: []byte("x")}, t0)
	a := acks(drain(s, t0))[0]
	if a.SACK[0] != (Range{399, 402}) {
		t.Errorf("after segment 400: first range %v, want [399, 402)", a.SACK[0])
	}
	if a.NSACK != MaxSACK {
		t.Errorf("%d SACK ranges, want all %d", a.NSACK, MaxSACK)
	}
}

// TestDSACKReportsDuplicates: a segment that arrives again is reported
// in the next ACK (D-SACK, RFC 2883), neighbours in one range; more
// than an ACK carries go in the ACKs that follow at once.
func TestDSACKReportsDuplicates(t *testing.T) {
	_, s := handshake(t, Config{}, Config{})
	drain(s, t0)
	for q := uint64(0); q < 40; q++ {
		s.Receive(&Packet{Type: TypeData, Seq: q, Conn: 42, Payload: []byte("x")}, t0)
	}
	drain(s, t0)
	// duplicates: 3 and 4 (one range), then 10, 12, 14, 16, 18, 20
	for _, q := range []uint64{3, 4, 10, 12, 14, 16, 18, 20} {
		s.Receive(&Packet{Type: TypeData, Seq: q, Conn: 42, Payload: []byte("x")}, t0)
	}
	as := acks(drain(s, t0))
	var got []Range
	for _, a := range as {
		a := roundTrip(t, &a)
		got = append(got, a.DSACK[:a.NDSACK]...)
	}
	want := []Range{{3, 5}, {10, 11}, {12, 13}, {14, 15}, {16, 17}, {18, 19}, {20, 21}}
	if len(as) != 2 || len(got) != len(want) {
		t.Fatalf("%d ACKs reporting %v, want 2 reporting %v", len(as), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("D-SACK ranges %v, want %v", got, want)
		}
	}
	if st := s.Stats(); st.DuplicateSegments != 8 {
		t.Errorf("DuplicateSegments = %d, want 8", st.DuplicateSegments)
	}
}

// TestWindowEdgeHolds: a segment inside the window the receiver
// advertised is taken, however many out-of-order segments arrived since
// the advertisement (the window's right edge does not move back).
func TestWindowEdgeHolds(t *testing.T) {
	_, s := handshake(t, Config{}, Config{})
	s.Receive(&Packet{Type: TypePing, Conn: 42}, t0)
	a := acks(drain(s, t0))
	if len(a) != 1 {
		t.Fatalf("%d ACKs to a PING, want 1", len(a))
	}
	edge := a[0].Seq + uint64(a[0].Window)
	for q := uint64(1); q < edge; q++ { // segment 0 missing: all out of order
		s.Receive(&Packet{Type: TypeData, Seq: q, Conn: 42, Payload: []byte("x")}, t0)
	}
	st := s.Stats()
	if st.OutOfWindow != 0 || st.OutOfOrder != edge-1 {
		t.Errorf("%d of %d segments inside the advertised window were dropped as out of window (kept %d)", st.OutOfWindow, edge-1, st.OutOfOrder)
	}
	s.Receive(&Packet{Type: TypeData, Seq: edge, Conn: 42, Payload: []byte("x")}, t0)
	if s.Stats().OutOfWindow != 1 {
		t.Errorf("a segment past the advertised edge was taken")
	}
}

// TestEncodeInPlace: a DATA packet that Next filled encodes where its
// payload lies, to the same bytes Append makes.
func TestEncodeInPlace(t *testing.T) {
	c, _ := handshake(t, Config{}, Config{})
	msg := bytes.Repeat([]byte("payload "), 500)
	if n, all := c.Write(msg, true); !all || n != len(msg) {
		t.Fatalf("Write took %d bytes of %d", n, len(msg))
	}
	var p Packet
	n := 0
	for now := t0; c.Next(now, &p); now = now.Add(time.Microsecond) {
		if p.Type != TypeData {
			continue
		}
		n++
		want := p.Append(nil)
		if got := p.Encode(make([]byte, 0, 8)); !bytes.Equal(got, want) {
			t.Fatalf("segment %d: Encode gave % x..., Append % x...", p.Seq, got[:32], want[:32])
		}
	}
	if n == 0 {
		t.Fatal("no DATA to encode")
	}
}
