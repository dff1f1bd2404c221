package seal

import (
	"bytes"
	"testing"
	"time"
)

// FuzzOpen feeds arbitrary datagrams to an Opener that has seen some
// traffic: it must never panic, never accept what was not sealed under its
// key, and reject each with a cause.
func FuzzOpen(f *testing.F) {
	k := mustKey(f, secret)
	s := mustSealer(f, k, 42)
	for _, m := range []string{"", "hello", string(bytes.Repeat([]byte{0}, 100))} {
		b, _ := s.Seal(nil, []byte(m), t0)
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte("dg\x01\x02"))
	f.Add([]byte("plain text"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o := k.NewOpener(Config{Start: t0, MaxSessions: 4})
		s := mustSealer(t, k, 42)
		for range 3 {
			if _, _, c := o.Open(nil, peerA, seal(t, s, "warm", t0)); c != None {
				t.Fatal(c)
			}
		}
		before := o.Accepted()
		out, h, c := o.Open(nil, peerA, bytes.Clone(b))
		if c >= NumCauses {
			t.Fatalf("cause %d", c)
		}
		if c == None {
			// Only a sealed datagram of session 42 that was not yet
			// accepted can open: the fuzzer cannot forge one, but it can
			// find one in the corpus (seq 0 was accepted above, seq 1 and
			// 2 too), so anything that opens must be an untampered copy.
			if h.Session != 42 || h.Seq < 3 || o.Accepted() != before+1 {
				t.Fatalf("accepted %+v: %q", h, out)
			}
			return
		}
		if out != nil || o.Accepted() != before {
			t.Fatalf("rejected (%v) but returned %q", c, out)
		}
		if o.Rejected()[c] != 1 || o.Rejected().Total() != 1 {
			t.Fatalf("counts %v", o.Rejected())
		}
	})
}

// FuzzRoundTrip seals arbitrary payloads and flips one bit: the original
// opens to the payload, the flipped copy never opens.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint16(0))
	f.Add([]byte{}, uint16(30))
	f.Add(bytes.Repeat([]byte("x"), 1400), uint16(1000))
	k := mustKey(f, secret)
	f.Fuzz(func(t *testing.T, payload []byte, pos uint16) {
		s := mustSealer(t, k, 7)
		o := k.NewOpener(Config{Start: t0})
		b, err := s.Seal(nil, payload, t0.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		// The readable header may hold any 8 bytes (seq 0 is eight zeros);
		// the ciphertext must not hold the plaintext.
		if len(payload) >= 8 && bytes.Contains(b[HeaderLen:], payload) {
			t.Fatalf("plaintext visible in %x", b)
		}
		flipped := bytes.Clone(b)
		flipped[int(pos)%len(b)] ^= 1
		if out, _, c := o.Open(nil, peerA, flipped); c == None {
			t.Fatalf("a flipped bit at %d opened: %q", int(pos)%len(b), out)
		}
		out, _, c := o.Open(nil, peerA, b)
		if c != None || !bytes.Equal(out, payload) {
			t.Fatalf("round trip: %v %q", c, out)
		}
	})
}
