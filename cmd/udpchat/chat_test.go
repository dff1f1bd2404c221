package main

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// child is a udpchat process whose stdin, stdout and stderr are pipes held
// by the test.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout chan string
	stderr chan string
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	return startChildInput(t, "", args...)
}

// startChildInput is startChild with input already waiting on its stdin
// (which stays open), so that the child reads it as soon as it starts.
func startChildInput(t *testing.T, input string, args ...string) *child {
	t.Helper()
	bin, err := exec.LookPath("udpchat") // installed by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: exec.Command(bin, args...), stdout: make(chan string, 100), stderr: make(chan string, 100)}
	c.cmd.Env = childEnv(c.cmd.Environ())
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c.stdin, input); err != nil {
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

func scanLines(r io.Reader, ch chan<- string) {
	defer close(ch)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		ch <- sc.Text()
	}
}

// expect waits for a line on ch that matches re and returns its submatches.
// The deadline only bounds a failing test; a passing one never waits for it.
func (c *child) expect(ch <-chan string, what, re string) []string {
	c.t.Helper()
	rx := regexp.MustCompile(re)
	timeout := time.After(exitTimeout)
	var seen []string
	for {
		select {
		case line, ok := <-ch:
			if !ok {
				c.t.Fatalf("%s closed before a line matching %q; saw %q", what, re, seen)
			}
			if m := rx.FindStringSubmatch(line); m != nil {
				return m
			}
			seen = append(seen, line)
		case <-timeout:
			c.t.Fatalf("no %s line matching %q within %v; saw %q", what, re, exitTimeout, seen)
		}
	}
}

func (c *child) expectOut(re string) []string { c.t.Helper(); return c.expect(c.stdout, "stdout", re) }
func (c *child) expectErr(re string) []string { c.t.Helper(); return c.expect(c.stderr, "stderr", re) }

func (c *child) say(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		c.t.Fatal(err)
	}
}

func (c *child) wait() int {
	c.t.Helper()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(exitTimeout):
		c.t.Fatalf("udpchat did not exit within %v", exitTimeout)
	}
	return c.cmd.ProcessState.ExitCode()
}

// TestChatOverPipes runs two chat processes against each other, the way
// two people in two terminals would: one waits with --bind, the other
// starts the conversation.
func TestChatOverPipes(t *testing.T) {
	b := startChild(t, "chat", "--bind", "127.0.0.1:0")
	addr := b.expectErr(`listening on (\S+) \(UDP\): waiting for the first datagram`)[1]

	// B has no peer yet: what it types is not sent, and it says so.
	b.say("anyone there?")
	b.expectErr(`^no peer yet: this line was not sent`)

	a := startChild(t, "chat", addr)
	a.expectErr(`^chatting with ` + regexp.QuoteMeta(addr) + ` from 127\.0\.0\.1:\d+;`)
	a.say("hello")
	from := b.expectOut(`^(127\.0\.0\.1:\d+)> hello$`)[1]
	b.expectErr(`^chatting with ` + regexp.QuoteMeta(from) + `$`)

	b.say("hi")
	a.expectOut(`^` + regexp.QuoteMeta(addr) + `> hi$`)
	b.say("a line with \x01 control")
	a.expectOut(`^` + regexp.QuoteMeta(addr) + `> "a line with \\x01 control"$`)

	a.say("exit")
	a.expectErr(`^bye: sent`)
	if code := a.wait(); code != 0 {
		t.Errorf("chat A exit status %d, want 0", code)
	}
	// Ctrl-D: end of input ends the chat too.
	b.stdin.Close()
	b.expectErr(`^bye: sent`)
	if code := b.wait(); code != 0 {
		t.Errorf("chat B exit status %d, want 0", code)
	}
}

