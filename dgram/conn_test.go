package dgram

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

func newConnT(t testing.TB, c *net.UDPConn, cfg ConnConfig) *Conn {
	t.Helper()
	bc, err := NewConn(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return bc
}

// readN reads at least n datagrams from bc, splitting coalesced messages,
// and returns them with the message each came in.
func readN(t testing.TB, bc BatchConn, n int) (data [][]byte, msgs []Message) {
	t.Helper()
	in := make([]Message, 16)
	for i := range in {
		in[i].Buf = make([]byte, 65536)
	}
	if err := bc.SetReadDeadline(time.Now().Add(testDeadline)); err != nil {
		t.Fatal(err)
	}
	for len(data) < n {
		k, err := bc.ReadBatch(in)
		if err != nil {
			t.Fatalf("ReadBatch after %d of %d datagrams: %v", len(data), n, err)
		}
		for i := range in[:k] {
			m := in[i]
			for d := range m.All() {
				data = append(data, append([]byte(nil), d...))
				m.Buf = nil // the metadata only
				msgs = append(msgs, m)
			}
		}
	}
	return data, msgs
}

// Issue 11: with the drop counter, GRO and the destination address on one
// socket, a control message that did not fit used to be cut (MSG_CTRUNC,
// unchecked), the GRO segment size with it, and a coalesced buffer of 20
// datagrams read as one. Every boundary must survive.
func TestGRODropsDstKeepBoundaries(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("UDP GRO is Linux only")
	}
	srvU := listenT(t, "0.0.0.0:0")
	srv := newConnT(t, srvU, ConnConfig{Dst: true, TTL: true, Drops: true, GRO: true})
	if !srv.GRO() {
		t.Skip("no UDP GRO on this kernel")
	}
	// a drop counter above zero, so that the kernel attaches it: fill a
	// tiny receive buffer first
	if _, _, err := SetBuffers(srvU, 1, 0); err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), LocalAddrPort(srvU).Port())
	cliU, err := DialAddrPort(dst, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	cli := newConnT(t, cliU, ConnConfig{})
	defer cli.Close()
	if !cli.GSO() {
		t.Skip("no UDP GSO on this kernel")
	}
	flood := make([]byte, 1000)
	for range 100 {
		cliU.Write(flood)
	}
	for { // drain what fitted
		n, err := srv.TryReadBatch(make([]Message, 1))
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if d, _ := srv.Drops(); d == 0 {
		t.Fatal("a one-byte receive buffer dropped nothing")
	}
	if _, _, err := SetBuffers(srvU, 4<<20, 0); err != nil {
		t.Fatal(err)
	}

	// 20 datagrams of 64 bytes in one GSO send
	buf := gsoBuffer(20, 64)
	if n, err := cli.WriteBatch([]Message{{Buf: buf, Segment: 64}}); n != 1 || err != nil {
		t.Fatalf("GSO WriteBatch = %d, %v", n, err)
	}
	data, msgs := readN(t, srv, 20)
	if len(data) != 20 {
		t.Fatalf("read %d datagrams, want 20", len(data))
	}
	coalesced := false
	for i, d := range data {
		if len(d) != 64 || d[0] != byte(i) || d[63] != byte(i) {
			t.Errorf("datagram %d = %d bytes starting %d, want 64 bytes of %d", i, len(d), d[0], i)
		}
		m := msgs[i]
		if m.CtrlTruncated {
			t.Errorf("datagram %d: control messages truncated (MSG_CTRUNC)", i)
		}
		if m.Local.Addr() != dst.Addr() || m.Local.Port() != dst.Port() {
			t.Errorf("datagram %d: Local = %v, want %v", i, m.Local, dst)
		}
		if m.Drops == 0 {
			t.Errorf("datagram %d: no drop counter attached", i)
		}
		if m.TTL != 64 {
			t.Errorf("datagram %d: TTL = %d, want 64 (loopback, Linux's default)", i, m.TTL)
		}
		coalesced = coalesced || m.Segment == 64
	}
	if !coalesced {
		t.Error("no message came coalesced: the test did not exercise GRO")
	}
	if srv.CtrlTruncated() != 0 {
		t.Errorf("CtrlTruncated() = %d, want 0", srv.CtrlTruncated())
	}
}

// A wildcard socket learns which of its addresses each datagram was sent
// to, and a reply with Local set leaves from that address: a connected
// client, which accepts only its peer's address, receives it.
func TestWildcardRepliesFromContactedAddress(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2 is a loopback address on Linux only")
	}
	for _, tc := range []struct{ bind, to string }{
		{"0.0.0.0:0", "127.0.0.2"},
		{"[::]:0", "127.0.0.2"}, // dual-stack: an IPv4 peer
		{"[::]:0", "::1"},
	} {
		t.Run(tc.bind+"-"+tc.to, func(t *testing.T) {
			if strings.Contains(tc.bind+tc.to, "::") {
				hasIPv6(t)
			}
			srvU := listenT(t, tc.bind)
			srv := newConnT(t, srvU, ConnConfig{Dst: true})
			dst := netip.AddrPortFrom(netip.MustParseAddr(tc.to), LocalAddrPort(srvU).Port())
			cli, err := DialAddrPort(dst, netip.AddrPort{})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			cli.Write([]byte("ping"))
			_, msgs := readN(t, srv, 1)
			m := msgs[0]
			if m.Local != dst {
				t.Fatalf("Local = %v, want %v (the address the client wrote to)", m.Local, dst)
			}
			if m.IfIndex == 0 {
				t.Errorf("IfIndex = 0, want loopback's index")
			}
			var reply Message
			reply.ReplyTo(&m)
			reply.Buf = []byte("pong")
			if n, err := srv.WriteBatch([]Message{reply}); n != 1 || err != nil {
				t.Fatalf("WriteBatch(reply from %v) = %d, %v", reply.Local, n, err)
			}
			cli.SetReadDeadline(time.Now().Add(testDeadline))
			b := make([]byte, 16)
			n, err := cli.Read(b)
			if err != nil || string(b[:n]) != "pong" {
				t.Fatalf("connected client got %q, %v; want the reply from %v", b[:n], err, dst)
			}
		})
	}
}

