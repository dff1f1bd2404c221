package seal

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestConnLoopback runs two Conns on loopback while a third socket injects
// forgeries, replays and plain datagrams captured from the wire between
// them: every legitimate datagram arrives once, in full, and every bad
// one is counted.
func TestConnLoopback(t *testing.T) {
	k := mustKey(t, secret)
	ua, ub, evil := listen(t), listen(t), listen(t)
	a, err := NewConn(ua, k, Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewConn(ub, k, Config{})
	if err != nil {
		t.Fatal(err)
	}
	wrongKey, _ := NewConn(evil, mustKey(t, bytes.Repeat([]byte{9}, SecretLen)), Config{})

	// A "capture": seal one datagram the way a sends and keep its bytes.
	captured, err := a.sealer.Seal(nil, []byte("secret message 0"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(captured, []byte("secret")) {
		t.Fatal("the wire bytes contain the plaintext")
	}
	bAddr := ub.LocalAddr()
	if _, err := ua.WriteTo(captured, bAddr); err != nil { // the original
		t.Fatal(err)
	}
	const n = 50
	var wantBad Rejections
	for i := 1; i < n; i++ {
		if _, err := a.WriteTo(fmt.Appendf(nil, "secret message %d", i), bAddr); err != nil {
			t.Fatal(err)
		}
		switch i % 4 {
		case 0:
			evil.WriteTo(captured, bAddr) // replay
			wantBad[Replay]++
		case 1:
			wrongKey.WriteTo([]byte("forged"), bAddr)
			wantBad[BadTag]++
		case 2:
			evil.WriteTo([]byte("plain"), bAddr)
			wantBad[Unsealed]++
		case 3:
			evil.WriteTo(captured[:len(captured)-3], bAddr)
			wantBad[BadTag]++
		}
	}
	buf := make([]byte, 2048)
	ub.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range n {
		m, from, err := b.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d datagrams: %v", i, err)
		}
		if want := fmt.Sprintf("secret message %d", i); string(buf[:m]) != want {
			t.Fatalf("datagram %d: %q", i, buf[:m])
		}
		if from.String() != ua.LocalAddr().String() {
			t.Fatalf("from %v", from)
		}
	}
	// Every bad datagram was sent before the last good one: drain them.
	ub.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := b.ReadFrom(buf); err == nil {
		t.Fatal("an extra datagram was delivered")
	} else if ne := (net.Error)(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatal(err)
	}
	if got := b.Rejected(); got != wantBad {
		t.Errorf("rejected %v, want %v", got, wantBad)
	}
	if b.Accepted() != n {
		t.Errorf("accepted %d", b.Accepted())
	}

	// b answers a; a reflection of a's own datagram back at a is refused.
	if _, err := b.WriteTo([]byte("reply"), ua.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	evil.WriteTo(captured, ua.LocalAddr())
	ua.SetReadDeadline(time.Now().Add(10 * time.Second))
	if m, _, err := a.ReadFrom(buf); err != nil || string(buf[:m]) != "reply" {
		t.Fatalf("reply: %q %v", buf[:m], err)
	}
	ua.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, _, err := a.ReadFrom(buf); err == nil {
		t.Fatal("a accepted its own datagram reflected")
	}
	if got := a.Rejected(); got[Replay] != 1 {
		t.Errorf("a rejected %v", got)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	if err := WriteKeyFile(p); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	data, _ := os.ReadFile(p)
	if len(strings.TrimSpace(string(data))) != 2*SecretLen {
		t.Errorf("key file %q", data)
	}
	if err := WriteKeyFile(p); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("overwrite: %v", err)
	}
	k1, warn, err := LoadKeyFile(p)
	if err != nil || warn != "" {
		t.Fatalf("load: %v %q", err, warn)
	}
	os.Chmod(p, 0o644)
	k2, warn, err := LoadKeyFile(p)
	if err != nil || !strings.Contains(warn, "read by others") {
		t.Errorf("world-readable: %v %q", err, warn)
	}
	// The same file gives the same key: what one seals the other opens.
	o2 := k2.NewOpener(Config{})
	s, _ := k1.NewSealer()
	b, _ := s.Seal(nil, []byte("x"), time.Now())
	if _, _, c := o2.Open(nil, peerA, b); c != None {
		t.Errorf("same file, different keys: %v", c)
	}
	// Two new files differ.
	p2 := filepath.Join(dir, "k2")
	WriteKeyFile(p2)
	k3, _, _ := LoadKeyFile(p2)
	if _, _, c := k3.NewOpener(Config{Start: t0}).Open(nil, peerA, b); c != BadTag {
		t.Errorf("another key file opened it: %v", c)
	}
	for name, content := range map[string]string{"empty": "", "short": "abcd", "text": "password123"} {
		f := filepath.Join(dir, name)
		os.WriteFile(f, []byte(content), 0o600)
		if _, _, err := LoadKeyFile(f); err == nil || !errors.Is(err, ErrKeyFormat) {
			t.Errorf("%s key file: %v", name, err)
		}
	}
	if _, _, err := LoadKeyFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing key file loaded")
	}
	if _, _, err := LoadKeyFile(dir); err == nil {
		t.Error("a directory loaded as a key file")
	}
}
