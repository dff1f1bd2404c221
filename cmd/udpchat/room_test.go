package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestRoomCommands runs a room server and two members as a user would,
// over pipes: text for one member, JSON for the other.
func TestRoomCommands(t *testing.T) {
	srv := startChild(t, "room", "serve", "127.0.0.1:0")
	addr := srv.expectErr(`^room server listening on (\S+) \(UDP\)`)[1]

	alice := startChild(t, "room", "join", addr, "--nick", "alice")
	alice.expectErr(`^joined the room at ` + regexp.QuoteMeta(addr) + ` as alice;`)
	alice.expectOut(`^\* nobody else is here yet$`)
	srv.expectOut(`^\* alice joined from 127\.0\.0\.1:\d+$`)

	bob := startChild(t, "room", "join", addr, "--nick", "bob", "--json")
	bob.expectOut(`^\{"type":"members","nicks":\["alice"\]\}$`)
	alice.expectOut(`^\* bob joined$`)

	alice.say("hello, \"bob\"")
	bob.expectOut(`^\{"type":"message","from":"alice","text":"hello, \\"bob\\"","id":1\}$`)
	bob.say("hi alice")
	alice.expectOut(`^<bob> hi alice$`)

	// A second alice is refused, with the nick named.
	out, code := runChild(t, "", "room", "join", addr, "--nick", "ALICE")
	if code != 1 || !strings.Contains(out, `refused to let ALICE in: the nick "alice" is taken; pick another with --nick`) {
		t.Errorf("second alice: exit %d, stderr %q", code, out)
	}
	srv.expectOut(`^\* refused ALICE from 127\.0\.0\.1:\d+: the nick "alice" is taken$`)

	// A line over the limit is refused, and the limit named.
	alice.say(strings.Repeat("x", 1001))
	alice.expectErr(`^not sent: the line is 1001 bytes, over the room's limit of 1000 bytes$`)
	alice.say("still here")
	bob.expectOut(`"text":"still here","id":2\}$`)

	bob.say("exit")
	alice.expectOut(`^\* bob left$`)
	bob.expectOut(`^\{"type":"summary","sent":1,"received":2,"not_sent":0\}$`)
	if code := bob.wait(); code != 0 {
		t.Errorf("bob: exit status %d, want 0", code)
	}
	srv.expectOut(`^\* bob left$`)

	alice.stdin.Close() // Ctrl-D
	alice.expectErr(`^left the room: sent 2 lines, received 1$`)
	if code := alice.wait(); code != 1 {
		t.Errorf("alice (one line not sent): exit status %d, want 1", code)
	}
	srv.cmd.Process.Signal(syscall.SIGINT)
	srv.expectOut(`^room closed: 2 members joined \(2 left, 0 timed out, 0 still there\), 1 join refused; 3 lines from members, 3 deliveries to members;`)
	if code := srv.wait(); code != 130 {
		t.Errorf("server after Ctrl-C: exit status %d, want 130", code)
	}
}

// TestRoomPipedMember: a member whose stdin is a pipe sends every line
// and stays until they are delivered, then leaves.
func TestRoomPipedMember(t *testing.T) {
	srv := startChild(t, "room", "serve", "127.0.0.1:0", "--json")
	addr := srv.expectErr(`listening on (\S+)`)[1]
	alice := startChild(t, "room", "join", addr, "--nick", "alice")
	alice.expectOut(`^\* nobody else is here yet$`)
	var lines strings.Builder
	for i := range 100 {
		lines.WriteString("line " + string(rune('0'+i/10)) + string(rune('0'+i%10)) + "\n")
	}
	out, code := runChild(t, lines.String(), "room", "join", addr, "--nick", "bot")
	if code != 0 || !strings.Contains(out, "left the room: sent 100 lines") {
		t.Fatalf("bot: exit %d, stderr %q", code, out)
	}
	alice.expectOut(`^\* bot joined$`)
	for i := range 100 {
		alice.expectOut(`^<bot> line ` + string(rune('0'+i/10)) + string(rune('0'+i%10)) + `$`)
	}
	alice.expectOut(`^\* bot left$`)
	srv.expectOut(`^\{"type":"leave","nick":"bot","reason":"left"\}$`)
}

// runChild runs udpchat with stdin and returns its stderr and exit status.
func runChild(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	bin, err := exec.LookPath("udpchat")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv(cmd.Environ())
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return stderr.String(), cmd.ProcessState.ExitCode()
}

// TestRoomUsage: mistakes on the command line are usage errors (exit 2),
// found before any socket is opened.
func TestRoomUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"room"}, "room needs a subcommand: serve or join"},
		{[]string{"room", "nosuch"}, `room has no subcommand "nosuch"`},
		{[]string{"room", "join", "127.0.0.1:9"}, "room join needs --nick NAME"},
		{[]string{"room", "join", "127.0.0.1:9", "--nick", "a b"}, `--nick: "a b": use letters, digits`},
		{[]string{"room", "join", "127.0.0.1:9", "--nick", strings.Repeat("n", 33)}, "is 33 bytes long (at most 32)"},
		{[]string{"room", "join", "--nick", "a"}, "room join needs the server's HOST:PORT, or --group"},
		{[]string{"room", "join", "127.0.0.1:9", "--group", "239.255.0.1:9", "--nick", "a"}, "not both"},
		{[]string{"room", "join", "127.0.0.1:9", "--iface", "lo", "--nick", "a"}, "--iface goes with --group only"},
		{[]string{"room", "join", "--group", "10.0.0.1:9", "--nick", "a"}, "want a multicast GROUP:PORT"},
		{[]string{"room", "join", "--group", "239.255.0.1:9", "--ttl", "0", "--nick", "a"}, "--ttl must be from 1 to 255"},
		{[]string{"room", "join", "--group", "239.255.0.1:9", "--iface", "nosuch0", "--nick", "a"}, "--iface nosuch0: no such interface"},
		{[]string{"room", "serve", "--max-text", "5000"}, "--max-text must be from 1 to"},
		{[]string{"room", "serve", "--member-timeout", "1s"}, "--member-timeout must be over 2s"},
		{[]string{"room", "serve", "--nosuch"}, "unknown flag -nosuch"},
	} {
		out, code := runChild(t, "", tc.args...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("udpchat %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, out, tc.want)
		}
	}
}
