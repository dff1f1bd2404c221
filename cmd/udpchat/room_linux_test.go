package main

import (
	"os/exec"
	"testing"

	"github.com/udpchat/udpchat/dgram/nstest"
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
