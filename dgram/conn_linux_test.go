package dgram

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Control messages beyond the room a read leaves are reported and counted
// (MSG_CTRUNC), not silently dropped.
func TestCtrlTruncatedIsReported(t *testing.T) {
	hasIPv6(t)
	srvU := listenT(t, "[::]:0")
	srv := newConnT(t, srvU, ConnConfig{Dst: true, TTL: true, Drops: true, GRO: true})
	// options this package never asks for, to overflow its room
	for _, o := range []struct{ level, opt, v int }{
		{unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1},
		{unix.SOL_SOCKET, unix.SO_TIMESTAMPING, unix.SOF_TIMESTAMPING_RX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE},
		{unix.IPPROTO_IP, unix.IP_RECVTOS, 1},
		{unix.IPPROTO_IP, unix.IP_RECVORIGDSTADDR, 1},
		{unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS, 1},
		{unix.IPPROTO_IPV6, unix.IPV6_RECVORIGDSTADDR, 1},
	} {
		if err := setsockoptInt(srvU, o.level, o.opt, o.v); err != nil {
			t.Logf("setsockopt(%d, %d): %v", o.level, o.opt, err)
		}
	}
	// a drop first, so that SO_RXQ_OVFL rides along too
	SetBuffers(srvU, 1, 0)
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), LocalAddrPort(srvU).Port())
	cli, err := DialAddrPort(to, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for range 50 {
		cli.Write(make([]byte, 1000))
	}
	for {
		n, err := srv.TryReadBatch(make([]Message, 1))
		if err != nil || n == 0 {
			break
		}
	}
	SetBuffers(srvU, 1<<20, 0)
	cli.Write([]byte("x"))
	_, msgs := readN(t, srv, 1)
	if !msgs[0].CtrlTruncated {
		t.Fatalf("control messages of %d kinds fitted in %d bytes: the test must overflow them", 8, oobRead)
	}
	if srv.CtrlTruncated() != 1 {
		t.Errorf("CtrlTruncated() = %d, want 1", srv.CtrlTruncated())
	}
}

// After the kernel refuses a GSO send with EIO (a device that cannot
// offload checksums, on kernels that do not segment in software), the Conn
// sends the same datagrams one by one, keeps GSO off from then on, and
// says so once at debug level.
func TestGSOFallbackAfterEIO(t *testing.T) {
	srv, cli := pairT(t, "udp4")
	var log bytes.Buffer
	c := newConnT(t, cli, ConnConfig{Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if !c.GSO() {
		t.Skip("no UDP GSO on this kernel")
	}
	faults := 0
	c.wb.sys.fault = func() unix.Errno { faults++; return unix.EIO } // as the kernel answers
	buf := gsoBuffer(10, 100)
	for round := range 2 {
		if n, err := c.WriteBatch([]Message{{Buf: buf, Segment: 100}, {Buf: []byte("after")}}); n != 2 || err != nil {
			t.Fatalf("round %d: WriteBatch = %d, %v; want 2, nil", round, n, err)
		}
	}
	if c.GSO() || faults != 1 {
		t.Errorf("GSO %v after %d EIO; want off after one", c.GSO(), faults)
	}
	if got := strings.Count(log.String(), "GSO send failed"); got != 1 {
		t.Errorf("debug log says it %d times, want once:\n%s", got, log.String())
	}
	data, _ := readN(t, newConnT(t, srv, ConnConfig{}), 22)
	for i, d := range data {
		want := 100
		if i%11 == 10 {
			want = 5
		}
		if len(d) != want {
			t.Fatalf("datagram %d: %d bytes, want %d", i, len(d), want)
		}
	}
}

// A GSO send the kernel refuses as invalid (here: more bytes in all than
// one send may carry; TestGSOSegmentOverPathMTU has segments larger than
// the path's MTU) goes out datagram by datagram instead, as the kernel
// would send them without GSO; GSO stays on for the next call.
func TestGSOTooLongInAll(t *testing.T) {
	srv, cli := pairT(t, "udp4")
	c := newConnT(t, cli, ConnConfig{})
	if !c.GSO() {
		t.Skip("no UDP GSO on this kernel")
	}
	// two datagrams of 40,000 bytes: more than one GSO send may carry
	buf := gsoBuffer(2, 40000)
	if n, err := c.WriteBatch([]Message{{Buf: buf, Segment: 40000}}); n != 1 || err != nil {
		t.Fatalf("WriteBatch = %d, %v; want it sent one datagram at a time", n, err)
	}
	if !c.GSO() {
		t.Error("GSO turned off for good after EINVAL")
	}
	data, _ := readN(t, newConnT(t, srv, ConnConfig{}), 2)
	if len(data[0]) != 40000 || len(data[1]) != 40000 || data[1][0] != 1 {
		t.Errorf("received %d and %d bytes", len(data[0]), len(data[1]))
	}
}
