package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
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

// startListenIn starts udpchat with args inside ns and returns it once it has
// said where it listens, with the port, its stdout and its stderr so far.
func startListenIn(t *testing.T, ns *nstest.NS, bin string, args ...string) (cmd *exec.Cmd, port string, out *strings.Builder) {
	t.Helper()
	cmd = ns.Command(bin, args...)
	cmd.Env = childEnv(cmd.Environ())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	out = &strings.Builder{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := regexp.MustCompile(`^listening on \[::\]:(\d+) `).FindStringSubmatch(sc.Text()); m != nil {
			port = m[1]
			break
		}
	}
	if port == "" {
		t.Fatalf("%v did not say where it listens", args)
	}
	go func() {
		for sc.Scan() { // keep draining stderr
		}
	}()
	return cmd, port, out
}

// hostPort joins an address and a port, IPv6 in brackets.
func hostPort(a, port string) string {
	if strings.Contains(a, ":") {
		return "[" + a + "]:" + port
	}
	return a + ":" + port
}

// TestTwoHomedReliable: `listen --reliable` on every address of a host
// with two addresses per family accepts transfers at each of them, plain
// and sealed, the sender's connected socket hearing every answer (arq
// answers from the address the peer contacted).
func TestTwoHomedReliable(t *testing.T) {
	cli, srv := nstest.New(t), nstest.New(t)
	p := netip.MustParsePrefix
	nstest.Link(t, cli, srv, nstest.LinkOptions{
		A: []netip.Prefix{p("198.18.0.10/24"), p("2001:db8::10/64")},
		B: []netip.Prefix{p("198.18.0.1/24"), p("198.18.0.2/24"), p("2001:db8::1/64"), p("2001:db8::2/64")},
	})
	bin, err := exec.LookPath("udpchat")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func(args ...string) (string, error) {
		c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", cli.Name, bin}, args...)...)
		c.Env = childEnv(c.Environ())
		b, err := c.CombinedOutput()
		return string(b), err
	}
	addrs := []string{"198.18.0.1", "198.18.0.2", "2001:db8::1", "2001:db8::2"}
	l, port, out := startListenIn(t, srv, bin, "listen", ":0", "--reliable", "--count", "4")
	for _, a := range addrs {
		if b, err := run("send", hostPort(a, port), "--reliable", "to "+a); err != nil || !strings.Contains(b, "verified and delivered") {
			t.Errorf("send --reliable to %s: %v\n%s", hostPort(a, port), err, b)
		}
	}
	if err := l.Wait(); err != nil {
		t.Fatalf("listen --reliable: %v\n%s", err, out)
	}
	for _, a := range addrs {
		if !strings.Contains(out.String(), "to "+a) {
			t.Errorf("the listener did not print %q:\n%s", "to "+a, out)
		}
	}

	// sealed, into a file, at the second address of each family
	dir := t.TempDir()
	key := dir + "/k"
	if b, err := exec.Command(bin, "keygen", key).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v: %s", err, b)
	}
	src := dir + "/original.bin"
	data := make([]byte, 300_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, a := range []string{"198.18.0.2", "2001:db8::2"} {
		dst := fmt.Sprintf("%s/copy%d.bin", dir, i)
		l, port, out := startListenIn(t, srv, bin, "listen", ":0", "--reliable", "--output", dst, "--key-file", key)
		if b, err := run("send", hostPort(a, port), "--file", src, "--key-file", key); err != nil || !strings.Contains(b, "verified and saved") {
			t.Errorf("sealed send --file to %s: %v\n%s", hostPort(a, port), err, b)
		}
		if err := l.Wait(); err != nil {
			t.Fatalf("listen --reliable --output: %v\n%s", err, out)
		}
		if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, %v; want the original's %d", dst, len(got), err, len(data))
		}
	}
}
