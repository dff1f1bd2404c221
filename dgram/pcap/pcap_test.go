package pcap

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	v4a = netip.MustParseAddrPort("127.0.0.1:40000")
	v4b = netip.MustParseAddrPort("198.18.2.2:9000")
	v6a = netip.MustParseAddrPort("[::1]:40001")
	v6b = netip.MustParseAddrPort("[2001:db8:2::2]:9000")
)

// samplePackets covers both families, both directions, two interfaces,
// an empty payload, an odd length, a comment and a big datagram.
func samplePackets(t0 time.Time) []Packet {
	big := bytes.Repeat([]byte("0123456789"), 6500) // 65000 bytes
	return []Packet{
		{Time: t0, Src: v4a, Dst: v4b, Payload: []byte("hello"), Dir: Out},
		{Time: t0.Add(1500 * time.Nanosecond), Src: v4b, Dst: v4a, Payload: []byte("hello"), Dir: In, TTL: 61, Comment: "echoed"},
		{Time: t0.Add(2 * time.Millisecond), Src: v6a, Dst: v6b, Payload: []byte{}, Dir: Out, Interface: 1},
		{Time: t0.Add(3 * time.Millisecond), Src: v6b, Dst: v6a, Payload: []byte("odd"), Dir: In, Interface: 1, TTL: 1},
		{Time: t0.Add(4 * time.Millisecond), Src: netip.MustParseAddrPort("[::ffff:127.0.0.1]:5"), Dst: netip.MustParseAddrPort("[::]:9000"), Payload: big, Dir: In, Comment: "dropped by the link: loss"},
		{Time: t0.Add(5 * time.Millisecond), Src: v4a, Dst: v4b, Payload: []byte("\xff\x00 binary"), DF: true},
	}
}

