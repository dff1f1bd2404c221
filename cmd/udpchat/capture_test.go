package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/udpchat/udpchat/dgram/nstest"
	"github.com/udpchat/udpchat/dgram/pcap"
)

// capRow is one packet of a capture, as the tests compare them.
type capRow struct {
	iface    int
	dir      pcap.Direction
	src, dst netip.AddrPort
	udpLen   int
	good     bool // checksums verified
	comment  string
}

func (r capRow) String() string {
	return fmt.Sprintf("if%d %s %v -> %v udp %d good %v %q", r.iface, r.dir, r.src, r.dst, r.udpLen, r.good, r.comment)
}

// readCapture reads a capture with our own reader.
func readCapture(t *testing.T, path string) []capRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := pcap.ReadAll(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var rows []capRow
	for _, r := range recs {
		u, err := pcap.ParseUDP(r.Data)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rows = append(rows, capRow{iface: r.Interface, dir: r.Dir, src: u.Src, dst: u.Dst, udpLen: len(u.Payload) + pcap.UDPHeaderLen, good: u.ChecksumOK, comment: r.Comment})
	}
	return rows
}

// tsharkCapture reads the same capture with tshark, checksums verified.
func tsharkCapture(t *testing.T, path string) []capRow {
	t.Helper()
	tshark := nstest.NeedTool(t, "tshark")
	cmd := exec.Command(tshark, "-r", path, "-n", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "separator=/t",
		"-e", "frame.interface_id", "-e", "frame.packet_flags_direction", "-e", "ip.src", "-e", "ipv6.src", "-e", "udp.srcport",
		"-e", "ip.dst", "-e", "ipv6.dst", "-e", "udp.dstport", "-e", "udp.length", "-e", "udp.checksum.status", "-e", "frame.comment")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v: %s", path, err, stderr.String())
	}
	var rows []capRow
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		for len(f) < 11 {
			f = append(f, "")
		}
		iface, _ := strconv.Atoi(f[0])
		dir := pcap.DirUnknown
		switch f[1] {
		case "0x00000001":
			dir = pcap.In
		case "0x00000002":
			dir = pcap.Out
		}
		addr := func(v4, v6, port string) netip.AddrPort {
			a := v4
			if a == "" {
				a = v6
			}
			p, _ := strconv.Atoi(port)
			ip, err := netip.ParseAddr(a)
			if err != nil {
				t.Fatalf("tshark: bad address %q in %q", a, line)
			}
			return netip.AddrPortFrom(ip, uint16(p))
		}
		n, _ := strconv.Atoi(f[8])
		rows = append(rows, capRow{iface: iface, dir: dir, src: addr(f[2], f[3], f[4]), dst: addr(f[5], f[6], f[7]), udpLen: n, good: f[9] == "1", comment: f[10]})
	}
	return rows
}

// checkCapture reads a capture both ways, checks that tshark agrees with
// our reader packet for packet, and returns the packets.
func checkCapture(t *testing.T, path string) []capRow {
	t.Helper()
	ours := readCapture(t, path)
	theirs := tsharkCapture(t, path)
	if len(ours) != len(theirs) {
		t.Fatalf("%s: we read %d packets, tshark %d", path, len(ours), len(theirs))
	}
	for i := range ours {
		if ours[i] != theirs[i] {
			t.Errorf("%s, packet %d: we read %v, tshark %v", path, i+1, ours[i], theirs[i])
		}
		if !ours[i].good {
			t.Errorf("%s, packet %d: bad checksum: %v", path, i+1, ours[i])
		}
	}
	return ours
}

// count counts the packets on iface in direction dir from src to dst
// with a UDP length of n (a zero address or length matches any).
func count(rows []capRow, iface int, dir pcap.Direction, src, dst netip.AddrPort, n int) int {
	c := 0
	for _, r := range rows {
		if r.iface == iface && r.dir == dir && (!src.IsValid() || r.src == src) && (!dst.IsValid() || r.dst == dst) && (n == 0 || r.udpLen == n) {
			c++
		}
	}
	return c
}