// The same through a Reader: Datagram.To.
func TestReaderTo(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2 is a loopback address on Linux only")
	}
	srv := listenT(t, "0.0.0.0:0")
	r := NewReader(srv, 0)
	dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), LocalAddrPort(srv).Port())
	cli, err := DialAddrPort(dst, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	srv.SetReadDeadline(time.Now().Add(testDeadline))
	cli.Write([]byte("a"))
	if d, err := r.Read(); err != nil || d.To.IsValid() {
		t.Fatalf("Read without EnableDst = To %v, %v; want To unknown", d.To, err)
	}
	if err := EnableDst(srv); err != nil {
		t.Fatal(err)
	}
	if err := EnableTTL(srv); err != nil {
		t.Fatal(err)
	}
	cli.Write([]byte("b"))
	d, err := r.Read()
	if err != nil || d.To != dst || d.TTL != 64 {
		t.Fatalf("Read = To %v TTL %d, %v; want To %v TTL 64", d.To, d.TTL, err, dst)
	}
	// bound to one address, To is that address at no cost
	one := listenT(t, "127.0.0.1:0")
	c2, err := DialAddrPort(LocalAddrPort(one), netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("c"))
	one.SetReadDeadline(time.Now().Add(testDeadline))
	if d, err := NewReader(one, 0).Read(); err != nil || d.To != LocalAddrPort(one) {
		t.Fatalf("Read on %v = To %v, %v", LocalAddrPort(one), d.To, err)
	}
}

