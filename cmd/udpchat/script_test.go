package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary run as `udpchat` inside the transcripts of
// testdata/script (github.com/rogpeppe/go-internal/testscript).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"udpchat": func() {
			ctx, stop := signalContext()
			code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
			stop()
			os.Exit(code)
		},
	})
}

// TestScripts runs the CLI transcripts. Update expectations by editing the
// .txtar files; `go test ./cmd/udpchat -run TestScripts/NAME -v` runs one.
func TestScripts(t *testing.T) {
	// Runs after every transcript (they run in parallel subtests).
	t.Cleanup(func() { writeReadmeUpdates(t) })
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("..", "..", "testdata", "script"),
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "1")
			env.Setenv("GORACE", goraceEnv())
			env.Values[procsKey{}] = &procs{m: map[string]*proc{}}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "ipv6":
				return hasIPv6Loopback(), nil
			case "root":
				return os.Geteuid() == 0, nil
			}
			if name, ok := strings.CutPrefix(cond, "tool:"); ok {
				return haveTool(name)
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"start":       cmdStart,
			"await":       cmdAwait,
			"signal":      cmdSignal,
			"code":        cmdCode,
			"rawsend":     cmdRawSend,
			"freeport":    cmdFreePort,
			"closedport":  cmdClosedPort,
			"relay":       cmdRelay,
			"echoserver":  cmdEchoServer,
			"term":        cmdTerm,
			"show":        cmdShow,
			"readme":      cmdReadme,
			"waitfor":     cmdWaitFor,
			"netpath":     cmdNetpath,
			"roomsession": cmdRoomSession,
			"chatsession": cmdChatSession,
		},
	})
}

// Timeouts that bound every wait in the transcripts. They are generous:
// a test that hits one has failed, they never decide a pass.
const (
	readyTimeout = 10 * time.Second
	exitTimeout  = 30 * time.Second
)

type procsKey struct{}

type procs struct {
	mu sync.Mutex
	m  map[string]*proc
}

type proc struct {
	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	done   chan struct{}
	err    error
	term   *termOpts // start -term: a README example's terminal
}

type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed at the next write
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return l.b.Write(p)
}

// waitFor waits until the buffer's text matches re, or the deadline.
func (l *lockedBuffer) waitFor(re *regexp.Regexp, deadline <-chan time.Time) bool {
	for {
		l.mu.Lock()
		if re.Match(l.b.Bytes()) {
			l.mu.Unlock()
			return true
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func scriptProcs(ts *testscript.TestScript) *procs { return ts.Value(procsKey{}).(*procs) }

// readyRE finds the address a command announces on stderr once its socket
// is open.
var readyRE = regexp.MustCompile(`(?:listening|proxying) on (\S+)`)

// cmdStart runs `start [-term OUT [-show TEXT] [-bg] [-ready RE]] NAME PROG ARGS...`:
// PROG in the background, waiting until it announces "listening on ADDR"
// on stderr, then sets $NAME to ADDR and $NAME_PORT to its port. With -term, stdout and stderr are
// merged, as on a terminal, for a README example (see readme_test.go).
func cmdStart(ts *testscript.TestScript, neg bool, args []string) {
	term, args := parseStartOpts(ts, args)
	if neg || len(args) < 2 {
		ts.Fatalf("usage: start [-term OUT [-show TEXT] [-bg] [-ready REGEXP]] NAME PROG [ARGS...]")
	}
	name := args[0]
	path, err := lookPath(ts, args[1])
	ts.Check(err)
	p := &proc{cmd: exec.Command(path, args[2:]...), done: make(chan struct{}), term: term}
	p.cmd.Dir = ts.MkAbs(".")
	p.cmd.Env = childEnv(append(os.Environ(), "PATH="+ts.Getenv("PATH")))
	ready := make(chan string, 1)
	copied := make(chan struct{})
	if term != nil && term.out != "" {
		line := displayLine(term.show, args[1:])
		if term.bg {
			line = strings.TrimSuffix(line, "\n") + " &\n"
		}
		appendFile(ts, term.out, line)
		merged, err := p.cmd.StdoutPipe()
		ts.Check(err)
		p.cmd.Stderr = p.cmd.Stdout
		ts.Check(p.cmd.Start())
		go func() {
			defer close(copied)
			scanMerged(merged, &p.stdout, term.ready, ready)
		}()
	} else {
		var also *regexp.Regexp // start -ready RE: a program that announces differently
		if term != nil {
			also = term.ready
		}
		p.cmd.Stdout = &p.stdout
		stderr, err := p.cmd.StderrPipe()
		ts.Check(err)
		ts.Check(p.cmd.Start())
		go func() {
			defer close(copied)
			scanMerged(stderr, &p.stderr, also, ready)
		}()
	}
	go func() {
		<-copied // all of the output read before Wait closes the pipe
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	ps := scriptProcs(ts)
	ps.mu.Lock()
	ps.m[name] = p
	ps.mu.Unlock()
	ts.Defer(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case addr := <-ready:
		if addr == "" {
			break // ready by -ready, with no address announced
		}
		ts.Setenv(name, addr)
		if ap, err := netip.ParseAddrPort(addr); err == nil {
			ts.Setenv(name+"_PORT", strconv.Itoa(int(ap.Port())))
		}
	case <-p.done:
		ts.Fatalf("%s exited before it was ready: %v\nstderr:\n%s", name, p.err, p.stderr.String()+p.stdout.String())
	case <-time.After(readyTimeout):
		ts.Fatalf("%s not ready within %v\nstderr:\n%s", name, readyTimeout, p.stderr.String()+p.stdout.String())
	}
}

func lookPath(ts *testscript.TestScript, prog string) (string, error) {
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, prog)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH", prog)
}

func getProc(ts *testscript.TestScript, name string) *proc {
	ps := scriptProcs(ts)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.m[name]
	if p == nil {
		ts.Fatalf("no process %q was started", name)
	}
	return p
}

// cmdAwait runs `[!] await NAME [CODE]`: waits for NAME to exit, makes its
// stdout and stderr the current ones, and checks its exit status (0, or
// CODE, or with ! any failure).
func cmdAwait(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: await NAME [CODE]")
	}
	p := getProc(ts, args[0])
	select {
	case <-p.done:
	case <-time.After(exitTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		ts.Fatalf("%s did not exit within %v\nstderr:\n%s", args[0], exitTimeout, p.stderr.String())
	}
	fmt.Fprint(ts.Stdout(), p.stdout.String())
	fmt.Fprint(ts.Stderr(), p.stderr.String())
	if p.term != nil && p.term.out != "" && !p.term.bg {
		appendFile(ts, p.term.out, p.stdout.String())
	}
	checkStatus(ts, neg, args[1:], p.cmd.ProcessState.ExitCode())
}

func checkStatus(ts *testscript.TestScript, neg bool, want []string, got int) {
	switch {
	case len(want) == 1:
		w, err := strconv.Atoi(want[0])
		ts.Check(err)
		if got != w {
			ts.Fatalf("exit status %d, want %d", got, w)
		}
	case neg && got == 0:
		ts.Fatalf("unexpected success")
	case !neg && got != 0:
		ts.Fatalf("exit status %d, want 0", got)
	}
}

// cmdSignal runs `signal NAME SIG`, SIG being INT or TERM.
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal NAME INT|TERM")
	}
	p := getProc(ts, args[0])
	sig := map[string]os.Signal{"INT": os.Interrupt, "TERM": syscall.SIGTERM}[args[1]]
	if sig == nil {
		ts.Fatalf("unknown signal %q", args[1])
	}
	ts.Check(p.cmd.Process.Signal(sig))
}

// cmdCode runs `code N PROG ARGS...`: PROG in the foreground, expecting exit
// status N exactly.
func cmdCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: code N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	path, err := lookPath(ts, args[1])
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = childEnv(append(os.Environ(), "PATH="+ts.Getenv("PATH")))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	fmt.Fprint(ts.Stdout(), stdout.String())
	fmt.Fprint(ts.Stderr(), stderr.String())
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		ts.Fatalf("%v", err)
	}
	if got := cmd.ProcessState.ExitCode(); got != want {
		ts.Fatalf("exit status %d, want %d\nstderr:\n%s", got, want, stderr.String())
	}
}