// TestPcap captures listen, send, ping and both sides of proxy, and reads
// each capture back with tshark: counts, directions, ports, lengths and
// checksums.
func TestPcap(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name+".pcapng") }
	l := startChild(t, "listen", "127.0.0.1:0", "--echo", "--count", "5", "--pcap", path("listen"))
	srv := netip.MustParseAddrPort(l.expectErr(`listening on (\S+)`)[1])

	if code, out, errs := runCLI(t, "", "send", srv.String(), "hello", "world!", "--wait", "--pcap", path("send")); code != 0 {
		t.Fatalf("send: exit %d: %s%s", code, out, errs)
	} else if !strings.Contains(errs, "capture: 4 packets written to "+path("send")) {
		t.Errorf("send's stderr does not say what the capture holds: %q", errs)
	}
	if code, out, errs := runCLI(t, "", "ping", srv.String(), "--count", "2", "--interval", "10ms", "--size", "100", "--timeout", "5s", "--pcap", path("ping")); code != 0 {
		t.Fatalf("ping: exit %d: %s%s", code, out, errs)
	}
	p := startChild(t, "proxy", "--listen", "127.0.0.1:0", "--to", srv.String(), "--pcap", path("proxy"))
	prox := netip.MustParseAddrPort(p.expectErr(`proxying on (\S+)`)[1])
	if code, out, errs := runCLI(t, "", "send", prox.String(), "via the proxy", "--wait", "--timeout", "10s"); code != 0 {
		t.Fatalf("send through the proxy: exit %d: %s%s", code, out, errs)
	}
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(); code != 0 && code != 130 {
		t.Errorf("proxy exited %d", code)
	}
	if code := l.wait(); code != 0 {
		t.Errorf("listen exited %d", code)
	}

	// send: 2 out (13 and 14 bytes of UDP), 2 echoes in.
	rows := checkCapture(t, path("send"))
	if len(rows) != 4 || count(rows, 0, pcap.Out, netip.AddrPort{}, srv, 13) != 1 || count(rows, 0, pcap.Out, netip.AddrPort{}, srv, 14) != 1 ||
		count(rows, 0, pcap.In, srv, netip.AddrPort{}, 0) != 2 {
		t.Errorf("send's capture: %v", rows)
	}
	client := rows[0].src
	if rows[1].dst != client || rows[1].src != srv {
		t.Errorf("send's capture: the echo goes %v -> %v, want %v -> %v", rows[1].src, rows[1].dst, srv, client)
	}
	// ping: 2 probes of 100 bytes out, 2 in.
	rows = checkCapture(t, path("ping"))
	if len(rows) != 4 || count(rows, 0, pcap.Out, netip.AddrPort{}, srv, 108) != 2 || count(rows, 0, pcap.In, srv, netip.AddrPort{}, 108) != 2 {
		t.Errorf("ping's capture: %v", rows)
	}
	// listen: 5 in, 5 echoed out, each to the port it came from.
	rows = checkCapture(t, path("listen"))
	if len(rows) != 10 || count(rows, 0, pcap.In, netip.AddrPort{}, srv, 0) != 5 || count(rows, 0, pcap.Out, srv, netip.AddrPort{}, 0) != 5 ||
		count(rows, 0, pcap.In, client, srv, 13) != 1 || count(rows, 0, pcap.Out, srv, client, 13) != 1 {
		t.Errorf("listen's capture: %v", rows)
	}
	// proxy: the client side (interface 0) and the server side (1).
	rows = checkCapture(t, path("proxy"))
	n := 8 + len("via the proxy")
	if len(rows) != 4 || count(rows, 0, pcap.In, netip.AddrPort{}, prox, n) != 1 || count(rows, 1, pcap.Out, netip.AddrPort{}, srv, n) != 1 ||
		count(rows, 1, pcap.In, srv, netip.AddrPort{}, n) != 1 || count(rows, 0, pcap.Out, prox, netip.AddrPort{}, n) != 1 {
		t.Errorf("proxy's capture: %v", rows)
	}
}

// TestPcapChat: chat records the line it sent and the one it received.
func TestPcapChat(t *testing.T) {
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	path := filepath.Join(t.TempDir(), "chat.pcapng")
	c := startChild(t, "chat", peer.LocalAddr().String(), "--pcap", path)
	c.expectErr(`chatting with`)
	c.say("hi there")
	buf := make([]byte, 100)
	n, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.WriteToUDPAddrPort([]byte("hello back"), from); err != nil {
		t.Fatal(err)
	}
	c.expectOut(`hello back`)
	c.say("exit")
	if code := c.wait(); code != 0 {
		t.Fatalf("chat exited %d", code)
	}
	rows := checkCapture(t, path)
	me := netip.MustParseAddrPort(peer.LocalAddr().String())
	if len(rows) != 2 || count(rows, 0, pcap.Out, from, me, 8+n) != 1 || count(rows, 0, pcap.In, me, from, 8+len("hello back")) != 1 {
		t.Errorf("chat's capture: %v", rows)
	}
}

