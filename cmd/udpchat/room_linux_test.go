package main

import (
	"bytes"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/nstest"
	"github.com/udpchat/udpchat/dgram/pcap"
)

// TestRoomGroupCommand: two `room join --group` processes in a namespace
// of the test's own (multicast on its loopback, never off this machine)
// see each other join, talk, and leave.
func TestRoomGroupCommand(t *testing.T) {
	ns := nstest.New(t)
	bin, err := exec.LookPath("udpchat")
	if err != nil {
		t.Fatal(err)
	}
	start := func(args ...string) *child {
		c := &child{t: t, cmd: ns.Command(bin, args...), stdout: make(chan string, 100), stderr: make(chan string, 100)}
		c.cmd.Env = childEnv(c.cmd.Environ())
		var err error
		if c.stdin, err = c.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		out, err := c.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		errp, err := c.cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go scanLines(out, c.stdout)
		go scanLines(errp, c.stderr)
		t.Cleanup(func() {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		})
		return c
	}
	alice := start("room", "join", "--group", "239.255.0.1:9000", "--nick", "alice")
	alice.expectErr(`^joined the multicast room 239\.255\.0\.1:9000 on lo \(TTL 1\) as alice;`)
	alice.expectOut(`^\* nobody else is here yet$`)
	bob := start("room", "join", "--group", "239.255.0.1:9000", "--nick", "bob", "--json")
	bob.expectOut(`^\{"type":"(members","nicks":\["alice"\]|join","nick":"alice")\}$`)
	alice.expectOut(`^\* bob joined$`)
	alice.say("hello, multicast")
	bob.expectOut(`^\{"type":"message","from":"alice","text":"hello, multicast","id":1\}$`)
	bob.say("hi")
	alice.expectOut(`^<bob> hi$`)
	bob.stdin.Close()
	alice.expectOut(`^\* bob left$`)
	if code := bob.wait(); code != 0 {
		t.Errorf("bob: exit status %d, want 0", code)
	}
	alice.say("exit")
	alice.expectErr(`^left the room: sent 1 line, received 1$`)
	if code := alice.wait(); code != 0 {
		t.Errorf("alice: exit status %d, want 0", code)
	}
}

// TestRoomGroupPcap: a multicast room's capture holds each datagram as it
// was on the wire, read back by tshark: to the group (not the wildcard
// address the socket is bound to), from the address the kernel put on
// it (the namespace's loopback has one), with the room's TTL of 1.
func TestRoomGroupPcap(t *testing.T) {
	ns := nstest.New(t)
	src := netip.MustParseAddr("198.18.77.1")
	ns.AddAddr("lo", netip.PrefixFrom(src, 32))
	bin, err := exec.LookPath("udpchat")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "group.pcapng")
	cmd := ns.Command(bin, "room", "join", "--group", "239.255.0.1:9000", "--nick", "al", "--pcap", path)
	cmd.Env = childEnv(cmd.Environ())
	cmd.Stdin = strings.NewReader("hello group\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() }) // bounded, whatever happens
	err = cmd.Wait()
	stop.Stop()
	if err != nil {
		t.Fatalf("room join --group: %v: %s", err, out.String())
	}
	rows := checkCapture(t, path)
	group, from := netip.MustParseAddrPort("239.255.0.1:9000"), netip.AddrPortFrom(src, 9000)
	sent, heard := count(rows, 0, pcap.Out, from, group, 0), count(rows, 0, pcap.In, from, group, 0)
	if sent < 2 || heard < 2 || sent+heard != len(rows) {
		t.Errorf("%d packets sent from %v to %v and %d heard back (multicast loopback), want at least 2 each and nothing else:\n%v", sent, from, group, heard, rows)
	}
	res, err := exec.Command(nstest.NeedTool(t, "tshark"), "-r", path, "-n", "-T", "fields", "-e", "ip.ttl").Output()
	if err != nil {
		t.Fatal(err)
	}
	ttls := strings.Fields(string(res))
	if len(ttls) != len(rows) {
		t.Fatalf("tshark: %d TTLs for %d packets", len(ttls), len(rows))
	}
	for i, ttl := range ttls {
		if ttl != "1" {
			t.Errorf("packet %d: TTL %s, want the room's 1 (%v)", i+1, ttl, rows[i])
		}
	}
}
