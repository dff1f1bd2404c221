package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
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
		{[]string{"room", "serve", "--nosuch"}, "unknown flag --nosuch"},
	} {
		out, code := runChild(t, "", tc.args...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("udpchat %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, out, tc.want)
		}
	}
}

// ---- README: the room session and the Python member ----

// termProc is a udpchat process as a terminal shows it: stdout and
// stderr merged, with the lines typed at its prompt.
type termProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	log   []string
	lines chan string
	done  chan struct{}
}

// startTerm starts udpchat with args; show is the command line README
// shows (after "$ ").
func startTerm(ts *testscript.TestScript, show string, args ...string) *termProc {
	path, err := lookPath(ts, "udpchat")
	ts.Check(err)
	p := &termProc{cmd: exec.Command(path, args...), lines: make(chan string, 256), done: make(chan struct{}), log: []string{"$ " + show}}
	p.cmd.Env = childEnv(append(os.Environ(), "PATH="+ts.Getenv("PATH")))
	p.stdin, err = p.cmd.StdinPipe()
	ts.Check(err)
	pr, pw, err := os.Pipe()
	ts.Check(err)
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	ts.Check(p.cmd.Start())
	pw.Close()
	go func() {
		defer close(p.done)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.log = append(p.log, sc.Text())
			p.mu.Unlock()
			p.lines <- sc.Text()
		}
	}()
	ts.Defer(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
	return p
}

// expect waits for the process's next line that matches re and returns
// its submatches (the lines before it stay in the log).
func (p *termProc) expect(ts *testscript.TestScript, re string) []string {
	rx := regexp.MustCompile(re)
	timeout := time.After(exitTimeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				ts.Fatalf("output ended before a line matching %q:\n%s", re, p.text())
			}
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-timeout:
			ts.Fatalf("no line matching %q within %v:\n%s", re, exitTimeout, p.text())
		}
	}
}

// typeLine types text at the prompt: the terminal shows it after the
// prompt, the process reads it.
func (p *termProc) typeLine(ts *testscript.TestScript, prompt, text string) {
	p.mu.Lock()
	p.log = append(p.log, prompt+text)
	p.mu.Unlock()
	_, err := io.WriteString(p.stdin, text+"\n")
	ts.Check(err)
}

// wait waits for the process to exit and for all of its output.
func (p *termProc) wait(ts *testscript.TestScript, code int) {
	select {
	case <-p.done:
	case <-time.After(exitTimeout):
		ts.Fatalf("no exit within %v:\n%s", exitTimeout, p.text())
	}
	_ = p.cmd.Wait()
	if got := p.cmd.ProcessState.ExitCode(); got != code {
		ts.Fatalf("exit status %d, want %d:\n%s", got, code, p.text())
	}
}

func (p *termProc) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log, "\n") + "\n"
}

// cmdRoomSession runs `roomsession OUT`: a room server and three members
// in four terminals, played in a fixed order, written to OUT as README
// shows it (each terminal's screen in turn).
func cmdRoomSession(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: roomsession OUT")
	}
	srv := startTerm(ts, "udpchat room serve                                  # terminal 1: the server", "room", "serve", "127.0.0.1:0")
	addr := srv.expect(ts, `listening on (\S+)`)[1]
	alice := startTerm(ts, "udpchat room join 127.0.0.1:9000 --nick alice       # terminal 2", "room", "join", addr, "--nick", "alice")
	alice.expect(ts, `^\* nobody else is here yet$`)
	srv.expect(ts, `^\* alice joined`)
	bob := startTerm(ts, "udpchat room join 127.0.0.1:9000 --nick bob --json  # terminal 3", "room", "join", addr, "--nick", "bob", "--json")
	bob.expect(ts, `"type":"members"`)
	alice.expect(ts, `^\* bob joined$`)
	srv.expect(ts, `^\* bob joined`)

	alice.typeLine(ts, "alice> ", "hi bob")
	bob.expect(ts, `"text":"hi bob"`)
	bob.typeLine(ts, "bob> ", "hello alice")
	alice.expect(ts, `^<bob> hello alice$`)

	other := startTerm(ts, "udpchat room join 127.0.0.1:9000 --nick Bob         # terminal 4", "room", "join", addr, "--nick", "Bob")
	other.wait(ts, 1)
	srv.expect(ts, `^\* refused Bob`)

	bob.typeLine(ts, "bob> ", "bye for now")
	alice.expect(ts, `^<bob> bye for now$`)
	bob.typeLine(ts, "bob> ", "exit")
	bob.wait(ts, 0)
	alice.expect(ts, `^\* bob left$`)
	srv.expect(ts, `^\* bob left$`)
	alice.typeLine(ts, "alice> ", "exit")
	alice.wait(ts, 0)
	srv.expect(ts, `^\* alice left$`)
	srv.mu.Lock()
	srv.log = append(srv.log, "^C")
	srv.mu.Unlock()
	ts.Check(srv.cmd.Process.Signal(os.Interrupt))
	srv.wait(ts, 130)
	session := strings.Join([]string{srv.text(), alice.text(), bob.text(), other.text()}, "\n")
	appendFile(ts, args[0], strings.ReplaceAll(session, addr, "127.0.0.1:9000")) // as README shows it
}

