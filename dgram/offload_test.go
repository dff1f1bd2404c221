package dgram

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// gsoBuffer builds n datagrams of size bytes, datagram i filled with byte i.
func gsoBuffer(n, size int) []byte {
	b := make([]byte, 0, n*size)
	for i := range n {
		for range size {
			b = append(b, byte(i))
		}
	}
	return b
}

func TestGSOSendsSeparateDatagrams(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("UDP GSO is Linux only")
	}
	srv, cli := pairT(t, "udp4")
	if !GSOSupported(cli) {
		t.Skip("no UDP GSO on this kernel")
	}
	wb, _ := NewBatch(cli, 4)
	// 10 datagrams of 100 bytes and a short last one, in one buffer
	buf := append(gsoBuffer(10, 100), 0xEE, 0xEE)
	if n, err := wb.Write([]Message{{Buf: buf, Segment: 100}}); n != 1 || err != nil {
		t.Fatalf("GSO write = %d, %v", n, err)
	}
	rb, _ := NewBatch(srv, 16)
	in := make([]Message, 16)
	for i := range in {
		in[i].Buf = make([]byte, 2048)
	}
	srv.SetReadDeadline(time.Now().Add(testDeadline))
	var sizes []int
	for len(sizes) < 11 {
		n, err := rb.Read(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range in[:n] {
			if m.Segment != 0 {
				t.Errorf("Segment %d on a socket without GRO", m.Segment)
			}
			if m.N == 100 && m.Buf[0] != byte(len(sizes)) {
				t.Errorf("datagram %d starts with %d", len(sizes), m.Buf[0])
			}
			sizes = append(sizes, m.N)
		}
	}
	if fmt.Sprint(sizes) != "[100 100 100 100 100 100 100 100 100 100 2]" {
		t.Errorf("received sizes %v, want ten of 100 and one of 2", sizes)
	}
}

func TestGROKeepsBoundaries(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("UDP GRO is Linux only")
	}
	srv, cli := pairT(t, "udp4")
	if !GSOSupported(cli) || EnableGRO(srv) != nil {
		t.Skip("no UDP GSO/GRO on this kernel")
	}
	wb, _ := NewBatch(cli, 4)
	buf := gsoBuffer(20, 64)
	if _, err := wb.Write([]Message{{Buf: buf, Segment: 64}}); err != nil {
		t.Fatal(err)
	}
	rb, _ := NewBatch(srv, 4)
	in := make([]Message, 4)
	for i := range in {
		in[i].Buf = make([]byte, 65536)
	}
	srv.SetReadDeadline(time.Now().Add(testDeadline))
	got := 0
	for got < 20 {
		n, err := rb.Read(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range in[:n] {
			k := m.Datagrams(m.N)
			seg := m.N
			if m.Segment > 0 {
				seg = m.Segment
			}
			for j := range k {
				d := m.Buf[j*seg : min((j+1)*seg, m.N)]
				if len(d) != 64 || d[0] != byte(got) || d[63] != byte(got) {
					t.Fatalf("datagram %d: %d bytes starting %d", got, len(d), d[0])
				}
				got++
			}
		}
	}
	if got != 20 {
		t.Errorf("got %d datagrams, want 20", got)
	}
}

func TestMessageAll(t *testing.T) {
	buf := gsoBuffer(3, 4)
	buf = append(buf, 9, 9)
	m := Message{Buf: buf, N: len(buf), Segment: 4}
	var got []int
	for d := range m.All() {
		got = append(got, len(d))
	}
	if fmt.Sprint(got) != "[4 4 4 2]" {
		t.Errorf("segments %v", got)
	}
	one := Message{Buf: make([]byte, 10), N: 0}
	n := 0
	for range one.All() {
		n++
	}
	if n != 1 {
		t.Errorf("an empty datagram was yielded %d times", n)
	}
}

// BenchmarkGROSplit walks a coalesced buffer of 1000 64-byte datagrams.
func BenchmarkGROSplit(b *testing.B) {
	buf := gsoBuffer(1000, 64)
	m := Message{Buf: buf, N: len(buf), Segment: 64}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	var sum int
	for b.Loop() {
		for d := range m.All() {
			sum += int(d[0])
		}
	}
	_ = sum
}