func writeSample(t *testing.T, pkts []Packet) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Options{Comment: "a test", Interfaces: []Interface{{Name: "one", Description: "first"}, {Name: "two"}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pkts {
		if err := w.WriteUDP(&pkts[i]); err != nil {
			t.Fatalf("WriteUDP(%d): %v", i, err)
		}
	}
	if got := w.Packets(); got != uint64(len(pkts)) {
		t.Errorf("Packets() = %d, want %d", got, len(pkts))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteUDP(&pkts[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteUDP after Close = %v, want ErrClosed", err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 123456789, time.UTC)
	pkts := samplePackets(t0)
	recs, err := ReadAll(bytes.NewReader(writeSample(t, pkts)))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(pkts) {
		t.Fatalf("read %d records, wrote %d", len(recs), len(pkts))
	}
	for i, r := range recs {
		p := pkts[i]
		if !r.Time.Equal(p.Time) {
			t.Errorf("record %d: time %v, want %v", i, r.Time, p.Time)
		}
		if r.Interface != p.Interface || r.Dir != p.Dir || r.Comment != p.Comment || r.LinkType != LinkTypeRaw {
			t.Errorf("record %d: interface %d dir %v comment %q link %d; want %d %v %q %d", i, r.Interface, r.Dir, r.Comment, r.LinkType,
				p.Interface, p.Dir, p.Comment, LinkTypeRaw)
		}
		if r.OrigLen != len(r.Data) {
			t.Errorf("record %d: original length %d, captured %d", i, r.OrigLen, len(r.Data))
		}
		u, err := ParseUDP(r.Data)
		if err != nil {
			t.Fatalf("record %d: ParseUDP: %v", i, err)
		}
		src, dst, _ := Families(p.Src, p.Dst)
		if u.Src != src || u.Dst != dst || !bytes.Equal(u.Payload, p.Payload) || !u.ChecksumOK {
			t.Errorf("record %d: %v -> %v %q checksum ok %v; want %v -> %v %q", i, u.Src, u.Dst, u.Payload, u.ChecksumOK, src, dst, p.Payload)
		}
		wantTTL := p.TTL
		if wantTTL == 0 {
			wantTTL = DefaultTTL
		}
		if u.TTL != wantTTL {
			t.Errorf("record %d: TTL %d, want %d", i, u.TTL, wantTTL)
		}
		hdr := IPv4HeaderLen
		if src.Addr().Is6() {
			hdr = IPv6HeaderLen
		}
		if len(r.Data) != hdr+UDPHeaderLen+len(p.Payload) {
			t.Errorf("record %d: %d bytes, want %d", i, len(r.Data), hdr+UDPHeaderLen+len(p.Payload))
		}
	}
}

func TestFamilies(t *testing.T) {
	for _, tc := range []struct {
		src, dst, wantSrc, wantDst string
		err                        bool
	}{
		{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1", "127.0.0.1:2", false},
		{"[::ffff:10.0.0.1]:1", "[::]:2", "10.0.0.1:1", "0.0.0.0:2", false},
		{"[::1]:1", "0.0.0.0:2", "[::1]:1", "[::]:2", false},
		{"0.0.0.0:1", "[::1]:2", "[::]:1", "[::1]:2", false},
		{"[fe80::1%eth0]:1", "[fe80::2]:2", "[fe80::1]:1", "[fe80::2]:2", false},
		{"127.0.0.1:1", "[::1]:2", "", "", true},
	} {
		s, d, err := Families(netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst))
		if tc.err {
			if !errors.Is(err, ErrFamily) {
				t.Errorf("Families(%s, %s) = %v, want ErrFamily", tc.src, tc.dst, err)
			}
			continue
		}
		if err != nil || s.String() != tc.wantSrc || d.String() != tc.wantDst {
			t.Errorf("Families(%s, %s) = %v, %v, %v; want %s, %s", tc.src, tc.dst, s, d, err, tc.wantSrc, tc.wantDst)
		}
	}
}

func TestTooLong(t *testing.T) {
	if _, err := AppendUDP(nil, v4a, v4b, make([]byte, 65508), IPOptions{}); !errors.Is(err, ErrTooLong) {
		t.Errorf("65508 bytes over IPv4: %v, want ErrTooLong", err)
	}
	if _, err := AppendUDP(nil, v4a, v4b, make([]byte, 65507), IPOptions{}); err != nil {
		t.Errorf("65507 bytes over IPv4: %v", err)
	}
	if _, err := AppendUDP(nil, v6a, v6b, make([]byte, 65528), IPOptions{}); !errors.Is(err, ErrTooLong) {
		t.Errorf("65528 bytes over IPv6: %v, want ErrTooLong", err)
	}
	if _, err := AppendUDP(nil, v6a, v6b, make([]byte, 65527), IPOptions{}); err != nil {
		t.Errorf("65527 bytes over IPv6: %v", err)
	}
}

// TestChecksumVector checks the UDP checksum against one computed by hand
// (the same sum Wireshark verifies in TestTshark).
func TestChecksumVector(t *testing.T) {
	// 10.0.0.1:1 -> 10.0.0.2:2, payload "a": pseudo-header 0a00 0001
	// 0a00 0002 0011 0009, header 0001 0002 0009 0000, payload 6100.
	// Sum: 0a00+0001+0a00+0002+0011+0009+0001+0002+0009+6100 = 0x7529;
	// complement 0x8ad6.
	b, err := AppendUDP(nil, netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"), []byte("a"), IPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := uint16(b[26])<<8 | uint16(b[27]); got != 0x8ad6 {
		t.Errorf("checksum %#04x, want 0x8ad6", got)
	}
	// a flipped payload bit is caught
	b[len(b)-1] ^= 1
	if u, err := ParseUDP(b); err != nil || u.ChecksumOK {
		t.Errorf("ParseUDP of a corrupted datagram: ok %v, err %v; want a bad checksum", u.ChecksumOK, err)
	}
}

func TestFragmentIPv4(t *testing.T) {
	for _, tc := range []struct{ payload, mtu, want int }{
		{9000, 1500, 7}, {1472, 1500, 1}, {1473, 1500, 2}, {1252, 1280, 1}, {65507, 1500, 45}, {100, 28, 14},
	} {
		pkt, err := AppendUDP(nil, v4a, v4b, bytes.Repeat([]byte{'x'}, tc.payload), IPOptions{ID: 7})
		if err != nil {
			t.Fatal(err)
		}
		frags, err := FragmentIPv4(nil, pkt, tc.mtu)
		if err != nil {
			t.Fatal(err)
		}
		if len(frags) != tc.want || FragmentCount(tc.payload, tc.mtu) != tc.want {
			t.Errorf("%d bytes over MTU %d: %d fragments (FragmentCount %d), want %d", tc.payload, tc.mtu, len(frags), FragmentCount(tc.payload, tc.mtu), tc.want)
		}
		// reassemble by offset and compare with the original payload
		var data []byte
		for i, f := range frags {
			if len(f) > tc.mtu {
				t.Errorf("fragment %d is %d bytes, over MTU %d", i, len(f), tc.mtu)
			}
			off := int(uint16(f[6])<<8|uint16(f[7])) & 0x1fff * 8
			more := f[6]&0x20 != 0
			if off != len(data) || more != (i < len(frags)-1) && len(frags) > 1 {
				t.Errorf("fragment %d: offset %d (want %d), more %v", i, off, len(data), more)
			}
			if fold(sum16(0, f[:IPv4HeaderLen])) != 0xffff {
				t.Errorf("fragment %d: bad header checksum", i)
			}
			data = append(data, f[IPv4HeaderLen:]...)
		}
		if !bytes.Equal(data, pkt[IPv4HeaderLen:]) {
			t.Errorf("%d bytes over MTU %d: reassembled fragments differ from the packet", tc.payload, tc.mtu)
		}
	}
	df, _ := AppendUDP(nil, v4a, v4b, make([]byte, 2000), IPOptions{DF: true})
	if _, err := FragmentIPv4(nil, df, 1500); err == nil {
		t.Error("a DF packet over the MTU was fragmented")
	}
}

// TestWriterBounded checks that writing allocates nothing per packet once
// warm, whatever the payload sizes and comments: the writer's memory does
// not grow with the capture.
func TestWriterBounded(t *testing.T) {
	w, err := NewWriter(io.Discard, Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("é", 4000)
	big := make([]byte, 65507)
	pkts := []Packet{
		{Src: v4a, Dst: v4b, Payload: big, Comment: long},
		{Src: v6a, Dst: v6b, Payload: []byte("x"), Dir: In},
	}
	for i := range pkts {
		if err := w.WriteUDP(&pkts[i]); err != nil {
			t.Fatal(err)
		}
	}
	var i int
	allocs := testing.AllocsPerRun(1000, func() {
		p := &pkts[i%2]
		p.Time = p.Time.Add(time.Millisecond)
		i++
		if err := w.WriteUDP(p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 { // the clipped comment string
		t.Errorf("WriteUDP allocates %.1f times per packet, want at most 2", allocs)
	}
	if c := cap(w.buf); c > 2*(0xffff+MaxComment+64) { // append's growth over one block
		t.Errorf("the block buffer grew to %d bytes", c)
	}
	var buf bytes.Buffer
	w2, _ := NewWriter(&buf, Options{})
	_ = w2.WriteUDP(&Packet{Src: v4a, Dst: v4b, Comment: long})
	_ = w2.Close()
	recs, err := ReadAll(&buf)
	if err != nil || len(recs) != 1 {
		t.Fatal(err)
	}
	if len(recs[0].Comment) > MaxComment || !strings.HasSuffix(recs[0].Comment, "...") {
		t.Errorf("a %d-byte comment was kept as %d bytes, want at most %d ending in ...", len(long), len(recs[0].Comment), MaxComment)
	}
}

func TestWriterErrors(t *testing.T) {
	w, _ := NewWriter(io.Discard, Options{})
	if err := w.WriteUDP(&Packet{Src: v4a, Dst: v4b, Interface: 1}); err == nil {
		t.Error("a packet on interface 1 of 1 was written")
	}
	if err := w.WriteUDP(&Packet{Src: v4a, Dst: v6b}); !errors.Is(err, ErrFamily) {
		t.Errorf("IPv4 to IPv6: %v, want ErrFamily", err)
	}
	if err := w.WriteIP(time.Now(), []byte{0x10}, 0, Out, ""); err == nil {
		t.Error("WriteIP took a packet that is not IP")
	}
	fw := &failWriter{after: 1}
	w, err := NewWriter(fw, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The buffer hides the failure until a flush: Close reports it.
	_ = w.WriteUDP(&Packet{Src: v4a, Dst: v4b})
	if err := w.Close(); err == nil {
		t.Error("Close after a failed write returned nil")
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return 0, errors.New("disk full")
}

func TestReaderRejects(t *testing.T) {
	good := writeSample(t, samplePackets(time.Unix(1, 0)))
	for name, b := range map[string][]byte{
		"empty":      nil,
		"not pcapng": []byte("\xd4\xc3\xb2\xa1\x02\x00\x04\x00"),
		"truncated":  good[:len(good)-3],
		"huge block": func() []byte {
			b := append([]byte(nil), good...)
			b[4], b[5], b[6], b[7] = 0, 0, 0, 0x40 // SHB length 1 GiB
			return b
		}(),
	} {
		_, err := ReadAll(bytes.NewReader(b))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ReadAll = %v, want ErrMalformed", name, err)
		}
	}
}

// BenchmarkWriteUDP measures recording one 1400-byte datagram (headers,
// checksum, block) into a buffered writer: the cost --pcap adds per
// datagram.
func BenchmarkWriteUDP(b *testing.B) {
	w, err := NewWriter(io.Discard, Options{})
	if err != nil {
		b.Fatal(err)
	}
	p := Packet{Time: time.Unix(1, 0), Src: v4a, Dst: v4b, Payload: make([]byte, 1400), Dir: Out}
	b.SetBytes(int64(len(p.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteUDP(&p); err != nil {
			b.Fatal(err)
		}
	}
}