// TestChatTimeout: --timeout ends a chat that has been idle, and says
// which timeout expired. The line b sends is on its stdin before it
// starts, so that no timer races the test's own pace.
func TestChatTimeout(t *testing.T) {
	a := startChild(t, "chat", "--bind", "127.0.0.1:0")
	addr := a.expectErr(`listening on (\S+) \(UDP\)`)[1]
	b := startChildInput(t, "hello\n", "chat", addr, "--timeout", "300ms")
	a.expectOut(`> hello$`)
	b.expectErr(`^nothing sent or received for 300ms \(--timeout\); bye: sent 1 line, received 0$`)
	if code := b.wait(); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// TestChatBindPeerRule: chat --bind refuses a third address while its
// peer is there, sees the peer go (a line bounced), and then takes the
// address it refused as the new peer, saying so each time.
func TestChatBindPeerRule(t *testing.T) {
	b := startChild(t, "chat", "--bind", "127.0.0.1:0")
	addr := b.expectErr(`listening on (\S+) \(UDP\)`)[1]
	a1 := startChild(t, "chat", addr)
	a1.say("first")
	from1 := b.expectOut(`^(127\.0\.0\.1:\d+)> first$`)[1]

	a2 := startChild(t, "chat", addr)
	a2.say("me too")
	from2 := b.expectErr(`^refused a datagram from (127\.0\.0\.1:\d+): chatting with ` + regexp.QuoteMeta(from1) + `, who is still there`)[1]

	// a1 leaves: its socket is closed, so the next line to it bounces.
	a1.say("exit")
	if code := a1.wait(); code != 0 {
		t.Fatalf("a1 exit status %d", code)
	}
	b.say("anyone?")
	b.expectErr(`^` + regexp.QuoteMeta(from1) + ` is gone: nothing listens there`)
	b.expectErr(`^now chatting with ` + regexp.QuoteMeta(from2) + ` instead of ` + regexp.QuoteMeta(from1))
	b.say("hello a2")
	a2.expectOut(`^` + regexp.QuoteMeta(addr) + `> hello a2$`)
	a2.say("hi b")
	b.expectOut(`^` + regexp.QuoteMeta(from2) + `> hi b$`)

	// b leaves: a2's next line bounces, and a2 says that b is gone.
	b.stdin.Close()
	b.expectErr(`^bye: sent 2 lines, received 2; 1 bounced \(nothing listened there: lost\); refused 1 datagram from 1 address other than the peer$`)
	if code := b.wait(); code != 0 {
		t.Fatalf("b exit status %d", code)
	}
	a2.say("still there?")
	a2.say("hello?")
	a2.expectErr(`^` + regexp.QuoteMeta(addr) + ` is gone: nothing listens there`)
}

// TestChatLinesToAGonePeer: a connected chat keeps sending to a peer
// that is gone (it may come back), and each line that bounces is said
// to be lost, the first and every later one, and counted at the end:
// no line vanishes silently.
func TestChatLinesToAGonePeer(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	closed := c.LocalAddr().String()
	c.Close() // nothing listens there now: each datagram to it bounces (loopback's ICMP is not rate-limited)
	code, _, errs := runCLI(t, "one\ntwo\nthree\n", "chat", closed, "--linger", "2s")
	if code != 0 {
		t.Fatalf("exit status %d: %s", code, errs)
	}
	gone := regexp.QuoteMeta(closed) + ` is gone: nothing listens there`
	still := regexp.QuoteMeta(closed) + ` is still gone: nothing listens there \(ICMP port unreachable\); that line was lost too`
	if n := len(regexp.MustCompile(`(?m)^`+gone).FindAllString(errs, -1)); n != 1 {
		t.Errorf("%d lines say the peer is gone, want 1:\n%s", n, errs)
	}
	if n := len(regexp.MustCompile(`(?m)^`+still).FindAllString(errs, -1)); n != 2 {
		t.Errorf("%d lines say a later line was lost, want 2 (two, three):\n%s", n, errs)
	}
	if !regexp.MustCompile(`(?m)^end of input.*\n?.*bye: sent 3 lines, received 0; 3 bounced \(nothing listened there: lost\)$`).MatchString(errs) {
		t.Errorf("the summary does not count the 3 lines that bounced:\n%s", errs)
	}
}
