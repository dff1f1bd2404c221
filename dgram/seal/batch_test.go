package seal

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

// sealedPair returns two sealed Conns on loopback; the receiver asks for
// GRO and the destination address.
func sealedPair(t testing.TB) (tx, rx *Conn, rxAddr netip.AddrPort) {
	t.Helper()
	k := mustKey(t, secret)
	ru, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tu, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	dr, err := dgram.NewConn(ru, dgram.ConnConfig{GRO: true, Dst: true})
	if err != nil {
		t.Fatal(err)
	}
	if rx, err = NewConn(dr, k, Config{}); err != nil {
		t.Fatal(err)
	}
	if tx, err = NewConn(tu, k, Config{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close(); tx.Close() })
	return tx, rx, dgram.LocalAddrPort(ru)
}

// A coalesced write of 40 datagrams goes through sealing as coalesced
// buffers (GSO kept), and comes out opened, each datagram whole and in
// order, with the receiver's metadata.
func TestBatchKeepsCoalescing(t *testing.T) {
	tx, rx, to := sealedPair(t)
	const n, size = 40, 100
	payload := make([]byte, 0, n*size+7)
	for i := range n {
		payload = append(payload, bytes.Repeat([]byte{byte(i)}, size)...)
	}
	payload = append(payload, "the end"...)
	if k, err := tx.WriteBatch([]dgram.Message{{Buf: payload, Addr: to, Segment: size}, {Buf: []byte("after"), Addr: to}}); k != 2 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", k, err)
	}
	in := make([]dgram.Message, 8)
	for i := range in {
		in[i].Buf = make([]byte, 65536)
	}
	rx.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got [][]byte
	coalesced := false
	for len(got) < n+2 {
		k, err := rx.ReadBatch(in)
		if err != nil {
			t.Fatalf("ReadBatch after %d: %v", len(got), err)
		}
		for i := range in[:k] {
			m := &in[i]
			if m.Local != to {
				t.Errorf("Local = %v, want %v", m.Local, to)
			}
			coalesced = coalesced || m.Segment == size
			for d := range m.All() {
				got = append(got, append([]byte(nil), d...))
			}
		}
	}
	for i := range n {
		if !bytes.Equal(got[i], bytes.Repeat([]byte{byte(i)}, size)) {
			t.Fatalf("datagram %d = %d bytes of %v", i, len(got[i]), got[i][:1])
		}
	}
	if string(got[n]) != "the end" || string(got[n+1]) != "after" {
		t.Errorf("last two = %q %q", got[n], got[n+1])
	}
	if tx.GSO() && rx.inner.(*dgram.Conn).GRO() && !coalesced {
		t.Error("GSO and GRO on, yet nothing came coalesced")
	}
	if rx.Accepted() != n+2 {
		t.Errorf("Accepted = %d, want %d", rx.Accepted(), n+2)
	}
}

// A plaintext longer than the buffer is cut and flagged, never silently.
func TestBatchTruncation(t *testing.T) {
	tx, rx, to := sealedPair(t)
	tx.WriteBatch([]dgram.Message{{Buf: []byte("0123456789"), Addr: to}})
	in := []dgram.Message{{Buf: make([]byte, 4)}}
	rx.SetReadDeadline(time.Now().Add(10 * time.Second))
	if k, err := rx.ReadBatch(in); k != 1 || err != nil || !in[0].Truncated || string(in[0].Buf[:in[0].N]) != "0123" {
		t.Fatalf("ReadBatch = %d, %v, %q truncated=%v; want \"0123\" truncated", k, err, in[0].Buf[:in[0].N], in[0].Truncated)
	}
}

// Sealing a big coalesced buffer cuts it where the sealed form would pass
// the GSO limits, and every datagram still arrives.
func TestBatchSplitsAtGSOLimit(t *testing.T) {
	tx, rx, to := sealedPair(t)
	const n, size = 64, 1000 // 64,000 bytes: over MaxGSOBytes once sealed
	payload := make([]byte, n*size)
	for i := range n {
		payload[i*size] = byte(i)
	}
	if k, err := tx.WriteBatch([]dgram.Message{{Buf: payload, Addr: to, Segment: size}}); k != 1 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", k, err)
	}
	in := make([]dgram.Message, 8)
	for i := range in {
		in[i].Buf = make([]byte, 65536)
	}
	rx.SetReadDeadline(time.Now().Add(10 * time.Second))
	var firsts []byte
	for len(firsts) < n {
		k, err := rx.ReadBatch(in)
		if err != nil {
			t.Fatalf("after %d: %v", len(firsts), err)
		}
		for i := range in[:k] {
			for d := range in[i].All() {
				if len(d) != size {
					t.Fatalf("datagram of %d bytes", len(d))
				}
				firsts = append(firsts, d[0])
			}
		}
	}
	for i, b := range firsts {
		if b != byte(i) {
			t.Fatalf("datagram %d carries %d", i, b)
		}
	}
}

// Sealing and opening in batches allocates nothing per datagram.
func TestBatchAllocs(t *testing.T) {
	tx, rx, to := sealedPair(t)
	out := make([]dgram.Message, 16)
	for i := range out {
		out[i] = dgram.Message{Buf: fmt.Appendf(nil, "datagram %02d", i), Addr: to}
	}
	in := make([]dgram.Message, 16)
	for i := range in {
		in[i].Buf = make([]byte, 2048)
	}
	rx.SetReadDeadline(time.Now().Add(10 * time.Second))
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := tx.WriteBatch(out); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(out); {
			k, err := rx.ReadBatch(in)
			if err != nil {
				t.Fatal(err)
			}
			for i := range in[:k] {
				got += in[i].Datagrams(in[i].N)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("16 sealed datagrams there and opened allocate %v times, want 0", allocs)
	}
}

// BenchmarkBatch moves 32 datagrams of 1,200 bytes per round through a
// pair of sealed Conns and, for comparison, the same sockets unsealed:
// sealing keeps batching, so the difference is the AES-GCM work.
func BenchmarkBatch(b *testing.B) {
	for _, sealed := range []bool{false, true} {
		name := "plain"
		if sealed {
			name = "sealed"
		}
		b.Run(name, func(b *testing.B) {
			tx, rx, to := sealedPair(b)
			var w, r dgram.BatchConn = tx, rx
			if !sealed {
				w, r = tx.inner, rx.inner
			}
			out, in := make([]dgram.Message, 32), make([]dgram.Message, 32)
			for i := range out {
				out[i] = dgram.Message{Buf: make([]byte, 1200), Addr: to}
				in[i].Buf = make([]byte, 2048)
			}
			r.SetReadDeadline(time.Now().Add(time.Minute))
			b.SetBytes(1200)
			b.ReportAllocs()
			for i := 0; i < b.N; i += 32 {
				if _, err := w.WriteBatch(out); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < 32; {
					k, err := r.ReadBatch(in)
					if err != nil {
						b.Fatal(err)
					}
					for j := range in[:k] {
						got += in[j].Datagrams(in[j].N)
					}
				}
			}
		})
	}
}