// An IPv6 destination (or source) on an IPv4 socket is an error of kind
// ErrBadAddress, as net.UDPConn returns, not a panic; the messages before
// it are sent.
func TestFamilyMismatchIsAnError(t *testing.T) {
	srv, cli := pairT(t, "udp4")
	_ = cli
	bc := newConnT(t, srv, ConnConfig{})
	to := LocalAddrPort(cli)
	for _, bad := range []Message{
		{Buf: []byte("x"), Addr: netip.MustParseAddrPort("[2001:db8::1]:9")},
		{Buf: []byte("x"), Addr: to, Local: netip.MustParseAddrPort("[::1]:0")},
	} {
		ms := []Message{{Buf: []byte("first"), Addr: to}, bad, {Buf: []byte("never"), Addr: to}}
		n, err := bc.WriteBatch(ms)
		if n != 1 || !errors.Is(err, ErrBadAddress) {
			t.Errorf("WriteBatch with %v -> %v from %v = %d, %v; want 1, ErrBadAddress", bad.Addr, bad.Addr, bad.Local, n, err)
		}
		if err != nil && !strings.Contains(err.Error(), "IPv6") {
			t.Errorf("error %q does not say what is wrong", err)
		}
		b, err := NewBatch(srv, 4)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := b.Write(ms[1:2]); n != 0 || !errors.Is(err, ErrBadAddress) {
			t.Errorf("Batch.Write = %d, %v; want 0, ErrBadAddress", n, err)
		}
	}
	// the first of each was sent
	data, _ := readN(t, newConnT(t, cli, ConnConfig{}), 2)
	for _, d := range data {
		if string(d) != "first" {
			t.Errorf("received %q, want only \"first\"", d)
		}
	}
}

// A coalesced write on a socket without GSO (or after GSO failed) goes out
// one datagram at a time, each whole.
func TestSegmentWithoutGSO(t *testing.T) {
	srv, cli := pairT(t, "udp4")
	bc := newConnT(t, cli, ConnConfig{Batch: 4})
	bc.wb.gso.Store(false) // as after EIO
	buf := append(gsoBuffer(10, 30), 0xEE)
	ms := []Message{{Buf: buf, Segment: 30}, {Buf: []byte("tail")}}
	if n, err := bc.WriteBatch(ms); n != 2 || err != nil {
		t.Fatalf("WriteBatch = %d, %v; want 2, nil", n, err)
	}
	data, _ := readN(t, newConnT(t, srv, ConnConfig{}), 12)
	var sizes []int
	for _, d := range data {
		sizes = append(sizes, len(d))
	}
	if fmt.Sprint(sizes) != "[30 30 30 30 30 30 30 30 30 30 1 4]" {
		t.Errorf("sizes %v, want ten of 30, 1, 4", sizes)
	}
}

// Batch reads and writes allocate nothing per datagram, with every kind of
// metadata on, and replies that carry a source address.
func TestConnAllocs(t *testing.T) {
	srvU, _ := net.ListenUDP("udp4", &net.UDPAddr{})
	defer srvU.Close()
	srv := newConnT(t, srvU, ConnConfig{Batch: 32, Dst: true, TTL: true, Drops: true, GRO: true})
	dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), LocalAddrPort(srvU).Port())
	cliU, err := DialAddrPort(dst, netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	cli := newConnT(t, cliU, ConnConfig{Batch: 32})
	defer cli.Close()
	out := make([]Message, 32)
	in := make([]Message, 32)
	for i := range out {
		out[i].Buf = make([]byte, 64)
		in[i].Buf = make([]byte, 2048)
	}
	srv.SetReadDeadline(time.Now().Add(testDeadline))
	cliU.SetReadDeadline(time.Now().Add(testDeadline))
	back := make([]Message, 32)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := cli.WriteBatch(out); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(out); {
			n, err := srv.ReadBatch(in)
			if err != nil {
				t.Fatal(err)
			}
			for i := range in[:n] {
				back[got+i].ReplyTo(&in[i])
				back[got+i].Buf = in[i].Buf[:in[i].N]
			}
			got += n
		}
		if _, err := srv.WriteBatch(back); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(out); {
			n, err := cli.ReadBatch(in)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("32 datagrams there and back allocate %v times, want 0", allocs)
	}
}