// TestPcapDemo: the demo's capture marks every decision of the link; the
// fragments demo's capture holds the fragments tshark reassembles.
func TestPcapDemo(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "demo.pcapng")
	code, out, errs := runCLI(t, "", "demo", "--json", "--pcap", d)
	if code != 0 {
		t.Fatalf("demo --pcap: exit %d: %s", code, errs)
	}
	link := byType(jsonLines(t, out), "link")[0]
	rows := checkCapture(t, d)
	dropped, sent, got := 0, 0, 0
	for _, r := range rows {
		switch {
		case r.iface == 0 && r.dir == pcap.Out:
			sent++
			if strings.HasPrefix(r.comment, "dropped by the link") {
				dropped++
			}
			if r.comment == "" {
				t.Errorf("a sent datagram without the link's decision: %v", r)
			}
		case r.iface == 1 && r.dir == pcap.In:
			got++
		default:
			t.Errorf("unexpected packet %v", r)
		}
	}
	if float64(sent) != link["in"] || float64(dropped) != link["dropped"] || float64(got) != link["out"] {
		t.Errorf("capture: %d sent, %d dropped, %d received; the link says %v", sent, dropped, got, link)
	}

	f := filepath.Join(dir, "fragments.pcapng")
	code, out, errs = runCLI(t, "", "demo", "fragments", "--json", "--count", "50", "--pcap", f)
	if code != 0 {
		t.Fatalf("demo fragments --pcap: exit %d: %s", code, errs)
	}
	objs := jsonLines(t, out)
	large, small := byType(objs, "fragmented")[0], byType(objs, "small")[0]
	tshark := nstest.NeedTool(t, "tshark")
	res, err := exec.Command(tshark, "-r", f, "-n", "-o", "ip.defragment:TRUE", "-T", "fields", "-e", "frame.interface_id", "-e", "udp.length").Output()
	if err != nil {
		t.Fatal(err)
	}
	whole, pieces := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(res)), "\n") {
		switch {
		case line == "0\t9008":
			whole++ // a datagram tshark rebuilt from its 7 fragments
		case strings.HasPrefix(line, "1\t"):
			pieces++
		}
	}
	if float64(whole) != large["delivered"] || float64(pieces) != small["delivered"] {
		t.Errorf("tshark rebuilt %d datagrams and saw %d small ones; the demo says %v and %v delivered", whole, pieces, large["delivered"], small["delivered"])
	}
	for _, args := range [][]string{{"demo", "boundaries", "--pcap", f}, {"demo", "all", "--pcap", f}, {"demo", "--pcap", filepath.Join(dir, "no", "such.pcapng")}} {
		if code, _, _ := runCLI(t, "", args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

// TestPcapReliableAndRoom: the reliable transfer and the room capture the
// datagrams as they cross the socket (GSO batches split into datagrams),
// on both ends.
func TestPcapReliableAndRoom(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name+".pcapng") }
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	if err := os.WriteFile(filepath.Join(dir, "in.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	l := startChild(t, "listen", "127.0.0.1:0", "--reliable", "--output", filepath.Join(dir, "out.bin"), "--pcap", path("rl"))
	srv := netip.MustParseAddrPort(l.expectErr(`listening on (\S+)`)[1])
	if code, out, errs := runCLI(t, "", "send", srv.String(), "--file", filepath.Join(dir, "in.bin"), "--pcap", path("rs")); code != 0 {
		t.Fatalf("send --file: exit %d: %s%s", code, out, errs)
	}
	if code := l.wait(); code != 0 {
		t.Fatalf("listen --reliable exited %d", code)
	}
	rl, rs := checkCapture(t, path("rl")), checkCapture(t, path("rs"))
	sentOut, sentIn := count(rs, 0, pcap.Out, netip.AddrPort{}, srv, 0), count(rs, 0, pcap.In, srv, netip.AddrPort{}, 0)
	gotIn, gotOut := count(rl, 0, pcap.In, netip.AddrPort{}, srv, 0), count(rl, 0, pcap.Out, srv, netip.AddrPort{}, 0)
	if sentOut < len(data)/1500 || sentOut != gotIn || sentIn < 1 || gotOut < sentIn || sentOut+sentIn != len(rs) || gotIn+gotOut != len(rl) {
		t.Errorf("reliable: the sender captured %d out and %d in, the listener %d in and %d out", sentOut, sentIn, gotIn, gotOut)
	}

	s := startChild(t, "room", "serve", "127.0.0.1:0", "--pcap", path("room"))
	room := netip.MustParseAddrPort(s.expectErr(`listening on (\S+)`)[1])
	if code, out, errs := runCLI(t, "hello room\n", "room", "join", room.String(), "--nick", "al", "--pcap", path("member")); code != 0 {
		t.Fatalf("room join: exit %d: %s%s", code, out, errs)
	}
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	s.wait()
	rm, mm := checkCapture(t, path("room")), checkCapture(t, path("member"))
	if count(rm, 0, pcap.In, netip.AddrPort{}, room, 0) < 2 || count(rm, 0, pcap.Out, room, netip.AddrPort{}, 0) < 1 ||
		count(mm, 0, pcap.Out, netip.AddrPort{}, room, 0) < 2 || count(mm, 0, pcap.In, room, netip.AddrPort{}, 0) < 1 {
		t.Errorf("room: the server captured %v; the member %v", rm, mm)
	}
}

// tsharkTTLs reads the TTL of each packet of a capture from src (a port
// of 127.0.0.1), with tshark.
func tsharkTTLs(t *testing.T, path string, src *net.UDPAddr) []string {
	t.Helper()
	out, err := exec.Command(nstest.NeedTool(t, "tshark"), "-r", path, "-n", "-Y", fmt.Sprintf("udp.srcport == %d", src.Port), "-T", "fields", "-e", "ip.ttl").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", path, err)
	}
	return strings.Fields(string(out))
}

// TestPcapRoomTTL: room serve --pcap and room join --pcap record each
// datagram they read with the TTL it arrived with (a peer of the test's
// sends with TTL 7), not a made-up 64.
func TestPcapRoomTTL(t *testing.T) {
	dir := t.TempDir()
	peer := udpSocket(t, "127.0.0.1:0")
	if err := ipv4.NewConn(peer).SetTTL(7); err != nil {
		t.Fatal(err)
	}
	me := peer.LocalAddr().(*net.UDPAddr)

	// a stranger writes to the server: what it sent is in the capture
	s := startChild(t, "room", "serve", "127.0.0.1:0", "--pcap", filepath.Join(dir, "serve.pcapng"))
	srv, err := net.ResolveUDPAddr("udp", s.expectErr(`listening on (\S+)`)[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.WriteTo([]byte("not a room packet"), srv); err != nil {
		t.Fatal(err)
	}
	// the server has read it once it answers a member that joins after
	if code, out, errs := runCLI(t, "", "room", "join", srv.String(), "--nick", "al"); code != 0 {
		t.Fatalf("room join: exit %d: %s%s", code, out, errs)
	}
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	s.wait()
	if ttls := tsharkTTLs(t, filepath.Join(dir, "serve.pcapng"), me); len(ttls) != 1 || ttls[0] != "7" {
		t.Errorf("room serve's capture has TTLs %v for the datagram from %v, want [7]", ttls, me)
	}

	// the test plays the server: it refuses the member's HELLO
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		_ = peer.SetReadDeadline(time.Now().Add(exitTimeout))
		n, from, err := peer.ReadFrom(buf)
		if err != nil || n < 28 {
			done <- fmt.Errorf("no HELLO: %d bytes, %v", n, err)
			return
		}
		refuse := append([]byte{'d', 'g', 1, 36}, make([]byte, 16)...) // REFUSE, seq 0, sent 0
		refuse = append(refuse, buf[20:28]...)                         // the member's session
		refuse = append(refuse, 1)                                     // nick taken
		refuse = append(refuse, "the nick \"al\" is taken"...)
		_, err = peer.WriteTo(refuse, from)
		done <- err
	}()
	path := filepath.Join(dir, "join.pcapng")
	if code, out, errs := runCLI(t, "", "room", "join", me.String(), "--nick", "al", "--pcap", path); code != 1 || !strings.Contains(errs, "is taken") {
		t.Fatalf("room join, refused: exit %d, want 1: %s%s", code, out, errs)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ttls := tsharkTTLs(t, path, me); len(ttls) != 1 || ttls[0] != "7" {
		t.Errorf("room join's capture has TTLs %v for the REFUSE from %v, want [7]", ttls, me)
	}
}

// TestPcapPingTTL: ping --pcap records each reply with the TTL it
// arrived with (an echo server of the test's answers with TTL 7).
func TestPcapPingTTL(t *testing.T) {
	echo := udpSocket(t, "127.0.0.1:0")
	if err := ipv4.NewConn(echo).SetTTL(7); err != nil {
		t.Fatal(err)
	}
	go func() { // echoes until the test closes it
		buf := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = echo.WriteTo(buf[:n], from)
		}
	}()
	path := filepath.Join(t.TempDir(), "ping.pcapng")
	if code, out, errs := runCLI(t, "", "ping", echo.LocalAddr().String(), "--count", "2", "--interval", "10ms", "--timeout", "10s", "--pcap", path); code != 0 {
		t.Fatalf("ping: exit %d: %s%s", code, out, errs)
	}
	if ttls := tsharkTTLs(t, path, echo.LocalAddr().(*net.UDPAddr)); len(ttls) != 2 || ttls[0] != "7" || ttls[1] != "7" {
		t.Errorf("ping's capture has TTLs %v for the replies, want [7 7]", ttls)
	}
}
