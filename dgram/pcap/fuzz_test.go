package pcap

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"
)

// smallPackets are samplePackets without the big one: the fuzzer mutates
// small inputs much faster.
func smallPackets(t0 time.Time) []Packet {
	var out []Packet
	for _, p := range samplePackets(t0) {
		if len(p.Payload) < 1000 {
			out = append(out, p)
		}
	}
	return out
}

// FuzzReader feeds arbitrary bytes to the Reader: it must never panic,
// never return a packet larger than its block, and every error must be
// ErrMalformed or EOF.
func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Options{Comment: "seed", Interfaces: []Interface{{Name: "a"}, {Name: "b"}}})
	for _, p := range smallPackets(time.Unix(1700000000, 5)) {
		_ = w.WriteUDP(&p)
	}
	_ = w.Close()
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:100])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rd, err := NewReader(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("NewReader: %v is not ErrMalformed", err)
			}
			return
		}
		for range 10000 {
			rec, err := rd.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Next: %v is not ErrMalformed", err)
				}
				return
			}
			if len(rec.Data) > MaxBlock {
				t.Fatalf("a record of %d bytes", len(rec.Data))
			}
			_, _ = ParseUDP(rec.Data)
		}
	})
}

// FuzzParseUDP checks that ParseUDP never panics and that what it
// accepts, written again by AppendUDP, parses to the same datagram.
func FuzzParseUDP(f *testing.F) {
	for _, p := range smallPackets(time.Unix(0, 0)) {
		b, _ := AppendUDP(nil, p.Src, p.Dst, p.Payload, IPOptions{TTL: p.TTL})
		f.Add(b)
	}
	f.Add([]byte{0x45})
	f.Add([]byte{0x60, 0, 0, 0, 0, 8, 17, 64})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUDP(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseUDP: %v is not ErrMalformed", err)
			}
			return
		}
		ws, wd, err := Families(u.Src, u.Dst)
		if err != nil {
			return // an IPv6 packet with an IPv4-mapped address: AppendUDP writes IPv4
		}
		again, err := AppendUDP(nil, u.Src, u.Dst, u.Payload, IPOptions{TTL: u.TTL})
		if err != nil {
			t.Fatalf("AppendUDP of a parsed datagram %v -> %v: %v", u.Src, u.Dst, err)
		}
		v, err := ParseUDP(again)
		wantTTL := u.TTL
		if wantTTL == 0 {
			wantTTL = DefaultTTL // IPOptions' zero TTL means the default
		}
		if err != nil || v.Src != ws || v.Dst != wd || !bytes.Equal(v.Payload, u.Payload) || v.TTL != wantTTL || !v.ChecksumOK {
			t.Fatalf("round trip: %+v, %v; want %+v with a good checksum", v, err, u)
		}
	})
}

// FuzzRoundTrip builds datagrams from arbitrary addresses and payloads:
// whatever AppendUDP accepts, ParseUDP gives back with a good checksum,
// and a flipped bit is caught by a checksum.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1}, uint16(1), []byte{10, 0, 0, 2}, uint16(2), []byte("a"), uint8(64), uint16(0))
	f.Add(bytes.Repeat([]byte{0x20}, 16), uint16(9000), bytes.Repeat([]byte{1}, 16), uint16(0), []byte{}, uint8(0), uint16(3))
	f.Fuzz(func(t *testing.T, s []byte, sp uint16, d []byte, dp uint16, payload []byte, ttl uint8, flip uint16) {
		sa, ok1 := netip.AddrFromSlice(s)
		da, ok2 := netip.AddrFromSlice(d)
		if !ok1 || !ok2 {
			return
		}
		src, dst := netip.AddrPortFrom(sa, sp), netip.AddrPortFrom(da, dp)
		pkt, err := AppendUDP(nil, src, dst, payload, IPOptions{TTL: ttl})
		if err != nil {
			if !errors.Is(err, ErrFamily) && !errors.Is(err, ErrTooLong) {
				t.Fatal(err)
			}
			return
		}
		u, err := ParseUDP(pkt)
		ws, wd, _ := Families(src, dst)
		if err != nil || u.Src != ws || u.Dst != wd || !bytes.Equal(u.Payload, payload) || !u.ChecksumOK {
			t.Fatalf("ParseUDP(AppendUDP(%v, %v, %q)) = %+v, %v", src, dst, payload, u, err)
		}
		hdr := IPv4HeaderLen
		if ws.Addr().Is6() {
			hdr = IPv6HeaderLen
		}
		// Flip one bit of the UDP header or payload (not the length field,
		// which ParseUDP checks on its own): the checksum must catch it.
		udp := pkt[hdr:]
		bit := int(flip) % (len(udp) * 8)
		if bit/8 == 4 || bit/8 == 5 {
			return
		}
		udp[bit/8] ^= 1 << (bit % 8)
		if v, err := ParseUDP(pkt); err == nil && v.ChecksumOK {
			// A flip of the checksum field from 0xffff to 0x0000 or back
			// (both mean the same sum) is not an error; nor is "no checksum"
			// over IPv4.
			if bit/8 != 6 && bit/8 != 7 {
				t.Fatalf("bit %d flipped, checksum still good", bit)
			}
		}
	})
}