// AsBatchConn picks the fast path by an interface check: a *net.UDPConn
// becomes a *Conn, a BatchConn stays itself, anything else is adapted one
// datagram per call.
func TestAsBatchConn(t *testing.T) {
	srv := listenT(t, "127.0.0.1:0")
	cli := listenT(t, "127.0.0.1:0")
	bc, err := AsBatchConn(srv, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := bc.(*Conn); !ok {
		t.Fatalf("AsBatchConn(*net.UDPConn) = %T, want *Conn", bc)
	}
	if again, _ := AsBatchConn(bc, ConnConfig{}); again != bc {
		t.Errorf("AsBatchConn(BatchConn) = %v, want itself", again)
	}
	plain, _ := AsBatchConn(onlyPacketConn{cli}, ConnConfig{})
	if _, ok := plain.(*packetConn); !ok {
		t.Fatalf("AsBatchConn(plain PacketConn) = %T", plain)
	}
	ms := []Message{{Buf: []byte("abcdef"), Addr: LocalAddrPort(srv), Segment: 4}}
	if n, err := plain.WriteBatch(ms); n != 1 || err != nil {
		t.Fatalf("adapter WriteBatch = %d, %v", n, err)
	}
	data, msgs := readN(t, bc, 2)
	if string(data[0]) != "abcd" || string(data[1]) != "ef" || msgs[0].Addr != LocalAddrPort(cli) {
		t.Errorf("got %q %q from %v", data[0], data[1], msgs[0].Addr)
	}
	cliBC, _ := AsBatchConn(onlyPacketConn{cli}, ConnConfig{})
	bc.WriteBatch([]Message{{Buf: []byte("back"), Addr: LocalAddrPort(cli)}})
	data, msgs = readN(t, cliBC, 1)
	if string(data[0]) != "back" || msgs[0].Addr != LocalAddrPort(srv) {
		t.Errorf("adapter read %q from %v", data[0], msgs[0].Addr)
	}
}

// onlyPacketConn hides everything but net.PacketConn.
type onlyPacketConn struct{ net.PacketConn }

// The race detector sees what the kernel writes into a batch buffer: a
// goroutine reading a buffer while ReadBatch fills it is reported. The
// racy part runs in a child process, whose failure is the expected result.
func TestRaceSeesBatchBuffers(t *testing.T) {
	if !raceEnabled {
		t.Skip("needs -race")
	}
	if os.Getenv("DGRAM_RACE_CHILD") == "1" {
		raceChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRaceSeesBatchBuffers$", "-test.count=1")
	cmd.Env = append(os.Environ(), "DGRAM_RACE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("DATA RACE")) {
		t.Fatalf("the child's racy use of a batch buffer went unreported (err %v):\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("raceWrite")) && !bytes.Contains(out, []byte("batchSys")) {
		t.Errorf("the race report does not point at the batch read:\n%s", out)
	}
}

// raceChild reads a buffer in one goroutine while a batch read fills it.
func raceChild() {
	srv, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	cli, _ := net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
	bc, _ := NewConn(srv, ConnConfig{})
	buf := make([]byte, 64)
	started := make(chan struct{})
	done := make(chan byte)
	go func() {
		close(started)
		var x byte
		for range 1000 {
			x ^= buf[0] // unsynchronised with the read below
		}
		done <- x
	}()
	<-started
	cli.Write([]byte("hello"))
	srv.SetReadDeadline(time.Now().Add(testDeadline))
	bc.ReadBatch([]Message{{Buf: buf}})
	<-done
}
