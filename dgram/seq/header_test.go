package seq

import (
	"bytes"
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"
)

func TestHeaderLayout(t *testing.T) {
	h := Header{Type: TypeData, Seq: 0x0102030405060708, Sent: 0x1112131415161718}
	got := h.Append([]byte("x"))
	want := []byte("x" + "dg\x01\x00" + "\x01\x02\x03\x04\x05\x06\x07\x08" + "\x11\x12\x13\x14\x15\x16\x17\x18")
	if !bytes.Equal(got, want) {
		t.Fatalf("Append = % x\nwant     % x", got, want)
	}
	var p [HeaderLen]byte
	h.Put(p[:])
	if !bytes.Equal(p[:], want[1:]) {
		t.Errorf("Put = % x, want % x", p, want[1:])
	}
	d, payload, err := Decode(append(want[1:], "payload"...))
	if err != nil || d != h || string(payload) != "payload" {
		t.Errorf("Decode = %+v %q %v; want %+v \"payload\"", d, payload, err, h)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := Header{Seq: 1}.Append(nil)
	tests := []struct {
		name string
		b    []byte
		err  error
		msg  string
	}{
		{"empty", nil, ErrShort, "seq: short header: 0 of 20 bytes"},
		{"19 bytes", valid[:19], ErrShort, "seq: short header: 19 of 20 bytes"},
		{"magic", append([]byte("DG"), valid[2:]...), ErrMagic, "seq: bad magic"},
		{"version", append([]byte("dg\x02"), valid[3:]...), ErrVersion, "seq: unknown version 2 (this reads version 1)"},
	}
	for _, tt := range tests {
		_, _, err := Decode(tt.b)
		var de *DecodeError
		if !errors.Is(err, tt.err) || !errors.As(err, &de) || err.Error() != tt.msg {
			t.Errorf("Decode(%s) = %v, want %v with message %q", tt.name, err, tt.err, tt.msg)
		}
	}
	// Decode accepts any type; the Tracker refuses those it does not handle.
	if h, _, err := Decode(Header{Type: 9}.Append(nil)); err != nil || h.Type != 9 {
		t.Errorf("Decode(type 9) = %+v, %v; want type 9, nil", h, err)
	}
	// The payload aliases the input: no copy.
	b := append(Header{}.Append(nil), "abc"...)
	_, payload, _ := Decode(b)
	if &payload[0] != &b[HeaderLen] {
		t.Error("Decode copied the payload")
	}
}

func TestHeaderAllocs(t *testing.T) {
	buf := make([]byte, 0, 64)
	b := Header{Seq: 7}.Append(nil)
	if n := testing.AllocsPerRun(1000, func() {
		buf = Header{Seq: 7, Sent: 1}.Append(buf[:0])
		if _, _, err := Decode(b); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Append+Decode allocate %v times, want 0", n)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Header{Seq: 42, Sent: 1}.Append([]byte{}))
	f.Add(append(Header{Type: 3, Seq: 1 << 63}.Append(nil), "payload"...))
	f.Add([]byte("dg\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Len != len(b) || de.Error() == "" {
				t.Fatalf("Decode(% x) error %v is not a complete *DecodeError", b, err)
			}
			return
		}
		// a valid header re-encodes to exactly the input
		if re := append(h.Append(nil), payload...); !bytes.Equal(re, b) {
			t.Fatalf("re-encoding % x gave % x", b, re)
		}
	})
}

// FuzzObserve feeds datagrams cut from the input (each prefixed by a byte
// choosing one of 8 senders) to a small tracker and checks its invariants.
func FuzzObserve(f *testing.F) {
	seed := func(seqs ...uint64) []byte {
		var b []byte
		for i, q := range seqs {
			d := Header{Seq: q, Sent: int64(q)}.Append(nil)
			b = append(b, byte(i%3), byte(len(d)))
			b = append(b, d...)
		}
		return b
	}
	f.Add(seed(0, 1, 2, 5, 3, 3, 9, 0))
	f.Add(seed(1<<63, 0, 1<<63-1, 7, 7, 100000))
	f.Add([]byte{0, 3, 'd', 'g', 1, 1, 25})
	f.Add(seed(math.MaxUint64, 0, 1, math.MaxUint64, 2, 5000, 5001, 3))
	f.Fuzz(func(t *testing.T, in []byte) {
		tr := NewTracker(Config{Window: 64, MaxSenders: 4, RestartIdle: time.Millisecond, MaxDropout: 100})
		// big never evicts: its counts add up against the events
		big := NewTracker(Config{Window: 64, RestartIdle: time.Millisecond, MaxDropout: 100})
		type tally struct{ counted, suspect uint64 }
		tallies := map[netip.AddrPort]*tally{}
		now := time.Unix(1_700_000_000, 0)
		for len(in) >= 2 {
			who, n := in[0], int(in[1])
			in = in[2:]
			n = min(n, len(in))
			from := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(who%8))
			now = now.Add(time.Duration(who) * time.Millisecond)
			ev := tr.Observe(from, in[:n], now)
			if ev.Kind > Suspect {
				t.Fatalf("unknown kind %d", ev.Kind)
			}
			ev = big.Observe(from, in[:n], now)
			ta := tallies[from]
			if ta == nil {
				ta = &tally{}
				tallies[from] = ta
			}
			switch ev.Kind {
			case Malformed:
			case Suspect:
				ta.suspect++
			default:
				ta.counted++
			}
			in = in[n:]
		}
		for _, s := range big.Senders() {
			ta := tallies[s.Peer]
			// a confirmed suspect counts with the datagram that confirmed it
			if s.Suspect > ta.suspect || s.Received != ta.counted+ta.suspect-s.Suspect {
				t.Fatalf("%v: received %d, suspect %d; events: %d counted, %d suspect", s.Peer, s.Received, s.Suspect, ta.counted, ta.suspect)
			}
			if s.HasHighest && (s.Expected == 0 || s.Highest == math.MaxUint64) {
				t.Fatalf("%v: expected %d with highest %d: the sequence wrapped", s.Peer, s.Expected, s.Highest)
			}
		}
		tot := tr.Totals()
		if tot.Senders > 4+16 {
			t.Fatalf("%d senders in tables bounded to 20", tot.Senders)
		}
		var malformed uint64
		for _, s := range tr.Senders() {
			malformed += s.Malformed
			if s.Duplicates != s.Received-s.Unique || s.Unique > s.Received {
				t.Fatalf("%v: duplicates %d, received %d, unique %d", s.Peer, s.Duplicates, s.Received, s.Unique)
			}
			if s.Expected >= s.Unique && s.Lost != s.Expected-s.Unique || s.Expected < s.Unique && s.Lost != 0 {
				t.Fatalf("%v: lost %d, expected %d, unique %d", s.Peer, s.Lost, s.Expected, s.Unique)
			}
			if s.Reordered+s.Stale > s.Unique {
				t.Fatalf("%v: reordered %d + stale %d > unique %d", s.Peer, s.Reordered, s.Stale, s.Unique)
			}
		}
		if malformed > tot.Malformed {
			t.Fatalf("senders' malformed %d > total %d", malformed, tot.Malformed)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	buf := make([]byte, 0, 1500)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = Header{Seq: uint64(i), Sent: int64(i)}.Append(buf[:0])
	}
}

func BenchmarkDecode(b *testing.B) {
	d := append(Header{Seq: 12345, Sent: 678}.Append(nil), make([]byte, 44)...)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	from := netip.MustParseAddrPort("127.0.0.1:5000")
	b.Run("in-order", func(b *testing.B) {
		tr := NewTracker(Config{})
		d := make([]byte, 64)
		now := time.Unix(1, 0)
		var ev Event
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			Header{Seq: uint64(i), Sent: int64(i)}.Put(d)
			tr.ObserveTo(&ev, from, d, now)
		}
	})
	b.Run("reordered", func(b *testing.B) {
		// every 4th datagram swaps with the next, every 100th is lost
		tr := NewTracker(Config{})
		d := make([]byte, 64)
		now := time.Unix(1, 0)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			q := uint64(i)
			switch {
			case i%4 == 0:
				q++
			case i%4 == 1:
				q--
			}
			if i%100 == 50 {
				continue
			}
			Header{Seq: q, Sent: int64(q)}.Put(d)
			tr.Observe(from, d, now)
		}
	})
	b.Run("1000-senders", func(b *testing.B) {
		tr := NewTracker(Config{})
		d := make([]byte, 64)
		now := time.Unix(1, 0)
		addrs := make([]netip.AddrPort, 1000)
		for i := range addrs {
			addrs[i] = netip.AddrPortFrom(from.Addr(), uint16(10000+i))
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			Header{Seq: uint64(i / 1000), Sent: int64(i)}.Put(d)
			tr.Observe(addrs[i%1000], d, now)
		}
	})
}
