package main

import (
	"bufio"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"net/netip"

	"github.com/udpchat/udpchat/dgram/nstest"
)

// TestTwoHomedListenEcho: on a host with two addresses of each family,
// `udpchat listen :PORT --echo` answers ping and send --wait at every
// address, each from the address it was sent to (ping and send use
// connected sockets, which hear nothing else), and --json says which
// address each datagram was sent to.
func TestTwoHomedListenEcho(t *testing.T) {
	cli, srv := nstest.New(t), nstest.New(t)
	p := netip.MustParsePrefix
	nstest.Link(t, cli, srv, nstest.LinkOptions{
		A: []netip.Prefix{p("198.18.0.10/24"), p("2001:db8::10/64")},
		B: []netip.Prefix{p("198.18.0.1/24"), p("198.18.0.2/24"), p("2001:db8::1/64"), p("2001:db8::2/64")},
	})
	bin, err := exec.LookPath("udpchat") // installed by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addrs := []string{"198.18.0.1", "198.18.0.2", "2001:db8::1", "2001:db8::2"}
	l := srv.Command(bin, "listen", ":0", "--echo", "--json", "--count", "12")
	l.Env = childEnv(l.Environ())
	stderr, err := l.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	l.Stdout = &out
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Process.Kill(); _ = l.Wait() }()
	sc := bufio.NewScanner(stderr)
	port := ""
	for sc.Scan() {
		if m := regexp.MustCompile(`^listening on \[::\]:(\d+) `).FindStringSubmatch(sc.Text()); m != nil {
			port = m[1]
			break
		}
	}
	if port == "" {
		t.Fatal("listen did not say where it listens")
	}
	go func() {
		for sc.Scan() { // keep draining stderr
		}
	}()
	for _, a := range addrs {
		hp := "[" + a + "]:" + port
		if !strings.Contains(a, ":") {
			hp = a + ":" + port
		}
		c := exec.CommandContext(ctx, "ip", "netns", "exec", cli.Name, bin, "ping", hp, "--count", "2", "--interval", "10ms")
		c.Env = childEnv(c.Environ())
		if b, err := c.CombinedOutput(); err != nil || !strings.Contains(string(b), "2 received") {
			t.Errorf("ping %s: %v\n%s", hp, err, b)
		}
		c = exec.CommandContext(ctx, "ip", "netns", "exec", cli.Name, bin, "send", hp, "hello "+a, "--wait")
		c.Env = childEnv(c.Environ())
		if b, err := c.CombinedOutput(); err != nil || !strings.Contains(string(b), "reply from "+hp) {
			t.Errorf("send --wait %s: %v\n%s", hp, err, b)
		}
	}
	if err := l.Wait(); err != nil {
		t.Fatalf("listen: %v\n%s", err, out.String())
	}
	if t.Failed() {
		t.Logf("listen printed:\n%s", out.String())
	}
	for _, a := range addrs {
		hp := "\"to\":\"" + a + ":" + port + "\""
		if strings.Contains(a, ":") {
			hp = "\"to\":\"[" + a + "]:" + port + "\""
		}
		if n := strings.Count(out.String(), hp); n != 3 {
			t.Errorf("%d datagrams with %s, want 3 (2 probes and 1 message)", n, hp)
		}
	}
	if !strings.Contains(out.String(), `"echoed":12`) {
		t.Errorf("summary: want 12 echoed:\n%s", out.String())
	}
}
