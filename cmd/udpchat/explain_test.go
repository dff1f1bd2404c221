package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/nstest"
)

// sysCall is one system call on the socket, from strace or --explain.
type sysCall struct {
	name, key string // key: the name with what tells calls apart (option, flags, outcome)
	fd        int
	result    string // "5", "-1 EAGAIN"
	addr      string // bind, connect: the address given; getsockname, getpeername: the one returned; recvmsg, recvmmsg, sendmmsg: the first datagram's peer
}

// explainPeerRE finds the first datagram's peer in --explain's account
// of a call that moved datagrams ("= 1: 5 bytes from 127.0.0.1:41990").
var explainPeerRE = regexp.MustCompile(` (?:from|to) (\S+?),? `)

var (
	straceIPRE   = regexp.MustCompile(`inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"`)
	stracePortRE = regexp.MustCompile(`sin6?_port=htons\((\d+)\)`)
)

// straceSockaddr reads the first msg_name of strace's record of a
// recvmsg, recvmmsg or sendmmsg ("" when it shows none).
func straceSockaddr(arg string) string {
	i := strings.Index(arg, "msg_name={")
	if i < 0 {
		return ""
	}
	rest := arg[i+len("msg_name="):]
	if j := strings.Index(rest, "}"); j >= 0 {
		return sockaddr(rest[:j+1])
	}
	return ""
}

// sockaddr reads an address as strace shows it ({sa_family=AF_INET,
// sin_port=htons(0), sin_addr=inet_addr("127.0.0.1")}) or as --explain
// does (127.0.0.1:0), in one form; "" when s is neither.
func sockaddr(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return ""
		}
		return ap.String()
	}
	ip, port := straceIPRE.FindStringSubmatch(s), stracePortRE.FindStringSubmatch(s)
	if ip == nil || port == nil {
		return ""
	}
	a, err := netip.ParseAddr(ip[1] + ip[2])
	p, perr := strconv.ParseUint(port[1], 10, 16)
	if err != nil || perr != nil {
		return ""
	}
	return netip.AddrPortFrom(a, uint16(p)).String()
}