// cmdChatSession runs `chatsession OUT`: README's chat in two terminals,
// played in a fixed order, written to OUT as README shows it (each
// terminal's screen in turn; a line typed shows behind chat's "> "
// prompt, as on a terminal).
func cmdChatSession(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: chatsession OUT")
	}
	b := startTerm(ts, "udpchat chat --bind 127.0.0.1:9000            # terminal 1", "chat", "--bind", "127.0.0.1:0")
	addr := b.expect(ts, `listening on (\S+) \(UDP\)`)[1]
	a := startTerm(ts, "udpchat chat 127.0.0.1:9000                   # terminal 2", "chat", addr)
	a.expect(ts, `^chatting with`)
	a.typeLine(ts, "> ", "hello")
	b.expect(ts, `^127\.0\.0\.1:\d+> hello$`)
	b.typeLine(ts, "> ", "hi")
	a.expect(ts, `> hi$`)
	b.typeLine(ts, "> ", "exit")
	b.wait(ts, 0)
	a.typeLine(ts, "> ", "exit")
	a.wait(ts, 0)
	session := strings.Join([]string{b.text(), a.text()}, "\n")
	appendFile(ts, args[0], strings.ReplaceAll(session, addr, "127.0.0.1:9000")) // as README shows it
}

// TestPythonMember runs the Python member of README, exactly as README
// shows it, against a room server, with a Go member in the room: each
// gets the other's lines, and the Go member sees it join and leave.
func TestPythonMember(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is not installed, and CI should have installed it (.ci/run)")
		}
		t.Skip("skipped: python3 is not installed (apt-get install python3)")
	}
	script := readmePython(t)
	path := filepath.Join(t.TempDir(), "member.py")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startChild(t, "room", "serve", "127.0.0.1:0")
	addr := srv.expectErr(`listening on (\S+)`)[1]
	alice := startChild(t, "room", "join", addr, "--nick", "alice")
	alice.expectOut(`^\* nobody else is here yet$`)

	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(py, path, host, port, "py")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pyOut := &child{t: t, cmd: cmd, stdout: make(chan string, 100)}
	go scanLines(stdout, pyOut.stdout)

	pyOut.expectOut(`^\* in the room: alice$`)
	alice.expectOut(`^\* py joined$`)
	io.WriteString(stdin, "hello from python\n")
	alice.expectOut(`^<py> hello from python$`)
	alice.say("hi py, é")
	pyOut.expectOut(`^<alice> hi py, é$`)
	stdin.Close()
	alice.expectOut(`^\* py left$`)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python member: %v; stderr: %s", err, stderr.String())
	}
}

// readmePython returns the Python member shown in README: the fenced
// block after its marker.
func readmePython(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	const marker = "<!-- python-member: run by TestPythonMember (cmd/udpchat/room_test.go) -->\n```python\n"
	_, rest, ok := strings.Cut(string(b), marker)
	if !ok {
		t.Fatalf("README.md has no %q", marker)
	}
	script, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatal("README.md: the Python member's block does not end")
	}
	return script + "\n"
}

// TestRoomInterrupt: Ctrl-C on a member says goodbye first (the others
// see it leave, not time out) and exits 130.
func TestRoomInterrupt(t *testing.T) {
	srv := startChild(t, "room", "serve", "127.0.0.1:0")
	addr := srv.expectErr(`listening on (\S+)`)[1]
	alice := startChild(t, "room", "join", addr, "--nick", "alice")
	alice.expectOut(`^\* nobody else is here yet$`)
	carol := startChild(t, "room", "join", addr, "--nick", "carol")
	carol.expectOut(`^\* in the room: alice$`)
	alice.expectOut(`^\* carol joined$`)
	if err := carol.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	carol.expectErr(`^interrupted; left: sent 0 lines, received 0$`)
	if code := carol.wait(); code != 130 {
		t.Errorf("carol after Ctrl-C: exit status %d, want 130", code)
	}
	alice.expectOut(`^\* carol left$`)
}
