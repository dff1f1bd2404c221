package dgram_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/nstest"
)

// Where the device cannot offload checksums (a veth with checksum offload
// turned off), older kernels refuse a UDP GSO send with EIO, and the Conn
// falls back to single datagrams (TestGSOFallbackAfterEIO forces that
// case); newer kernels segment in software. Either way every datagram
// arrives, whole and in order, and a fallback is logged once.
func TestGSOWithoutChecksumOffload(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	aDev, _ := nstest.Link(t, a, b, nstest.LinkOptions{
		A: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
		B: []netip.Prefix{netip.MustParsePrefix("198.18.0.2/24")},
	})
	a.Run(nstest.NeedTool(t, "ethtool"), "-K", aDev, "tx", "off")
	var srv, cli *net.UDPConn
	b.MustDo(func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(198, 18, 0, 2)})
		return err
	})
	a.MustDo(func() (err error) {
		cli, err = net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
		return err
	})
	defer srv.Close()
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := dgram.NewConn(cli, dgram.ConnConfig{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.GSO() {
		t.Skip("no UDP GSO on this kernel")
	}
	buf := make([]byte, 0, 10*100)
	for i := range 10 {
		buf = append(buf, bytes.Repeat([]byte{byte(i)}, 100)...)
	}
	for round := range 2 {
		if n, err := c.WriteBatch([]dgram.Message{{Buf: buf, Segment: 100}}); n != 1 || err != nil {
			t.Fatalf("round %d: WriteBatch = %d, %v; want the fallback to send it", round, n, err)
		}
	}
	want := 0 // the kernel segmented in software
	if !c.GSO() {
		want = 1 // EIO: the Conn fell back
	}
	t.Logf("GSO after two sends: %v", c.GSO())
	if got := strings.Count(log.String(), "GSO send failed"); got != want {
		t.Errorf("debug log says it %d times, want %d:\n%s", got, want, log.String())
	}
	r := dgram.NewReader(srv, 0)
	srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range 20 {
		d, err := r.Read()
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if len(d.Data) != 100 || d.Data[0] != byte(i%10) {
			t.Fatalf("datagram %d: %d bytes of %d", i, len(d.Data), d.Data[0])
		}
	}
}

// A coalesced write whose segments are larger than the path's MTU (a
// wrapper that adds bytes to full-sized datagrams makes them so) is
// refused by the kernel (EINVAL); the Conn sends the datagrams one by one
// instead, which the kernel fragments, and every one arrives.
func TestGSOSegmentOverPathMTU(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	nstest.Link(t, a, b, nstest.LinkOptions{
		A: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
		B: []netip.Prefix{netip.MustParsePrefix("198.18.0.2/24")},
	})
	var srv, cli *net.UDPConn
	b.MustDo(func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(198, 18, 0, 2)})
		return err
	})
	defer srv.Close()
	a.MustDo(func() (err error) {
		cli, err = net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
		return err
	})
	c, err := dgram.NewConn(cli, dgram.ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const seg = 1600 // over the veth's 1500
	buf := make([]byte, 0, 5*seg)
	for i := range 5 {
		buf = append(buf, bytes.Repeat([]byte{byte(i)}, seg)...)
	}
	if n, err := c.WriteBatch([]dgram.Message{{Buf: buf, Segment: seg}}); n != 1 || err != nil {
		t.Fatalf("WriteBatch of 1600-byte segments over a 1500-byte MTU = %d, %v", n, err)
	}
	r := dgram.NewReader(srv, 0)
	srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range 5 {
		d, err := r.Read()
		if err != nil || len(d.Data) != seg || d.Data[0] != byte(i) {
			t.Fatalf("datagram %d: %d bytes, %v", i, len(d.Data), err)
		}
	}
}
