package main

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/arq"
	"github.com/udpchat/udpchat/dgram/netem"
)

// TestReliableSenderDiesNoFile: a sender that dies mid-transfer makes
// `listen --reliable --output F` fail (exit 1) and leave nothing under F,
// not even its temporary file.
func TestReliableSenderDiesNoFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.bin")
	l := startChild(t, "listen", "127.0.0.1:0", "--reliable", "--output", out, "--idle", "1s")
	addr := l.expectErr(`listening on (\S+)`)[1]

	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// The sender's link goes dead after its 30th datagram: no FIN, no RESET,
	// nothing more, as when a process is killed.
	script, _ := netem.ParseScript("drop 30-1000000")
	wc, err := netem.Wrap(pc, netem.Options{Write: netem.Config{Script: script}})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	dst := mustAddr(t, addr)
	c, err := arq.Dial(ctx, wc, dst, arq.Config{IdleTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	c.Send(append([]byte{'H'}, `{"udpchat":1,"kind":"file","name":"x","size":1000000}`...))
	chunk := make([]byte, 64<<10)
	for range 10 {
		c.Send(append([]byte{'D'}, chunk...)) // fills the window; most never arrive
	}
	l.expectErr(`udpchat: transfer from 127\.0\.0\.1:\d+ failed after .*the peer went silent.*nothing was written to ` + regexpQuote(out))
	if code := l.wait(); code != 1 {
		t.Errorf("listen exit status %d, want 1", code)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the failed transfer left %v in %s", names, dir)
	}
}

func regexpQuote(s string) string {
	r := strings.NewReplacer(`.`, `\.`, `(`, `\(`, `)`, `\)`, `+`, `\+`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}

func mustAddr(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a.AddrPort()
}