// splitArgs splits a call's arguments at the top-level commas.
func splitArgs(s string) []string {
	var args []string
	depth, quote, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote && c == '\\':
			i++
		case c == '"':
			quote = !quote
		case quote:
		case c == '{' || c == '[' || c == '(':
			depth++
		case c == '}' || c == ']' || c == ')':
			depth--
		case c == ',' && depth == 0:
			args = append(args, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(args, strings.TrimSpace(s[start:]))
}

var callRE = regexp.MustCompile(`^(\w+)\((.*)\)\s+=\s+(-1 [A-Z]+|-?\d+)`)

// parseCall reads "name(args) = result" and keys it; flagsAt says where
// a call's flags argument is (strace and --explain differ for recvmmsg).
func parseCall(line string, flagsAt map[string]int) (sysCall, bool) {
	m := callRE.FindStringSubmatch(line)
	if m == nil {
		return sysCall{}, false
	}
	c := sysCall{name: m[1], result: m[3]}
	args := splitArgs(m[2])
	switch c.name {
	case "bind", "connect":
		if len(args) >= 2 {
			c.addr = sockaddr(args[1])
		}
	case "recvmsg", "recvmmsg", "sendmmsg":
		if strings.HasPrefix(c.result, "-1") || len(args) < 2 {
			break
		}
		if strings.HasPrefix(args[1], "0x") || strings.HasPrefix(args[1], "{") || strings.HasPrefix(args[1], "[") {
			c.addr = straceSockaddr(args[1]) // strace: the first msg_name, if any
		} else if m := explainPeerRE.FindStringSubmatch(strings.Split(line[len(m[0]):], "Python:")[0]); m != nil {
			c.addr = sockaddr(m[1])
		}
	case "getsockname", "getpeername":
		if len(args) >= 2 { // strace: the address is the second argument
			c.addr = sockaddr(args[1])
		} else if rest, ok := strings.CutPrefix(line[len(m[0]):], ":"); ok { // --explain: "= 0: ADDR"
			if f := strings.Fields(rest); len(f) > 0 {
				c.addr = sockaddr(f[0])
			}
		}
	}
	c.fd, _ = strconv.Atoi(args[0])
	key := c.name
	switch c.name {
	case "socket":
		c.fd, _ = strconv.Atoi(m[3])
		key += "/" + args[0]
	case "setsockopt", "getsockopt":
		if len(args) >= 3 {
			key += "/" + args[1] + "/" + args[2]
		}
	case "recvmsg", "recvmmsg", "sendmmsg":
		if i, ok := flagsAt[c.name]; ok && i < len(args) {
			key += "/" + args[i]
		}
	}
	outcome := "ok"
	if strings.HasPrefix(c.result, "-1") {
		outcome = c.result
	}
	c.key = key + "/" + outcome
	return c, true
}

// straceCalls reads an strace -o file: the calls on the first UDP socket
// the program opened (Go's own probes of IPv6 support, TCP sockets, and
// writes to stdout and stderr are left out). Calls split by another
// thread's are joined.
func straceCalls(t *testing.T, path string) []sysCall {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unfinished := map[string]string{}
	pidRE := regexp.MustCompile(`^(\d+)\s+(.*)$`)
	flagsAt := map[string]int{"recvmsg": 2, "recvmmsg": 3, "sendmmsg": 3}
	var calls []sysCall
	fd := -1
	for _, line := range strings.Split(string(b), "\n") {
		m := pidRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		pid, rest := m[1], m[2]
		if strings.HasSuffix(rest, "<unfinished ...>") {
			unfinished[pid] = strings.TrimSuffix(rest, "<unfinished ...>")
			continue
		}
		if strings.HasPrefix(rest, "<... ") {
			if i := strings.Index(rest, " resumed>"); i >= 0 {
				rest = unfinished[pid] + rest[i+len(" resumed>"):]
				delete(unfinished, pid)
			}
		}
		c, ok := parseCall(rest, flagsAt)
		if !ok {
			continue
		}
		if fd < 0 {
			if c.name == "socket" && strings.Contains(rest, "SOCK_DGRAM") {
				fd = c.fd
				calls = append(calls, c)
			}
			continue
		}
		if c.fd == fd && c.name != "socket" {
			calls = append(calls, c)
		}
	}
	return calls
}

var tallyRE = regexp.MustCompile(`^\.\.\. (\d+) more (\w+)`)

// explainCalls reads --explain's lines: the calls shown, and how many
// more of each name were only counted.
func explainCalls(stderr string) (shown []sysCall, more map[string]int) {
	more = map[string]int{}
	flagsAt := map[string]int{"recvmsg": 2, "recvmmsg": 2, "sendmmsg": 2}
	for _, line := range strings.Split(stderr, "\n") {
		if m := tallyRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			more[m[2]] += n
			continue
		}
		if c, ok := parseCall(line, flagsAt); ok {
			shown = append(shown, c)
		}
	}
	return shown, more
}

