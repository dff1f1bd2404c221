package dgram

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

func pairT(t testing.TB, family string) (srv, cli *net.UDPConn) {
	t.Helper()
	var err error
	srv, err = net.ListenUDP(family, &net.UDPAddr{IP: loopbackFor(family)})
	if err != nil {
		t.Skip(err)
	}
	cli, err = net.DialUDP(family, nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(); cli.Close() })
	return srv, cli
}

func loopbackFor(family string) net.IP {
	if family == "udp6" {
		return net.IPv6loopback
	}
	return net.IPv4(127, 0, 0, 1)
}

func TestBatchRoundTrip(t *testing.T) {
	for _, family := range []string{"udp4", "udp6"} {
		t.Run(family, func(t *testing.T) {
			srv, cli := pairT(t, family)
			wb, err := NewBatch(cli, 8)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]Message, 20) // more than one call's worth
			for i := range out {
				out[i].Buf = []byte(fmt.Sprintf("datagram %02d", i))
			}
			if n, err := wb.Write(out); n != 20 || err != nil {
				t.Fatalf("Write = %d, %v; want 20, nil", n, err)
			}
			rb, err := NewBatch(srv, 16)
			if err != nil {
				t.Fatal(err)
			}
			in := make([]Message, 16)
			for i := range in {
				in[i].Buf = make([]byte, 100)
			}
			srv.SetReadDeadline(time.Now().Add(testDeadline))
			var got []string
			for len(got) < 20 {
				n, err := rb.Read(in)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range in[:n] {
					if m.Addr != LocalAddrPort(cli) || m.Truncated {
						t.Errorf("message from %v truncated=%v, want from %v", m.Addr, m.Truncated, LocalAddrPort(cli))
					}
					got = append(got, string(m.Buf[:m.N]))
				}
			}
			for i, g := range got {
				if want := fmt.Sprintf("datagram %02d", i); g != want {
					t.Errorf("datagram %d = %q, want %q", i, g, want)
				}
			}
			// reply to each sender address, unconnected
			back := []Message{{Buf: []byte("one"), Addr: LocalAddrPort(cli)}, {Buf: []byte("two"), Addr: LocalAddrPort(cli)}}
			sb, _ := NewBatch(srv, 4)
			if n, err := sb.Write(back); n != 2 || err != nil {
				t.Fatalf("unconnected Write = %d, %v", n, err)
			}
			cb, _ := NewBatch(cli, 4)
			cli.SetReadDeadline(time.Now().Add(testDeadline))
			n, err := cb.Read(in[:4])
			for n < 2 && err == nil {
				var k int
				k, err = cb.Read(in[n:4])
				n += k
			}
			if err != nil || string(in[0].Buf[:in[0].N]) != "one" || string(in[1].Buf[:in[1].N]) != "two" {
				t.Errorf("replies = %d %v", n, err)
			}
		})
	}
}

