package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
)

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n          uint64
		word, want string
	}{
		{0, "datagram", "0 datagrams"},
		{1, "datagram", "1 datagram"},
		{2, "reply", "2 replies"},
		{2, "day", "2 days"},
		{2, "address", "2 addresses"},
		{1, "address", "1 address"},
		{3, "box", "3 boxes"},
		{2, "batch", "2 batches"},
	} {
		if got := plural(tc.n, tc.word); got != tc.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tc.n, tc.word, got, tc.want)
		}
	}
}

// TestDevNullIsNotATerminal: /dev/null is a character device but not a
// terminal. A command run from cron, a systemd unit or `< /dev/null` reads
// it as input that ended: send does not say that it waits for lines
// typed, and chat accepts --linger (it has piped input).
func TestDevNullIsNotATerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Errorf("isTerminal(%s) = true", os.DevNull)
	}
	// A destination that receives and never answers (no ICMP either).
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	addr := pc.LocalAddr().String()
	for _, args := range [][]string{
		{"send", addr},
		{"chat", addr, "--linger", "0.05"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"udpchat"}, args...), null, &out, &errb)
		if code != 0 {
			t.Errorf("udpchat %q < %s: exit %d, want 0\nstderr: %s", args, os.DevNull, code, errb.String())
		}
		if s := out.String() + errb.String(); strings.Contains(s, "reading stdin") {
			t.Errorf("udpchat %q < %s tells a person to type:\n%s", args, os.DevNull, s)
		}
	}
}
