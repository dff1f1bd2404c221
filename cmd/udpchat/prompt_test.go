package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tmuxPane is one udpchat process in a real terminal: a tmux session of
// its own, on a private socket. What the process draws also flows
// through a FIFO (pipe-pane), so that the test learns by the bytes
// themselves, not by a clock, when something has been drawn.
type tmuxPane struct {
	t      *testing.T
	tmux   string
	sock   string
	drawn  chan []byte
	stream []byte
}

func startPane(t *testing.T, args ...string) *tmuxPane {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is not installed, and CI should have installed it (.ci/run)")
		}
		t.Skip("skipped: tmux is not installed (apt-get install tmux)")
	}
	bin, err := exec.LookPath("udpchat") // installed by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := &tmuxPane{t: t, tmux: tmux, sock: filepath.Join(dir, "tmux.sock"), drawn: make(chan []byte, 64)}
	fifo := filepath.Join(dir, "screen.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmdline := []string{bin}
	for _, a := range args {
		cmdline = append(cmdline, shellQuote(a))
	}
	// The pane's shell waits for the signal "start", given once pipe-pane
	// is attached, so that nothing is drawn before the FIFO sees it.
	p.run("new-session", "-d", "-s", "t", "-x", "100", "-y", "12",
		"-e", "NO_COLOR=1", "-e", "GORACE="+goraceEnv(),
		shellQuote(tmux)+" -S "+shellQuote(p.sock)+" wait-for start; "+strings.Join(cmdline, " ")+"; echo udpchat-exit=$?; sleep 60")
	t.Cleanup(func() { _ = exec.Command(tmux, "-S", p.sock, "kill-server").Run() })
	go func() {
		f, err := os.Open(fifo) // waits for pipe-pane's writer
		if err != nil {
			close(p.drawn)
			return
		}
		defer f.Close()
		defer close(p.drawn)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				p.drawn <- bytes.Clone(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	p.run("pipe-pane", "-t", "t", "-o", "cat >> "+shellQuote(fifo))
	p.run("wait-for", "-S", "start")
	return p
}

func (p *tmuxPane) run(args ...string) string {
	p.t.Helper()
	out, err := exec.Command(p.tmux, append([]string{"-S", p.sock}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitDrawn waits until the terminal stream has contained s.
func (p *tmuxPane) waitDrawn(s string) {
	p.t.Helper()
	timeout := time.After(exitTimeout)
	for !bytes.Contains(p.stream, []byte(s)) {
		select {
		case b, ok := <-p.drawn:
			if !ok {
				p.t.Fatalf("the pane closed before %q was drawn; screen:\n%s", s, p.screen())
			}
			p.stream = append(p.stream, b...)
		case <-timeout:
			p.t.Fatalf("%q not drawn within %v; screen:\n%s", s, exitTimeout, p.screen())
		}
	}
	p.stream = p.stream[bytes.Index(p.stream, []byte(s))+len(s):]
}

// screen returns the visible lines, trailing blank ones dropped.
func (p *tmuxPane) screen() string {
	return strings.TrimRight(p.run("capture-pane", "-p", "-t", "t"), "\n ")
}

// TestPromptKeepsTypedLine: in a real terminal (tmux), a line half typed
// at the prompt of room join, and of chat, stays intact at the bottom
// while a message arrives and is printed above it; backspace works, and
// the line, once finished, is sent whole.
func TestPromptKeepsTypedLine(t *testing.T) {
	t.Run("room", func(t *testing.T) {
		srv := startChild(t, "room", "serve", "127.0.0.1:0")
		addr := srv.expectErr(`listening on (\S+)`)[1]
		pane := startPane(t, "room", "join", addr, "--nick", "alice")
		pane.waitDrawn("nobody else is here yet")
		pane.waitDrawn("alice> ")
		bob := startChild(t, "room", "join", addr, "--nick", "bob")
		bob.expectOut(`^\* in the room: alice$`)
		pane.waitDrawn("bob joined")
		checkPrompt(t, pane, "alice> ", "<bob> half a minute", func(s string) { bob.say(s) })
		bob.expectOut(`^<alice> half$`)
	})
	t.Run("chat", func(t *testing.T) {
		b := startChild(t, "chat", "--bind", "127.0.0.1:0")
		addr := b.expectErr(`listening on (\S+) \(UDP\)`)[1]
		pane := startPane(t, "chat", addr)
		pane.waitDrawn("> ")
		pane.run("send-keys", "-t", "t", "first", "Enter")
		b.expectOut(`> first$`)
		checkPrompt(t, pane, "> ", "> half a minute", func(s string) { b.say(s) })
		b.expectOut(`> half$`)
	})
}

// checkPrompt types "halx", a backspace, has say send "half a minute"
// from the other side, and checks the screen: the message above, the
// prompt with "hal" at the bottom; then it finishes the line ("f",
// Enter).
func checkPrompt(t *testing.T, pane *tmuxPane, prompt, shown string, say func(string)) {
	t.Helper()
	pane.run("send-keys", "-t", "t", "-l", "halx")
	pane.waitDrawn("halx")
	pane.run("send-keys", "-t", "t", "BSpace")
	pane.waitDrawn("\x1b[D \x1b[D") // left, a space over the x, left again
	say("half a minute")
	pane.waitDrawn("half a minute")
	pane.waitDrawn(prompt + "hal") // redrawn below it
	lines := strings.Split(pane.screen(), "\n")
	last := strings.TrimRight(lines[len(lines)-1], " ")
	if last != prompt+"hal" {
		t.Errorf("bottom line = %q, want %q; screen:\n%s", last, prompt+"hal", strings.Join(lines, "\n"))
	}
	if len(lines) < 2 || !regexp.MustCompile(regexp.QuoteMeta(shown)+`$`).MatchString(strings.TrimRight(lines[len(lines)-2], " ")) {
		t.Errorf("line above the prompt = %q, want the message %q; screen:\n%s", lines[max(len(lines)-2, 0)], shown, strings.Join(lines, "\n"))
	}
	pane.run("send-keys", "-t", "t", "-l", "f")
	pane.run("send-keys", "-t", "t", "Enter")
}

// TestPromptCtrlC: Ctrl-C at the prompt (raw mode: no signal from the
// terminal) interrupts room join as SIGINT would: it says goodbye, the
// others see it leave, and it exits 130.
func TestPromptCtrlC(t *testing.T) {
	srv := startChild(t, "room", "serve", "127.0.0.1:0")
	addr := srv.expectErr(`listening on (\S+)`)[1]
	bob := startChild(t, "room", "join", addr, "--nick", "bob")
	bob.expectOut(`^\* nobody else is here yet$`)
	pane := startPane(t, "room", "join", addr, "--nick", "alice")
	pane.waitDrawn("alice> ")
	bob.expectOut(`^\* alice joined$`)
	pane.run("send-keys", "-t", "t", "-l", "half")
	pane.waitDrawn("half")
	pane.run("send-keys", "-t", "t", "C-c")
	pane.waitDrawn("interrupted; left")
	bob.expectOut(`^\* alice left$`)
	pane.waitDrawn("udpchat-exit=130")
}

// TestPromptCtrlCChat: Ctrl-C at chat's prompt ends it as Ctrl-C does
// elsewhere: the summary, and exit 130.
func TestPromptCtrlCChat(t *testing.T) {
	b := startChild(t, "chat", "--bind", "127.0.0.1:0")
	addr := b.expectErr(`listening on (\S+) \(UDP\)`)[1]
	pane := startPane(t, "chat", addr)
	pane.waitDrawn("> ")
	pane.run("send-keys", "-t", "t", "C-c")
	pane.waitDrawn("interrupted; bye")
	pane.waitDrawn("udpchat-exit=130")
}

// TestPromptLeavesNothing: chat ends ("exit", Ctrl-D, Ctrl-C) without
// leaving its prompt on the screen, where the shell's own would follow
// it ("> $"); a line half typed, never sent, stays as typed, and the
// cursor moves below it.
func TestPromptLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys [][]string // tmux send-keys arguments, in turn
		code int
		want []string // the screen's last lines
	}{
		{"exit", [][]string{{"-l", "exit"}, {"Enter"}}, 0, []string{"bye: sent 0 lines, received 0", "udpchat-exit=0"}},
		{"ctrl-d", [][]string{{"C-d"}}, 0, []string{"bye: sent 0 lines, received 0", "udpchat-exit=0"}},
		{"ctrl-c", [][]string{{"-l", "half"}, {"C-c"}}, 130, []string{"> half", "udpchat-exit=130"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startChild(t, "chat", "--bind", "127.0.0.1:0")
			addr := b.expectErr(`listening on (\S+) \(UDP\)`)[1]
			pane := startPane(t, "chat", addr)
			pane.waitDrawn("> ")
			for _, k := range tc.keys {
				pane.run(append([]string{"send-keys", "-t", "t"}, k...)...)
			}
			pane.waitDrawn(fmt.Sprintf("udpchat-exit=%d", tc.code))
			var lines []string
			for _, l := range strings.Split(pane.screen(), "\n") {
				lines = append(lines, strings.TrimRight(l, " "))
			}
			if len(lines) < len(tc.want) || !slices.Equal(lines[len(lines)-len(tc.want):], tc.want) {
				t.Errorf("the screen ends with %q, want %q; screen:\n%s", lines[max(len(lines)-len(tc.want), 0):], tc.want, strings.Join(lines, "\n"))
			}
		})
	}
}

// TestPromptZeroWidth: a terminal that reports no size (a pty nobody
// sized: `script` under a pipe, some CI runners and editors) gets the
// usual 80 columns, not one, which would break the line after every
// character typed.
func TestPromptZeroWidth(t *testing.T) {
	script := needTool(t, "script")
	bin, err := exec.LookPath("udpchat") // installed by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	// script's own stdin is a pipe: the pty it makes has no size.
	cmd := exec.Command(script, "-qfec", shellQuote(bin)+" chat "+peer.LocalAddr().String()+"; stty size", "/dev/null")
	cmd.Env = childEnv(cmd.Environ())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	screen := make(chan []byte, 64)
	go func() {
		defer close(screen)
		buf := make([]byte, 4096)
		for {
			n, err := out.Read(buf)
			if n > 0 {
				screen <- bytes.Clone(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	var seen []byte
	waitFor := func(s string) {
		t.Helper()
		timeout := time.After(exitTimeout)
		for !bytes.Contains(seen, []byte(s)) {
			select {
			case b, ok := <-screen:
				if !ok {
					t.Fatalf("output ended before %q: %q", s, seen)
				}
				seen = append(seen, b...)
			case <-timeout:
				t.Fatalf("%q not drawn within %v: %q", s, exitTimeout, seen)
			}
		}
	}
	waitFor("chatting with") // the terminal is in raw mode: type
	if _, err := io.WriteString(stdin, "hello\r"); err != nil {
		t.Fatal(err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(exitTimeout))
	buf := make([]byte, 100)
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("the peer got %q, %v; want hello", buf[:max(n, 0)], err)
	}
	if _, err := io.WriteString(stdin, "exit\r"); err != nil {
		t.Fatal(err)
	}
	waitFor("0 0\r\n") // stty size: the pty had no size indeed
	if !bytes.Contains(seen, []byte("> hello\r\n")) {
		t.Errorf("the line typed was not drawn as one line after the prompt: %q", seen)
	}
}