func TestBatchDualStack(t *testing.T) {
	hasIPv6(t)
	srv, err := ListenAddrPort(netip.MustParseAddrPort("[::]:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	port := LocalAddrPort(srv).Port()
	c4, err := DialAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	c4.Write([]byte("v4"))
	rb, _ := NewBatch(srv, 4)
	ms := []Message{{Buf: make([]byte, 10)}}
	srv.SetReadDeadline(time.Now().Add(testDeadline))
	if n, err := rb.Read(ms); n != 1 || err != nil || ms[0].Addr != LocalAddrPort(c4) {
		t.Fatalf("Read = %d, %v, from %v; want 1 from %v (IPv4, not mapped)", n, err, ms[0].Addr, LocalAddrPort(c4))
	}
	// an IPv4 destination through an IPv6 socket is mapped for the kernel
	if n, err := rb.Write([]Message{{Buf: []byte("back"), Addr: ms[0].Addr}}); n != 1 || err != nil {
		t.Fatalf("Write to %v = %d, %v", ms[0].Addr, n, err)
	}
	c4.SetReadDeadline(time.Now().Add(testDeadline))
	buf := make([]byte, 10)
	if n, err := c4.Read(buf); err != nil || string(buf[:n]) != "back" {
		t.Errorf("reply = %q, %v", buf[:n], err)
	}
}

func TestBatchTruncation(t *testing.T) {
	srv, cli := pairT(t, "udp4")
	cli.Write(bytes.Repeat([]byte("x"), 100))
	rb, _ := NewBatch(srv, 2)
	ms := []Message{{Buf: make([]byte, 10)}}
	srv.SetReadDeadline(time.Now().Add(testDeadline))
	if n, err := rb.Read(ms); n != 1 || err != nil || !ms[0].Truncated || ms[0].N != 10 {
		t.Fatalf("Read of 100 bytes into 10 = %d, %v, N=%d truncated=%v", n, err, ms[0].N, ms[0].Truncated)
	}
}

func TestBatchDeadlineAndClose(t *testing.T) {
	srv, _ := pairT(t, "udp4")
	rb, _ := NewBatch(srv, 2)
	ms := []Message{{Buf: make([]byte, 10)}}
	srv.SetReadDeadline(time.Now().Add(time.Millisecond))
	if _, err := rb.Read(ms); !isTimeout(err) {
		t.Fatalf("Read past deadline = %v, want a timeout", err)
	}
	srv.SetReadDeadline(time.Time{})
	done := make(chan error)
	go func() { _, err := rb.Read(ms); done <- err }()
	srv.Close()
	select {
	case err := <-done:
		if !isClosed(err) {
			t.Errorf("Read after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(testDeadline):
		t.Fatal("Close did not wake a blocked batch Read")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

func TestBatchRefused(t *testing.T) {
	dst := closedPort(t, "127.0.0.1")
	c, err := DialAddrPort(dst, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wb, _ := NewBatch(c, 4)
	wb.Write([]Message{{Buf: []byte("a")}})
	// the ICMP error is reported on the next call
	_, err = wb.Write([]Message{{Buf: []byte("b")}, {Buf: []byte("c")}})
	if !isRefused(err) {
		t.Fatalf("Write after a refused datagram = %v, want ErrRefused", err)
	}
}

func isRefused(err error) bool { return errors.Is(err, ErrRefused) }

func TestBatchAllocs(t *testing.T) {
	srv, cli := pairT(t, "udp4")
	wb, _ := NewBatch(cli, 32)
	rb, _ := NewBatch(srv, 32)
	out := make([]Message, 32)
	in := make([]Message, 32)
	for i := range out {
		out[i].Buf = make([]byte, 64)
		in[i].Buf = make([]byte, 2048)
	}
	srv.SetReadDeadline(time.Now().Add(testDeadline))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := wb.Write(out); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(out); {
			n, err := rb.Read(in)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("batch write+read of 32 datagrams allocates %v times, want 0", allocs)
	}
}

// BenchmarkLoopback moves 64-byte datagrams through loopback one syscall
// per datagram and in batches, sender and receiver in one goroutine (so
// it measures the per-datagram cost, not parallelism).
func BenchmarkLoopback(b *testing.B) {
	for _, size := range []int{1, 8, 32, 64} {
		b.Run(fmt.Sprintf("batch-%d", size), func(b *testing.B) {
			srv, cli := pairT(b, "udp4")
			SetBuffers(srv, 4<<20, 0)
			wb, _ := NewBatch(cli, size)
			rb, _ := NewBatch(srv, size)
			out := make([]Message, size)
			in := make([]Message, size)
			for i := range out {
				out[i].Buf = make([]byte, 64)
				in[i].Buf = make([]byte, 2048)
			}
			b.ReportAllocs()
			b.SetBytes(64)
			srv.SetReadDeadline(time.Now().Add(time.Minute))
			for i := 0; i < b.N; i += size {
				if _, err := wb.Write(out); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < size; {
					n, err := rb.Read(in)
					if err != nil {
						b.Fatal(err)
					}
					got += n
				}
			}
		})
	}
	// a Conn with every piece of metadata on, answering from the address
	// each datagram was sent to (a wildcard server's path)
	b.Run("conn-meta-32", func(b *testing.B) {
		su, err := net.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			b.Fatal(err)
		}
		srv, err := NewConn(su, ConnConfig{Batch: 32, Dst: true, TTL: true, Drops: true})
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		SetBuffers(su, 4<<20, 0)
		cu, err := DialAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), LocalAddrPort(su).Port()), netip.AddrPort{})
		if err != nil {
			b.Fatal(err)
		}
		cli, _ := NewConn(cu, ConnConfig{Batch: 32})
		defer cli.Close()
		out, in, back := make([]Message, 32), make([]Message, 32), make([]Message, 32)
		for i := range out {
			out[i].Buf, in[i].Buf = make([]byte, 64), make([]byte, 2048)
		}
		b.ReportAllocs()
		b.SetBytes(64)
		srv.SetReadDeadline(time.Now().Add(time.Minute))
		cu.SetReadDeadline(time.Now().Add(time.Minute))
		for i := 0; i < b.N; i += 32 {
			if _, err := cli.WriteBatch(out); err != nil {
				b.Fatal(err)
			}
			for got := 0; got < 32; {
				n, err := srv.ReadBatch(in)
				if err != nil {
					b.Fatal(err)
				}
				for k := range in[:n] {
					back[got+k].ReplyTo(&in[k])
					back[got+k].Buf = in[k].Buf[:in[k].N]
				}
				got += n
			}
			if _, err := srv.WriteBatch(back); err != nil {
				b.Fatal(err)
			}
			for got := 0; got < 32; {
				n, err := cli.ReadBatch(in)
				if err != nil {
					b.Fatal(err)
				}
				got += n
			}
		}
	})
	b.Run("ReadFrom-WriteTo", func(b *testing.B) {
		srv, cli := pairT(b, "udp4")
		out := make([]byte, 64)
		in := make([]byte, 2048)
		dst := LocalAddrPort(srv)
		c2, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		defer c2.Close()
		_ = cli
		b.ReportAllocs()
		b.SetBytes(64)
		for b.Loop() {
			c2.WriteToUDPAddrPort(out, dst)
			srv.ReadFromUDPAddrPort(in)
		}
	})
}