// checkAgainstStrace compares --explain's account with strace's record of
// the same run: the calls shown are strace's, in strace's order, with the
// same descriptor and result, each kind's first few; and every call
// strace saw is either shown or counted in the tally.
func checkAgainstStrace(t *testing.T, what string, st []sysCall, stderr string) {
	t.Helper()
	shown, more := explainCalls(stderr)
	if len(shown) == 0 {
		t.Fatalf("%s: --explain printed no call:\n%s", what, stderr)
	}
	shownOf := map[string]int{}
	for _, c := range shown {
		shownOf[c.key]++
	}
	// strace's calls, each kind cut to the number --explain showed
	seen := map[string]int{}
	var want []sysCall
	byName := map[string]int{}
	for _, c := range st {
		seen[c.key]++
		if seen[c.key] <= shownOf[c.key] {
			want = append(want, c)
		} else {
			byName[c.name]++
		}
	}
	if len(want) != len(shown) {
		t.Errorf("%s: --explain showed %d calls, strace has %d of those kinds:\nexplain %v\nstrace  %v", what, len(shown), len(want), shown, st)
	}
	for i := range min(len(want), len(shown)) {
		w, g := want[i], shown[i]
		if w.key != g.key || w.fd != g.fd || w.result != g.result {
			t.Errorf("%s: call %d: --explain says %s(%d) = %s [%s], strace %s(%d) = %s [%s]", what, i+1, g.name, g.fd, g.result, g.key, w.name, w.fd, w.result, w.key)
		}
		if (w.name == "bind" || w.name == "connect") && w.addr == "" {
			t.Errorf("%s: call %d: no address in strace's %s", what, i+1, w.name)
		}
		if w.addr != g.addr {
			t.Errorf("%s: call %d: --explain says %s(%d, %s), strace %s(%d, %s)", what, i+1, g.name, g.fd, g.addr, w.name, w.fd, w.addr)
		}
	}
	for name, n := range byName {
		if more[name] != n {
			t.Errorf("%s: strace has %d more %s calls than --explain showed; its tally says %d", what, n, name, more[name])
		}
	}
	for name, n := range more {
		if byName[name] != n {
			t.Errorf("%s: --explain counted %d more %s calls; strace has %d", what, n, name, byName[name])
		}
	}
}

// straced starts udpchat under strace -f, recording the network calls and
// writes to a file.
func straced(t *testing.T, out string, args ...string) *exec.Cmd {
	t.Helper()
	strace := nstest.NeedTool(t, "strace")
	bin, err := exec.LookPath("udpchat")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(strace, append([]string{"-f", "-qq", "-e", "trace=network,write", "-e", "signal=none", "-o", out, bin}, args...)...)
	cmd.Env = childEnv(cmd.Environ())
	return cmd
}

// TestExplainAgreesWithStrace runs listen and send --wait (and ping)
// with --explain, under strace, and checks that each tells what strace
// saw: on 127.0.0.1, and on [::] (dual-stack, every option dgram sets:
// destination addresses, TTLs) with IPv6 clients.
func TestExplainAgreesWithStrace(t *testing.T) {
	t.Run("IPv4", func(t *testing.T) {
		lerr, serr := explainUnderStrace(t, []string{"listen", "127.0.0.1:0", "--echo", "--count", "5", "--explain"}, "",
			[]string{"send", "one", "two", "three", "--wait", "--timeout", "10s", "--explain"},
			// --pcap: ping asks for each reply's TTL, and says so
			[]string{"ping", "--count", "2", "--interval", "10ms", "--timeout", "10s", "--explain", "--pcap", filepath.Join(t.TempDir(), "ping.pcapng")})
		// the steps a student looks for are there, with Python and Go beside
		for _, want := range []string{"bind(", "Python: s.bind((\"127.0.0.1\",", "Go: net.ListenUDP", "recvmmsg(", "Python: data, addr = s.recvfrom(65536)", "sendmmsg("} {
			if !strings.Contains(lerr, want) {
				t.Errorf("listen --explain lacks %q:\n%s", want, lerr)
			}
		}
		for _, want := range []string{"connect(", "write(", "Python: s.send(data)", "recvmsg(", "EAGAIN", "(*net.UDPConn).Write: write(2)"} {
			if !strings.Contains(serr[0], want) {
				t.Errorf("send --explain lacks %q:\n%s", want, serr[0])
			}
		}
	})
	t.Run("IPv6", func(t *testing.T) {
		if !hasIPv6Loopback() {
			t.Skip("skipped: no IPv6 loopback here")
		}
		lerr, _ := explainUnderStrace(t, []string{"listen", "[::]:0", "--echo", "--count", "3", "--json", "--explain"}, "[::1]",
			[]string{"send", "a", "b", "--wait", "--timeout", "10s", "--explain"},
			[]string{"ping", "--count", "1", "--timeout", "10s", "--explain"})
		for _, want := range []string{"IPV6_V6ONLY, [0]", "IPV6_RECVPKTINFO", "IP_RECVTTL"} {
			if !strings.Contains(lerr, want) {
				t.Errorf("listen [::] --explain lacks %q:\n%s", want, lerr)
			}
		}
	})
	t.Run("IPv4 to [::]", func(t *testing.T) {
		if !hasIPv6Loopback() {
			t.Skip("skipped: no IPv6 loopback here")
		}
		// A dual-stack socket hears IPv4 peers as IPv4-mapped IPv6
		// addresses, and strace shows them so: so must --explain.
		lerr, _ := explainUnderStrace(t, []string{"listen", "[::]:0", "--echo", "--count", "2", "--explain"}, "127.0.0.1",
			[]string{"send", "a", "b", "--wait", "--timeout", "10s", "--explain"})
		if !strings.Contains(lerr, " from [::ffff:127.0.0.1]:") {
			t.Errorf("listen [::] --explain does not show its IPv4 peer as the kernel gives it:\n%s", lerr)
		}
	})
}

