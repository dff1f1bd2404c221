package netem

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
)

// The same seed decides the same datagrams the same way whether they are
// written one by one or in one coalesced batch: the link sees each
// datagram of a GSO buffer on its own, in order.
func TestWrapBatchSameDecisions(t *testing.T) {
	cfg := Config{Loss: 0.2, Dup: 0.1, Corrupt: 0.05}
	run := func(batch bool) []string {
		srv, raw := udpPair(t)
		c, err := Wrap(raw, Options{Write: cfg, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		to := dgram.LocalAddrPort(srv)
		const n = 60
		if batch {
			buf := make([]byte, 0, n*32)
			for i := range uint32(n) {
				buf = append(buf, numbered(i+1)...)
			}
			if k, err := c.WriteBatch([]dgram.Message{{Buf: buf[:32*30], Addr: to, Segment: 32}, {Buf: buf[32*30:], Addr: to, Segment: 32}}); k != 2 || err != nil {
				t.Fatalf("WriteBatch = %d, %v", k, err)
			}
		} else {
			for i := range uint32(n) {
				c.WriteTo(numbered(i+1), srv.LocalAddr())
			}
		}
		raw.WriteTo(numbered(999), srv.LocalAddr())
		var got []string
		buf := make([]byte, 100)
		srv.SetReadDeadline(time.Now().Add(testDeadline))
		for {
			k, _, err := srv.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			if binary.BigEndian.Uint32(buf[:k]) == 999 {
				break
			}
			got = append(got, fmt.Sprintf("%x", buf[:k]))
		}
		if s := c.WriteCounters(); s.In != n || s.Dropped == 0 || s.Duplicated == 0 {
			t.Errorf("counters %+v: want %d in, some dropped and duplicated", s, n)
		}
		return got
	}
	one, batch := run(false), run(true)
	if fmt.Sprint(one) != fmt.Sprint(batch) {
		t.Errorf("one by one and batched differ:\n%v\n%v", one, batch)
	}
}

// A message's source address travels with it through a held (delayed)
// datagram, so a wildcard server wrapped in netem still answers from the
// address its peer contacted.
func TestWrapBatchKeepsSource(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2 is a loopback address on Linux only")
	}
	su, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := dgram.NewConn(su, dgram.ConnConfig{Dst: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Wrap(dc, Options{Write: Config{Delay: time.Millisecond}, Read: &Config{Delay: time.Millisecond}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), dgram.LocalAddrPort(su).Port())
	cli, err := dgram.DialAddrPort(to, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	cli.Write([]byte("hi"))
	in := []dgram.Message{{Buf: make([]byte, 100)}}
	c.SetReadDeadline(time.Now().Add(testDeadline))
	if n, err := c.ReadBatch(in); n != 1 || err != nil || in[0].Local != to {
		t.Fatalf("ReadBatch = %d, %v, Local %v; want Local %v", n, err, in[0].Local, to)
	}
	var reply dgram.Message
	reply.ReplyTo(&in[0])
	reply.Buf = []byte("back")
	if n, err := c.WriteBatch([]dgram.Message{reply}); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	cli.SetReadDeadline(time.Now().Add(testDeadline))
	b := make([]byte, 10)
	if n, err := cli.Read(b); err != nil || string(b[:n]) != "back" {
		t.Fatalf("the connected client got %q, %v", b[:n], err)
	}
}