// cmdRawSend runs `rawsend ADDR HEX...`: sends each hex string as one
// datagram from a plain socket of the test, as any other peer would.
func cmdRawSend(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: rawsend ADDR HEX...")
	}
	c, err := net.Dial("udp", args[0])
	ts.Check(err)
	defer c.Close()
	for _, h := range args[1:] {
		b, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
		ts.Check(err)
		_, err = c.Write(b)
		ts.Check(err)
	}
}

// cmdFreePort runs `freeport VAR [HOST]`: sets $VAR to HOST:PORT where
// nothing listens (a port the kernel just handed out and was closed), and
// $VAR_PORT to its port: a port for a program of the script to bind. For
// an address where nobody listens, closedport: another test may bind
// this one meanwhile.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: freeport VAR [HOST]")
	}
	host := "127.0.0.1"
	if len(args) == 2 {
		host = args[1]
	}
	c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	ts.Check(err)
	addr := c.LocalAddr().(*net.UDPAddr)
	ts.Check(c.Close())
	ts.Setenv(args[0], addr.String())
	ts.Setenv(args[0]+"_PORT", strconv.Itoa(addr.Port))
}

// cmdClosedPort is `closedport VAR [HOST]`: an address where nobody
// listens, and nobody will while the script runs. A port freeport found
// free may be taken by any other test's socket before it is used (one
// such answered a "nobody listening" ping); this one stays bound, by a
// socket connected to HOST's port 1, which takes no datagram from anyone
// else: the kernel answers them with ICMP port unreachable, as it does
// for a port nobody has.
func cmdClosedPort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: closedport VAR [HOST]")
	}
	host := "127.0.0.1"
	if len(args) == 2 {
		host = args[1]
	}
	c, err := net.Dial("udp", net.JoinHostPort(host, "1"))
	ts.Check(err)
	ts.Defer(func() { c.Close() })
	addr := c.LocalAddr().(*net.UDPAddr)
	ts.Setenv(args[0], addr.String())
	ts.Setenv(args[0]+"_PORT", strconv.Itoa(addr.Port))
}

// haveTool is the condition [tool:NAME]: whether the program NAME is
// installed. Under CI (which installs what the transcripts need, see
// .ci/run) a missing program is an error rather than a skip.
func haveTool(name string) (bool, error) {
	if _, err := exec.LookPath(name); err == nil {
		return true, nil
	}
	if os.Getenv("CI") != "" {
		return false, fmt.Errorf("%s is not installed, and CI should have installed it (.ci/run)", name)
	}
	return false, nil
}

// hasIPv6Loopback reports whether ::1 can be bound here.
func hasIPv6Loopback() bool {
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// childEnv is the environment of udpchat processes started by tests: no
// colour, and no race-detector pause at exit (GORACE's atexit_sleep_ms
// defaults to a second per process).
func childEnv(env []string) []string {
	return append(env, "NO_COLOR=1", "GORACE="+goraceEnv())
}

func goraceEnv() string {
	return strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
}