// explainUnderStrace runs a listener and then each client (its arguments
// after the command name are completed with the listener's address,
// on host when not empty), each under strace, and compares each one's
// --explain with strace's record. It returns what the listener and the
// clients wrote on stderr.
func explainUnderStrace(t *testing.T, listenArgs []string, host string, clients ...[]string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	lf := filepath.Join(dir, "listen.strace")
	listen := straced(t, lf, listenArgs...)
	var lerr bytes.Buffer
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	listen.Stderr = pw
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { _ = listen.Process.Kill(); _ = listen.Wait() })
	addr := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lerr.WriteString(sc.Text() + "\n")
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	var srv string
	select {
	case srv = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatal("listen under strace did not announce its address")
	}
	if host != "" {
		_, port, _ := strings.Cut(srv[strings.LastIndex(srv, "]")+1:], ":")
		if !strings.Contains(srv, "]") {
			_, port, _ = strings.Cut(srv, ":")
		}
		srv = host + ":" + port
	}
	type run struct {
		what, strace string
		stderr       bytes.Buffer
	}
	var runs []*run
	for i, args := range clients {
		r := &run{what: args[0], strace: filepath.Join(dir, fmt.Sprintf("client%d.strace", i))}
		cmd := straced(t, r.strace, append([]string{args[0], srv}, args[1:]...)...)
		cmd.Stderr = &r.stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v: %s", args[0], err, r.stderr.String())
		}
		runs = append(runs, r)
	}
	if err := listen.Wait(); err != nil {
		t.Fatalf("listen: %v: %s", err, lerr.String())
	}
	<-done
	var errs []string
	for _, r := range append(runs, &run{what: "listen", strace: lf, stderr: lerr}) {
		st := straceCalls(t, r.strace)
		t.Logf("%s: strace saw %d calls on the socket", r.what, len(st))
		if len(st) < 6 {
			t.Errorf("%s: strace saw only %d calls: %v", r.what, len(st), st)
		}
		checkAgainstStrace(t, r.what, st, r.stderr.String())
		errs = append(errs, r.stderr.String())
	}
	return lerr.String(), errs
}

// TestExplainTally: after the first few calls of a kind, the rest are
// counted, and the tally at the end says how many and what they moved.
func TestExplainTally(t *testing.T) {
	l := startChild(t, "listen", "127.0.0.1:0", "--count", "20")
	srv := l.expectErr(`listening on (\S+)`)[1]
	code, _, errs := runCLI(t, "", "send", srv, "--count", "20", "--size", "10", "--explain")
	if code != 0 {
		t.Fatalf("send: exit %d: %s", code, errs)
	}
	if got := strings.Count("\n"+errs, "\nwrite("); got != explainShown {
		t.Errorf("%d write lines, want %d:\n%s", got, explainShown, errs)
	}
	want := fmt.Sprintf("... %d more write: %d datagrams, %d bytes", 20-explainShown, 20-explainShown, 10*(20-explainShown))
	if !strings.Contains(errs, want) {
		t.Errorf("send --explain's tally lacks %q:\n%s", want, errs)
	}
	l.wait()
	if code, _, _ := runCLI(t, "", "listen", "--reliable", "--explain"); code != 2 {
		t.Errorf("listen --reliable --explain: exit %d, want 2", code)
	}
}
