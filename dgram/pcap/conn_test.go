package pcap

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

// TestConn records a batch written through a Conn (a GSO write of three
// segments, where the kernel has it, and one plain datagram) and read
// through another: every datagram is one packet, with its addresses.
func TestConn(t *testing.T) {
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var file bytes.Buffer
	w, err := NewWriter(&file, Options{Interfaces: []Interface{{Name: "a"}, {Name: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	ac, err := dgram.NewConn(a, dgram.ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	bc, err := dgram.NewConn(b, dgram.ConnConfig{TTL: true})
	if err != nil {
		t.Fatal(err)
	}
	ca, cb := NewConn(ac, w, 0), NewConn(bc, w, 1)
	aAddr, bAddr := dgram.LocalAddrPort(a), dgram.LocalAddrPort(b)
	msgs := []dgram.Message{
		{Buf: bytes.Repeat([]byte("x"), 250), Addr: bAddr, Segment: 100},
		{Buf: []byte("single"), Addr: bAddr},
	}
	if n, err := ca.WriteBatch(msgs); n != 2 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	in := make([]dgram.Message, 8)
	for i := range in {
		in[i].Buf = make([]byte, 2048)
	}
	got := 0
	_ = cb.SetReadDeadline(time.Now().Add(5 * time.Second))
	for got < 4 {
		n, err := cb.ReadBatch(in)
		if err != nil {
			t.Fatal(err)
		}
		for i := range in[:n] {
			got += in[i].Datagrams(in[i].N)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadAll(&file)
	if err != nil {
		t.Fatal(err)
	}
	var sizes [2][]int
	for _, r := range recs {
		u, err := ParseUDP(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		wantSrc, wantDst, wantDir := aAddr, bAddr, Out
		if r.Interface == 1 {
			wantDir = In
		}
		if u.Src != wantSrc || u.Dst != wantDst || r.Dir != wantDir || !u.ChecksumOK {
			t.Errorf("interface %d: %v -> %v %v, want %v -> %v %v", r.Interface, u.Src, u.Dst, r.Dir, wantSrc, wantDst, wantDir)
		}
		if r.Interface == 1 && u.TTL != 64 {
			t.Errorf("received with TTL %d, want 64 (loopback, asked with ConnConfig.TTL)", u.TTL)
		}
		sizes[r.Interface] = append(sizes[r.Interface], len(u.Payload))
	}
	want := []int{100, 100, 50, 6}
	for i := range sizes {
		if !equalInts(sizes[i], want) {
			t.Errorf("interface %d recorded payloads %v, want %v", i, sizes[i], want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
