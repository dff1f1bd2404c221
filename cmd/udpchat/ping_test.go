package main

import (
	"net"
	"strings"
	"testing"
)

// corruptingEcho is an echo server that changes the last byte of every
// datagram it sends back.
func corruptingEcho(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDP(b)
			if err != nil {
				return
			}
			b[n-1] ^= 0x01
			c.WriteToUDP(b[:n], from)
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return c.LocalAddr().String()
}

// TestPingCorrupted: an echo server that changes the bytes is noticed:
// each reply is shown as corrupted, as ping(8) shows "wrong data byte",
// none is counted as received, and ping fails (it used to count them all).
func TestPingCorrupted(t *testing.T) {
	addr := corruptingEcho(t)
	code, out, errs := runCLI(t, "", "ping", addr, "--count", "3", "--interval", "10ms", "--timeout", "500ms")
	if code != 1 {
		t.Errorf("exit %d, want 1: no intact reply", code)
	}
	if n := strings.Count(out, "(corrupted: wrong data byte #27 should be 0x68 but was 0x69; not counted)"); n != 3 {
		t.Errorf("%d replies shown as corrupted, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, "3 transmitted, 0 received") || !strings.Contains(out, "3 replies corrupted") {
		t.Errorf("summary:\n%s", out)
	}
	if !strings.Contains(errs, "no intact reply from "+addr+": 3 replies came back changed") {
		t.Errorf("stderr %q", errs)
	}
	code, out, _ = runCLI(t, "", "ping", addr, "--count", "2", "--interval", "10ms", "--timeout", "500ms", "--json")
	if code != 1 || strings.Count(out, `"type":"corrupted"`) != 2 || !strings.Contains(out, `"received":0`) || !strings.Contains(out, `"corrupted":2`) {
		t.Errorf("--json: exit %d:\n%s", code, out)
	}
}

// TestPingSaysRateLimited: against listen --echo whose guard answers one
// reply a second, ping gets its first reply and then silence; it says the
// server may be rate limiting, as send --wait does, instead of nothing.
func TestPingSaysRateLimited(t *testing.T) {
	l := startChild(t, "listen", "127.0.0.1:0", "--echo", "--echo-rate", "1")
	addr := l.expectErr(`listening on (\S+) \(UDP\)`)[1]
	code, stdout, stderr := runProcess(t, nil, "ping", addr, "--count", "20", "--interval", "5ms", "--timeout", "300ms")
	if code != 0 || !strings.Contains(stdout, "20 transmitted") || strings.Contains(stdout, "20 received") {
		t.Fatalf("ping against a guard of 1 reply a second: exit %d (want 0: replies came), stdout %q", code, stdout)
	}
	if !strings.Contains(stderr, "had answered: it answered before, so it may be rate limiting") {
		t.Errorf("ping's stderr %q does not say that the server may be rate limiting; stdout %q", stderr, stdout)
	}
}
