package seal

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/seq"
)

func BenchmarkSealOpen(b *testing.B) {
	for _, size := range []int{64, 1400} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			k := mustKey(b, secret)
			s := mustSealer(b, k, 1)
			o := k.NewOpener(Config{Start: t0})
			msg := make([]byte, size)
			buf := make([]byte, 0, size+Overhead)
			out := make([]byte, 0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				d, err := s.Seal(buf[:0], msg, t0)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, c := o.Open(out[:0], peerA, d); c != None {
					b.Fatal(c)
				}
			}
		})
	}
}

// BenchmarkJunk is the price of a datagram a receiver must refuse, against
// the price of a plain one: a v1 datagram through a seq.Tracker (what
// listen --seq does with it, without a key) and an authentic sealed one.
// Junk carries a random session ID (and so costs a key derivation, rate
// limited), or the ID of a session the receiver knows (one failed GCM
// open). Run: go test ./dgram/seal -run XXX -bench Junk -benchtime 200000x
func BenchmarkJunk(b *testing.B) {
	k := mustKey(b, secret)
	sent := t0.Add(time.Second)
	payload := make([]byte, 64)
	b.Run("plain-tracked", func(b *testing.B) {
		tr := seq.NewTracker(seq.Config{})
		d := make([]byte, seq.HeaderLen+64)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			seq.Header{Seq: uint64(i), Sent: sent.UnixNano()}.Put(d)
			tr.Observe(peerA, d, sent)
		}
	})
	b.Run("authentic", func(b *testing.B) {
		s := mustSealer(b, k, 1)
		o := k.NewOpener(Config{Start: t0})
		buf := make([]byte, 0, 64+Overhead)
		out := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			d, _ := s.Seal(buf[:0], payload, sent)
			if _, _, c := o.Open(out[:0], peerA, d); c != None {
				b.Fatal(c)
			}
		}
	})
	b.Run("unsealed", func(b *testing.B) {
		o := k.NewOpener(Config{Start: t0})
		d := append(seq.Header{Seq: 1}.Append(nil), payload...)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, c := o.Open(nil, peerA, d); c != Unsealed {
				b.Fatal(c)
			}
		}
	})
	junk := func(session uint64) []byte {
		d := seq.Header{Type: Type, Seq: 5, Sent: sent.UnixNano()}.Append(nil)
		d = binary.BigEndian.AppendUint64(d, session)
		return append(d, make([]byte, 64+TagLen)...)
	}
	b.Run("junk-known-session", func(b *testing.B) {
		s := mustSealer(b, k, 1)
		o := k.NewOpener(Config{Start: t0})
		if _, _, c := o.Open(nil, peerA, seal(b, s, "hi", sent)); c != None {
			b.Fatal(c)
		}
		d := junk(1)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, c := o.Open(nil, peerA, d); c != BadTag {
				b.Fatal(c)
			}
		}
	})
	for _, tc := range []struct {
		name  string
		cfg   Config
		addrs int
	}{
		{"junk-new-session-one-address", Config{Start: t0}, 1},
		{"junk-new-session-65536-addresses", Config{Start: t0}, 1 << 16},
		{"junk-new-session-unlimited", Config{Start: t0, NewSessionRate: -1, NewSessionTotal: -1}, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			o := k.NewOpener(tc.cfg)
			d := junk(0)
			addrs := make([]netip.AddrPort, tc.addrs)
			for i := range addrs {
				addrs[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(i >> 8), byte(i)}), 4000)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				binary.BigEndian.PutUint64(d[seq.HeaderLen:], uint64(i)*0x9e3779b97f4a7c15)
				if _, _, c := o.Open(nil, addrs[i%len(addrs)], d); c != BadTag && c != Throttled {
					b.Fatal(c)
				}
			}
			if o.Sessions() != 0 {
				b.Fatalf("junk left %d sessions", o.Sessions())
			}
		})
	}
}

// BenchmarkDerive compares the two ways to a session's cipher: crypto/hkdf
// (the Sealer's, once per session) and the HMAC block the Opener reuses
// for sessions it does not know yet.
func BenchmarkDerive(b *testing.B) {
	k := mustKey(b, secret)
	b.Run("hkdf", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := k.aead(uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reused-hmac", func(b *testing.B) {
		o := k.NewOpener(Config{})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := k.sessionAEAD(o.mac, uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
