package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/seal"
)

// newKeyFile writes a key file in a test directory and returns its path
// and key.
func newKeyFile(t *testing.T, name string) (string, *seal.Key) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := seal.WriteKeyFile(p); err != nil {
		t.Fatal(err)
	}
	k, warn, err := seal.LoadKeyFile(p)
	if err != nil || warn != "" {
		t.Fatal(err, warn)
	}
	return p, k
}

func udpSocket(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// jsonLine decodes one JSON line into a map.
func jsonLine(t *testing.T, line string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("not JSON: %q: %v", line, err)
	}
	return m
}

// TestSealedListen runs `listen --key-file --seq --json` behind a relay
// the test controls: it captures what two `send --key-file` processes put
// on the wire and, between the legitimate datagrams, forwards forgeries,
// tampered and truncated copies, replays and a datagram sealed before the
// listener started. Each bad datagram is rejected with its cause and
// counted; every legitimate one is delivered once.
func TestSealedListen(t *testing.T) {
	keyPath, key := newKeyFile(t, "k")
	_, otherKey := newKeyFile(t, "other")

	// Sealed before the listener starts: what a replay from before a
	// restart looks like.
	oldSealer, _ := key.NewSealer()
	fromBefore, _ := oldSealer.Seal(nil, []byte("dg\x01\x00before the restart"), time.Now().Add(-time.Second))

	l := startChild(t, "listen", "127.0.0.1:0", "--key-file", keyPath, "--seq", "--json")
	laddr := l.expectErr(`listening on (\S+) \(UDP\)`)[1]
	relay := udpSocket(t, "127.0.0.1:0")
	dst, _ := net.ResolveUDPAddr("udp", laddr)

	const n = 8
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("secret-%d", i)
	}
	args := append([]string{"send", relay.LocalAddr().String(), "--seq", "--key-file", keyPath, "--interval", "1ms"}, msgs...)
	s1 := startChild(t, args...)
	s1.expectErr(`^sent 8 datagrams .* \(sealed\)$`)
	// A second sender that shares the key.
	s2 := startChild(t, "send", relay.LocalAddr().String(), "--seq", "--key-file", keyPath, "other-0", "other-1", "other-2")
	s2.expectErr(`^sent 3 datagrams .* \(sealed\)$`)

	relay.SetReadDeadline(time.Now().Add(exitTimeout))
	// The relay forwards each sender's datagrams from a socket of its own,
	// so that the listener tells the two senders apart.
	var captured [][]byte
	var out []*net.UDPConn
	outFor := map[netip.AddrPort]*net.UDPConn{}
	buf := make([]byte, 65536)
	for len(captured) < n+3 {
		m, from, err := relay.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("relay captured %d of %d datagrams: %v", len(captured), n+3, err)
		}
		if outFor[from] == nil {
			outFor[from] = udpSocket(t, "127.0.0.1:0")
		}
		captured = append(captured, bytes.Clone(buf[:m]))
		out = append(out, outFor[from])
	}
	for _, c := range captured {
		for _, word := range []string{"secret", "other"} {
			if bytes.Contains(c, []byte(word)) {
				t.Fatalf("the bytes on the wire contain the plaintext %q: %q", word, c)
			}
		}
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	wrong, _ := otherKey.NewSealer()
	forged, _ := wrong.Seal(nil, []byte("dg\x01\x00forged"), time.Now())
	attacks := []struct {
		b     []byte
		cause string
	}{
		{forged, "bad tag"},
		{flip(captured[1], 9), "bad tag"},                   // header: seq
		{flip(captured[1], 22), "bad tag"},                  // header: session
		{flip(captured[1], len(captured[1])-20), "bad tag"}, // payload
		{captured[1][:len(captured[1])-5], "bad tag"},       // truncated
		{[]byte("dg\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00plain"), "unsealed"},
		{fromBefore, "unknown session"},
	}
	want := map[string]float64{}
	send := func(b []byte) {
		if _, err := relay.WriteTo(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range captured {
		if _, err := out[i].WriteTo(c, dst); err != nil {
			t.Fatal(err)
		}
		if i < len(attacks) {
			send(attacks[i].b)
			want[attacks[i].cause]++
		}
		if i == 3 || i == 9 {
			send(captured[0]) // a replay
			want["replay"]++
		}
	}
	send(captured[2]) // a replay after everything
	want["replay"]++

	got := map[string]bool{}
	rejected := map[string]float64{}
	wantRejected := 0.0
	for _, v := range want {
		wantRejected += v
	}
	for len(got) < n+3 || sum(rejected) < wantRejected {
		m := jsonLine(t, l.expectOut(`^.+$`)[0])
		switch m["type"] {
		case "datagram":
			data, _ := m["data"].(string)
			if m["event"] != "in-order" || got[data] {
				t.Errorf("datagram %v", m)
			}
			got[data] = true
		case "rejected":
			rejected[m["cause"].(string)]++
			if _, ok := m["data"]; ok {
				t.Errorf("a rejected datagram's content was shown: %v", m)
			}
		default:
			t.Fatalf("unexpected %v", m)
		}
	}
	for _, m := range append(msgs, "other-0", "other-1", "other-2") {
		if !got[m] {
			t.Errorf("%q was not delivered", m)
		}
	}
	if fmt.Sprint(rejected) != fmt.Sprint(want) {
		t.Errorf("rejected %v, want %v", rejected, want)
	}
	if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var summary map[string]any
	for summary == nil {
		m := jsonLine(t, l.expectOut(`^.*"type":"summary".*$`)[0])
		if _, ok := m["peer"]; !ok {
			summary = m
		}
	}
	if summary["authenticated"].(float64) != n+3 {
		t.Errorf("summary %v", summary)
	}
	r := summary["rejected"].(map[string]any)
	for cause, v := range want {
		if r[strings.ReplaceAll(cause, " ", "_")].(float64) != v {
			t.Errorf("summary rejected %v, want %v", r, want)
		}
	}
	if code := l.wait(); code != 143 {
		t.Errorf("listen exit status %d after SIGTERM, want 143 (128 + 15)", code)
	}
}

func sum(m map[string]float64) float64 {
	s := 0.0
	for _, v := range m {
		s += v
	}
	return s
}

// TestSealedEchoAndPing: ping through a keyed echo server works; a ping
// with another key gets no reply (its probes are rejected, never echoed),
// and an unkeyed echo server's reflection of a sealed probe is not taken
// for a reply.
func TestSealedEchoAndPing(t *testing.T) {
	keyPath, _ := newKeyFile(t, "k")
	otherPath, _ := newKeyFile(t, "other")
	l := startChild(t, "listen", "127.0.0.1:0", "--key-file", keyPath, "--echo")
	addr := l.expectErr(`listening on (\S+) \(UDP\)`)[1]

	code, out, _ := runCLI(t, "", "ping", addr, "--key-file", keyPath, "--count", "3", "--interval", "10ms", "--json")
	if code != 0 || !strings.Contains(out, `"received":3`) {
		t.Fatalf("keyed ping: %d %s", code, out)
	}
	code, out, _ = runCLI(t, "", "ping", addr, "--key-file", otherPath, "--count", "2", "--interval", "10ms", "--timeout", "200ms", "--json")
	if code != 1 || !strings.Contains(out, `"received":0`) {
		t.Fatalf("ping with another key: %d %s", code, out)
	}
	l.cmd.Process.Signal(os.Interrupt)
	l.expectOut(`^received 3 datagrams .* echoed 3$`)
	l.expectOut(`^sealed: 3 authenticated, 2 rejected \(2 bad tag\)$`)

	// An unkeyed echo server sends back the sealed probe itself: ping
	// rejects it as a replay of its own session.
	plain := startChild(t, "listen", "127.0.0.1:0", "--echo")
	paddr := plain.expectErr(`listening on (\S+) \(UDP\)`)[1]
	// (each echo must come back within the timeout to be counted: 1s, so
	// that a loaded machine does not lose the second one)
	code, out, _ = runCLI(t, "", "ping", paddr, "--key-file", keyPath, "--count", "2", "--interval", "10ms", "--timeout", "1s", "--json")
	if code != 1 || !strings.Contains(out, `"received":0`) || !strings.Contains(out, `"replay":2`) {
		t.Fatalf("keyed ping against an unkeyed echo server: %d %s", code, out)
	}
}

// TestSealedReliable sends a file through arq with a key, across an
// impaired proxy, and checks it arrives whole.
func TestSealedReliable(t *testing.T) {
	keyPath, _ := newKeyFile(t, "k")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	data := bytes.Repeat([]byte("sealed and reliable. "), 20000)
	os.WriteFile(src, data, 0o600)
	dst := filepath.Join(dir, "dst.bin")
	l := startChild(t, "listen", "127.0.0.1:0", "--reliable", "--key-file", keyPath, "--output", dst, "--timeout", "20s")
	addr := l.expectErr(`listening on (\S+) \(UDP\)`)[1]
	p := startChild(t, "proxy", "--listen", "127.0.0.1:0", "--to", addr, "--loss", "5%", "--seed", "3")
	paddr := p.expectErr(`proxying on (\S+)`)[1]
	code, _, errOut := runCLI(t, "", "send", paddr, "--key-file", keyPath, "--file", src)
	if code != 0 {
		t.Fatalf("send --file: %d %s", code, errOut)
	}
	if !strings.Contains(errOut, "sealed: ") {
		t.Errorf("no sealed report: %s", errOut)
	}
	if code := l.wait(); code != 0 {
		t.Fatalf("listen exit %d", code)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes, want %d", len(got), len(data))
	}
}

// TestKeyFromEnvironment: UDPCHAT_KEY may hold the key itself.
func TestKeyFromEnvironment(t *testing.T) {
	keyPath, _ := newKeyFile(t, "k")
	hexKey, _ := os.ReadFile(keyPath)
	l := startChild(t, "listen", "127.0.0.1:0", "--key-file", keyPath, "--count", "1")
	addr := l.expectErr(`listening on (\S+) \(UDP\)`)[1]
	t.Setenv("UDPCHAT_KEY", strings.TrimSpace(string(hexKey)))
	if code, _, errOut := runCLI(t, "", "send", addr, "from the environment"); code != 0 || !strings.Contains(errOut, "(sealed)") {
		t.Fatalf("send: %d %s", code, errOut)
	}
	l.expectOut(`\(20 bytes\): from the environment$`)
	t.Setenv("UDPCHAT_KEY", "00112233")
	if code, _, errOut := runCLI(t, "", "send", addr, "x"); code != 2 || !strings.Contains(errOut, "UDPCHAT_KEY holds 8 hex digits, which is not a key") ||
		strings.Contains(errOut, "00112233") {
		t.Errorf("a short hex key: %d %s", code, errOut)
	}
}

// TestSealedChat: a forged or unsealed datagram cannot become the peer of
// `chat --bind --key-file`; the real peer, with the key, can.
func TestSealedChat(t *testing.T) {
	keyPath, _ := newKeyFile(t, "k")
	_, other := newKeyFile(t, "other")
	b := startChild(t, "chat", "--bind", "127.0.0.1:0", "--key-file", keyPath)
	addr := b.expectErr(`listening on (\S+) \(UDP\)`)[1]
	dst, _ := net.ResolveUDPAddr("udp", addr)
	evil := udpSocket(t, "127.0.0.1:0")
	evil.WriteTo([]byte("let me in"), dst)
	b.expectErr(`^rejected a datagram from .*: unsealed: `)
	s, _ := other.NewSealer()
	forged, _ := s.Seal(nil, []byte("let me in, sealed"), time.Now())
	evil.WriteTo(forged, dst)
	b.expectErr(`^rejected a datagram from .*: bad tag: `)

	a := startChild(t, "chat", addr, "--key-file", keyPath)
	a.expectErr(`^chatting with`)
	a.say("hello")
	from := b.expectOut(`^(127\.0\.0\.1:\d+)> hello$`)[1]
	if from == evil.LocalAddr().String() {
		t.Fatal("the forger became the peer")
	}
	b.say("hi")
	a.expectOut(`> hi$`)
	b.stdin.Close()
	b.expectErr(`^bye: sent 1 line, received 1; sealed, 2 rejected \(1 unsealed, 1 bad tag\)$`)
	// The forger got nothing back.
	evil.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, _, err := evil.ReadFrom(make([]byte, 100)); err == nil {
		t.Error("the forger got a reply")
	}
}
