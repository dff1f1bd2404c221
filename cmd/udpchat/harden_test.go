package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/bench"
	"github.com/udpchat/udpchat/dgram/guard"
	"github.com/udpchat/udpchat/dgram/nstest"
	"github.com/udpchat/udpchat/dgram/seal"
	"github.com/udpchat/udpchat/dgram/seq"
)

// leaksSecret reports whether out shows any 8 consecutive characters of
// secret.
func leaksSecret(out, secret string) bool {
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(out, secret[i:i+8]) {
			return true
		}
	}
	return false
}

// runProcess runs udpchat as a process of its own, with env added to the
// test's environment (UDPCHAT_KEY_FILE removed), and returns its exit
// status and output.
func runProcess(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	bin, err := exec.LookPath("udpchat")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	for _, e := range childEnv(cmd.Environ()) {
		if !strings.HasPrefix(e, "UDPCHAT_KEY") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// TestSecretsNeverShown gives udpchat mistyped keys in every place a key
// goes (UDPCHAT_KEY, --key-file, a key file's content): each is a usage
// error that never repeats any part of the key, and none suggests running
// keygen with the key as the file name.
func TestSecretsNeverShown(t *testing.T) {
	const key = "7f3a9c0d5e1b2a4c6d8e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e" // 64 digits
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte(key[:63]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.key")
	if err := os.WriteFile(typo, []byte(key[:20]+"g"+key[21:]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  string // UDPCHAT_KEY
		args []string
		want string
	}{
		{"env: 63 digits", key[:63], nil, "UDPCHAT_KEY holds 63 hex digits, which is not a key: a key is 64 hex digits"},
		{"env: 65 digits", key + "0", nil, "UDPCHAT_KEY holds 65 hex digits, which is not a key"},
		{"env: a typo", key[:20] + "g" + key[21:], nil, "UDPCHAT_KEY is neither a key (64 hex digits) nor the path of a key file"},
		{"env: 30 digits", key[:30], nil, "UDPCHAT_KEY holds 30 hex digits, which is not a key"},
		{"flag: the key as a path", "", []string{"--key-file", key[:63]}, "its name looks like a key itself"},
		{"flag: the whole key as a path", "", []string{"--key-file", key}, "its name looks like a key itself"},
		{"file: 63 digits", "", []string{"--key-file", short}, "not a udpchat key: expected 64 hex digits"},
		{"file: a typo", "", []string{"--key-file", typo}, "not a udpchat key: expected 64 hex digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"send", "127.0.0.1:9"}, tc.args...)
			code, out, errOut := runProcess(t, []string{"UDPCHAT_KEY=" + tc.env}, append(args, "hi")...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
			if leaksSecret(out+errOut, key) {
				t.Errorf("the output shows part of the key: %q", out+errOut)
			}
			if strings.Contains(errOut, "keygen "+key[:8]) {
				t.Errorf("the hint suggests keygen with the key: %q", errOut)
			}
		})
	}
}

// hostile is a payload a terminal would obey if shown raw: the 8-bit CSI
// (U+009B) starting "red", another C1 control, DEL and a C0 escape.
const hostile = "a\u009b31mred\u0085x\u007fy\x1b[0m"

// rawControls reports whether b carries DEL or a C1 control unescaped.
func rawControls(b string) bool {
	for i := 0; i < len(b); i++ {
		if b[i] == 0x7f || b[i] == 0x1b || b[i] == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f {
			return true
		}
	}
	return false
}

func TestJSONStringEscapes(t *testing.T) {
	got := string(appendJSONString(nil, []byte(hostile+"é\u00a0\"\\")))
	want := `"a\u009b31mred\u0085x\u007fy\u001b[0mé` + "\u00a0" + `\"\\"`
	if got != want {
		t.Errorf("appendJSONString(%q) = %s, want %s", hostile, got, want)
	}
	var sb strings.Builder
	js := newJSONWriter(&sb)
	if err := js.write(map[string]string{"data": hostile + "é"}); err != nil {
		t.Fatal(err)
	}
	if want := `{"data":"a\u009b31mred\u0085x\u007fy\u001b[0mé"}` + "\n"; sb.String() != want {
		t.Errorf("jsonWriter wrote %s, want %s", sb.String(), want)
	}
	var back map[string]string
	if err := json.Unmarshal([]byte(sb.String()), &back); err != nil || back["data"] != hostile+"é" {
		t.Errorf("round trip: %q, %v", back["data"], err)
	}
}

// TestJSONOutputEscapesControls sends payloads with C1 controls and DEL to
// `listen --json` (plain and --seq) and `listen --echo`, and reads the
// JSON of listen and of `send --wait --json`: the controls arrive escaped,
// and the JSON decodes back to the exact payload.
func TestJSONOutputEscapesControls(t *testing.T) {
	for _, mode := range []string{"plain", "seq"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{"listen", "127.0.0.1:0", "--json", "--echo", "--count", "1"}
			sendArgs := []string{"--wait", "--json"}
			if mode == "seq" {
				args = append(args, "--seq")
				sendArgs = append(sendArgs, "--seq")
			}
			l := startChild(t, args...)
			addr := l.expectErr(`listening on (\S+) \(UDP\)`)[1]
			code, out, errOut := runCLI(t, "", append(append([]string{"send", addr}, sendArgs...), hostile)...)
			if code != 0 {
				t.Fatalf("send: exit %d: %s", code, errOut)
			}
			line := l.expectOut(`^.*"type":"datagram".*$`)[0]
			checked := 0
			for _, got := range append(strings.Split(strings.TrimSpace(out), "\n"), line) {
				if rawControls(got) {
					t.Errorf("raw control characters in JSON: %q", got)
				}
				if !strings.Contains(got, `"data":`) {
					continue // the summary; or a reply with its header, not UTF-8, in data_hex
				}
				checked++
				if !strings.Contains(got, `\u009b31mred\u0085x\u007fy\u001b[0m`) {
					t.Errorf("JSON lacks the escaped payload: %s", got)
				}
				if m := jsonLine(t, got); !strings.HasSuffix(m["data"].(string), hostile) {
					t.Errorf("data decodes to %q, want it to end with %q", m["data"], hostile)
				}
			}
			// sent, reply and listen's datagram; with --seq the reply starts
			// with the binary header, which is valid UTF-8 or not
			// depending on its time stamp (data or data_hex)
			want := 3
			if mode == "seq" {
				want = 2
			}
			if checked < want {
				t.Errorf("%d JSON objects carried the payload as text, want %d", checked, want)
			}
		})
	}
}

// TestEchoGuardHonestClients: with the default guard, clients at
// interactive and test rates get every reply: ping every 5 ms, one
// repeated payload every 5 ms (send --wait), and 1,000 datagrams a
// second. A client that outruns --echo-rate is told the server may be
// rate limiting, not that it is not an echo server.
//
// A loaded machine may stall the listener, or the sender, for 256 of
// those 1ms intervals: the same payload then arrives 256 times back to
// back, each on the heels of the reply to the one before, which is what
// a loop looks like; the guard refuses one reply, by design, and the
// client, sending again, is known from then on (package guard checks
// both cases in virtual time: a client at its pace loses nothing, one
// catching up loses one reply). So a repeating client may miss one
// reply, and only to the loop check; every other reply comes.
func TestEchoGuardHonestClients(t *testing.T) {
	l := startFlood(t, "listen", "127.0.0.1:0", "--echo", "--json")
	addr := <-l.ready

	code, out, errOut := runCLI(t, "", "ping", addr, "--interval", "5ms", "--count", "400", "--json")
	if code != 0 {
		t.Fatalf("ping: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sum := jsonLine(t, lines[len(lines)-1])
	if sum["received"] != float64(400) {
		t.Errorf("ping --interval 5ms: %v", sum)
	}
	missed := 0 // replies the repeating clients missed, one each at most
	for _, tc := range []struct{ count, interval string }{{"300", "5ms"}, {"2000", "1ms"}} {
		code, _, errOut = runCLI(t, "", "send", addr, "--count", tc.count, "--interval", tc.interval, "--wait", "--timeout", "2s", "the same payload")
		n, _ := strconv.Atoi(tc.count)
		switch {
		case code == 0 && strings.Contains(errOut, fmt.Sprintf(" %d replies", n)):
		case code == 1 && strings.Contains(errOut, fmt.Sprintf(" %d replies", n-1)) && strings.Contains(errOut, fmt.Sprintf("no reply to 1 of %d datagrams", n)):
			missed++
			t.Logf("send --count %s --interval %s: one reply missed (a stall made it look like a loop for a moment)", tc.count, tc.interval)
		default:
			t.Errorf("send --count %s --interval %s --wait of one payload: exit %d: %s", tc.count, tc.interval, code, lastLines(errOut, 3))
		}
	}
	fin := l.summary(t)
	if sup := fin["echo_suppressed"].(map[string]any); sup["source_rate"] != float64(0) || sup["loop"] != float64(missed) {
		t.Errorf("the guard held back honest replies (%d missed by the senders): %v", missed, fin)
	}

	// A client faster than --echo-rate: its replies stop, and it is told why.
	r := startChild(t, "listen", "127.0.0.1:0", "--echo", "--echo-rate", "5")
	raddr := r.expectErr(`listening on (\S+) \(UDP\)`)[1]
	code, _, errOut = runCLI(t, "", "send", raddr, "--count", "10", "--wait", "--timeout", "100ms", "x")
	if code != 1 || !regexp.MustCompile(`no reply to \d of 10 datagrams`).MatchString(errOut) || !strings.Contains(errOut, "it may be rate limiting") ||
		strings.Contains(errOut, "is the listener running with --echo") {
		t.Errorf("send past --echo-rate: exit %d: %s", code, lastLines(errOut, 2))
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// countUntilQuiet reads datagrams on c until none comes for quiet (or,
// bounding a broken test, for exitTimeout in all) and returns how many
// datagrams and bytes arrived.
func countUntilQuiet(c *net.UDPConn, quiet time.Duration) (n, bytes int) {
	buf := make([]byte, 65536)
	end := time.Now().Add(exitTimeout)
	for time.Now().Before(end) {
		c.SetReadDeadline(time.Now().Add(quiet))
		k, err := c.Read(buf)
		if err != nil {
			break
		}
		n++
		bytes += k
	}
	return n, bytes
}

// TestEchoSpoofedFlood forges 20,000 datagrams "from" a victim address to
// `listen --echo`, and then one from each of 5,000 victims: the victims
// receive no more bytes than were sent in their name (echo amplifies 1x at
// most) and, for the single victim, no more than the per-source bucket
// allows.
func TestEchoSpoofedFlood(t *testing.T) {
	sp := nstest.NewSpoofer(t)
	l := startFlood(t, "listen", "127.0.0.1:0", "--echo", "--json", "--rcvbuf", "8M")
	dst := netip.MustParseAddrPort(<-l.ready)
	victim := udpSocket(t, "127.66.0.1:0")
	victim.SetReadBuffer(8 << 20)
	vaddr := victim.LocalAddr().(*net.UDPAddr).AddrPort()
	payload := make([]byte, 100)
	const flood = 20_000
	start := time.Now()
	for i := range flood {
		binary.BigEndian.PutUint32(payload, uint32(i))
		if err := sp.Send(vaddr, dst, payload); err != nil {
			t.Fatal(err)
		}
	}
	n, got := countUntilQuiet(victim, 300*time.Millisecond)
	elapsed := time.Since(start)
	limit := guard.DefaultPerSource + int(guard.DefaultPerSource*elapsed.Seconds()) + 1
	t.Logf("one victim: %d datagrams forged (%d bytes) in its name, it received %d (%d bytes): %.3fx, in %v",
		flood, flood*len(payload), n, got, float64(got)/float64(flood*len(payload)), elapsed)
	if n == 0 || n > limit {
		t.Errorf("the victim received %d replies in %v, want 1 to %d", n, elapsed, limit)
	}
	// Many victims, one datagram each: each gets at most its one echo.
	victims := make([]*net.UDPConn, 50)
	for i := range victims {
		victims[i] = udpSocket(t, fmt.Sprintf("127.67.0.%d:0", i+1))
	}
	for i := range 5000 {
		v := victims[i%len(victims)].LocalAddr().(*net.UDPAddr).AddrPort()
		if err := sp.Send(v, dst, payload); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for _, v := range victims {
		k, b := countUntilQuiet(v, 200*time.Millisecond)
		if b > 100*len(payload) {
			t.Errorf("victim %v received %d bytes for %d forged in its name", v.LocalAddr(), b, 100*len(payload))
		}
		total += k
	}
	t.Logf("50 victims: 5000 forged datagrams, %d echoes (%.3fx)", total, float64(total)/5000)
	sum := l.summary(t)
	if sum["datagrams"].(float64)+sum["rcvbuf_drops"].(float64) != float64(flood+5000) {
		t.Errorf("the listener saw %v of %d datagrams: %v", sum["datagrams"], flood+5000, sum)
	}
}

// summary interrupts the child and returns its last JSON summary.
func (c *floodChild) summary(t *testing.T) map[string]any {
	t.Helper()
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(exitTimeout):
		t.Fatal("the child did not exit after SIGINT")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sums) == 0 {
		t.Fatal("no summary")
	}
	return jsonLine(t, c.sums[len(c.sums)-1])
}

// controlDatagram is a bench control message as a client sends it.
func controlDatagram(c bench.Control) []byte {
	b := seq.Header{Type: bench.TypeControl}.Append(nil)
	j, _ := json.Marshal(c)
	return append(b, j...)
}

// readControl reads bench control messages on c until one comes or quiet
// passes; ok is false if none came.
func readControl(t *testing.T, c *net.UDPConn, quiet time.Duration) (bench.Control, bool) {
	t.Helper()
	buf := make([]byte, 65536)
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		if err != nil {
			return bench.Control{}, false
		}
		h, body, err := seq.Decode(buf[:n])
		if err != nil || h.Type != bench.TypeControl {
			continue
		}
		var ctl bench.Control
		if err := json.Unmarshal(body, &ctl); err != nil {
			t.Fatalf("bad control message %q", body)
		}
		return ctl, true
	}
}

// TestBenchServerSpoofed runs `bench server` and forges, in a victim's
// name (raw sockets), the hello of the issue (a report every nanosecond,
// busy polling), short hellos, probes, stops and data: the victim gets
// retries only, never more than 3 times the bytes sent in its name. A
// probe forged from another bench server's address draws nothing (no
// ping-pong), and a client's test runs to its end whatever others send.
func TestBenchServerSpoofed(t *testing.T) {
	sp := nstest.NewSpoofer(t)
	srv := startChild(t, "bench", "server", "127.0.0.1:0")
	dst := netip.MustParseAddrPort(srv.expectErr(`listening on (\S+) \(UDP\)`)[1])
	victim := udpSocket(t, "127.77.0.1:0")
	victim.SetReadBuffer(8 << 20)
	vaddr := victim.LocalAddr().(*net.UDPAddr).AddrPort()

	issue := controlDatagram(bench.Control{Op: "hello", Mode: "throughput", Size: 1400, IntervalS: 1e-9, Busy: true})
	issue = append(issue, bytes.Repeat([]byte(" "), max(0, 252-len(issue)))...) // 252 bytes, as in the issue
	kinds := [][]byte{
		issue,
		append(seq.Header{Type: bench.TypeControl}.Append(nil), `{"op":"hello"}`...), // the smallest hello
		controlDatagram(bench.Control{Op: "stop"}),
		seq.Header{Type: bench.TypeProbe, Seq: 1}.Append(make([]byte, 0, 64)),
		append(seq.Header{Type: seq.TypeData, Seq: 5}.Append(nil), make([]byte, 1000)...),
	}
	forged, forgedBytes := 0, 0
	for i := range 2000 {
		d := kinds[i%len(kinds)]
		if err := sp.Send(vaddr, dst, d); err != nil {
			t.Fatal(err)
		}
		forged++
		forgedBytes += len(d)
	}
	got, gotBytes := 0, 0
	buf := make([]byte, 65536)
	for {
		victim.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := victim.Read(buf)
		if err != nil {
			break
		}
		got++
		gotBytes += n
		h, body, err := seq.Decode(buf[:n])
		if err != nil || h.Type != bench.TypeControl || !bytes.Contains(body, []byte(`"op":"retry"`)) {
			t.Fatalf("the victim received %q", buf[:n])
		}
	}
	t.Logf("bench server: %d datagrams (%d bytes) forged in the victim's name, it received %d (%d bytes): %.3fx",
		forged, forgedBytes, got, gotBytes, float64(gotBytes)/float64(forgedBytes))
	// only hellos are answered: 2 of 5 kinds, each with one retry
	if got > 2*forged/5 || gotBytes > bench.Amplification*(len(kinds[0])+len(kinds[1]))*forged/5 {
		t.Errorf("%d replies, %d bytes to the victim", got, gotBytes)
	}
	if got > 0 {
		t.Logf("worst case: the smallest hello, %d bytes, draws a retry of %d bytes: %.2fx", len(kinds[1]), gotBytes/got,
			float64(gotBytes/got)/float64(len(kinds[1])))
	}

	// Two bench servers and one forged probe: no ping-pong.
	other := startChild(t, "bench", "server", "127.0.0.1:0")
	oaddr := netip.MustParseAddrPort(other.expectErr(`listening on (\S+) \(UDP\)`)[1])
	if err := sp.Send(oaddr, dst, kinds[3]); err != nil {
		t.Fatal(err)
	}

	// A client's test, with a forged stop and a hello from a stranger
	// while it runs: the test completes, the stranger is refused.
	cl := startChild(t, "bench", "client", dst.String(), "--duration", "1500ms", "--rate", "2000pps", "--interval", "500ms", "--json")
	cl.expectOut(`"type":"interval"`)
	stranger := udpSocket(t, "127.0.0.1:0")
	dstUDP := net.UDPAddrFromAddrPort(dst)
	stranger.WriteTo(controlDatagram(bench.Control{Op: "hello", Mode: "throughput"}), dstUDP)
	retry, ok := readControl(t, stranger, 5*time.Second)
	if !ok || retry.Op != "retry" {
		t.Fatalf("the stranger's hello: %+v", retry)
	}
	stranger.WriteTo(controlDatagram(bench.Control{Op: "hello", Mode: "throughput", Token: retry.Token}), dstUDP)
	if r, ok := readControl(t, stranger, 5*time.Second); !ok || r.Op != "refused" {
		t.Errorf("a stranger's validated hello during a test: %+v", r)
	}
	stranger.WriteTo(controlDatagram(bench.Control{Op: "stop"}), dstUDP)
	sp.Send(netip.MustParseAddrPort("127.0.0.1:1"), dst, controlDatagram(bench.Control{Op: "stop"}))
	if r, ok := readControl(t, stranger, 300*time.Millisecond); ok {
		t.Errorf("a stranger's stop drew %+v", r)
	}
	sum := jsonLine(t, cl.expectOut(`^.*"type":"summary".*$`)[0])
	if code := cl.wait(); code != 0 || sum["sent"].(float64) == 0 || sum["received"] != sum["sent"] {
		t.Errorf("the client's test, hijack attempted: exit %d, %v", code, sum)
	}
}

// TestBenchServerSilentClient: a client that validates, asks for a
// busy-polling test with reports every 100ms, and vanishes: within the
// 3s silence the reports stop and the server stops spinning.
func TestBenchServerSilentClient(t *testing.T) {
	srv := startChild(t, "bench", "server", "127.0.0.1:0")
	dst, _ := net.ResolveUDPAddr("udp", srv.expectErr(`listening on (\S+) \(UDP\)`)[1])
	c := udpSocket(t, "127.0.0.1:0")
	hello := bench.Control{Op: "hello", Mode: "throughput", IntervalS: 0.1, Busy: true}
	c.WriteTo(controlDatagram(hello), dst)
	retry, ok := readControl(t, c, 5*time.Second)
	if !ok || retry.Op != "retry" {
		t.Fatalf("hello: %+v", retry)
	}
	hello.Token = retry.Token
	c.WriteTo(controlDatagram(hello), dst)
	if r, ok := readControl(t, c, 5*time.Second); !ok || r.Op != "ready" {
		t.Fatalf("hello with the token: %+v", r)
	}
	start := time.Now()
	reports := 0
	for {
		r, ok := readControl(t, c, time.Second)
		if !ok {
			if time.Since(start) < bench.DefaultSilence {
				continue // a pause of a loaded machine: the server cannot have given up yet
			}
			break
		}
		if r.Op == "interval" {
			reports++
		}
		if time.Since(start) > exitTimeout {
			t.Fatal("the reports never stop")
		}
	}
	ended := time.Since(start) - time.Second
	cpu0 := cpuTicks(t, srv.cmd.Process.Pid)
	// one second of the server alone: it must not be spinning
	c.SetReadDeadline(time.Now().Add(time.Second))
	if n, _ := c.Read(make([]byte, 100)); n > 0 {
		t.Error("a datagram after the test ended")
	}
	spent := cpuTicks(t, srv.cmd.Process.Pid) - cpu0
	t.Logf("%d reports; the test ended about %v after the client went silent; then %d ticks of CPU in 1s", reports, ended.Round(100*time.Millisecond), spent)
	if reports > 40 || spent > 30 {
		t.Errorf("%d reports to a vanished client, %d CPU ticks a second after", reports, spent)
	}
}

// cpuTicks is a process's user and system CPU time, in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

// firstDatagram runs a udpchat client pointed at a socket of the test's
// and returns the first datagram it sends: what a real client opens with.
func firstDatagram(t *testing.T, args ...string) []byte {
	t.Helper()
	c := udpSocket(t, "127.0.0.1:0")
	for i, a := range args {
		if a == "CAPTURE" {
			args[i] = c.LocalAddr().String()
		}
	}
	cl := startChild(t, args...)
	defer func() { cl.cmd.Process.Kill(); cl.cmd.Wait() }()
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(exitTimeout))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("%v sent nothing: %v", args, err)
	}
	return bytes.Clone(buf[:n])
}

// TestAmplification forges, in the names of 50 victims, the datagram each
// udpchat server's real clients open with, and counts what the victims
// receive: no server sends an address that has not proved it receives
// there more than 3 times the bytes sent in its name. The figures are in
// the log (go test ./cmd/udpchat -run TestAmplification -v, as root).
func TestAmplification(t *testing.T) {
	sp := nstest.NewSpoofer(t)
	echo := startFlood(t, "listen", "127.0.0.1:0", "--echo", "--json")
	echoAddr := <-echo.ready
	for _, tc := range []struct {
		name   string
		server []string
		first  func() []byte
	}{
		{"listen --echo", nil, func() []byte { return []byte(strings.Repeat("x", 100)) }},
		{"bench server", []string{"bench", "server", "127.0.0.1:0"},
			func() []byte { return firstDatagram(t, "bench", "client", "CAPTURE", "--duration", "1s") }},
		{"listen --reliable", []string{"listen", "127.0.0.1:0", "--reliable"},
			func() []byte { return firstDatagram(t, "send", "CAPTURE", "--reliable", "hello") }},
		{"room serve", []string{"room", "serve", "127.0.0.1:0"},
			func() []byte { return firstDatagram(t, "room", "join", "CAPTURE", "--nick", "eve") }},
		{"proxy (to listen --echo)", []string{"proxy", "--listen", "127.0.0.1:0", "--to", echoAddr}, func() []byte { return []byte(strings.Repeat("x", 100)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := echoAddr
			if tc.server != nil {
				s := startFlood(t, tc.server...)
				addr = <-s.ready
			}
			dst := netip.MustParseAddrPort(addr)
			d := tc.first()
			victims := make([]*net.UDPConn, 50)
			for i := range victims {
				victims[i] = udpSocket(t, fmt.Sprintf("127.88.%d.%d:0", 1+len(tc.name), i+1))
				victims[i].SetReadBuffer(1 << 20)
			}
			const each = 20
			for range each {
				// paced by the server's socket queue, so that what the
				// victims get is what the server sends, not what its
				// buffer could hold
				waitQueueBelow(t, int(dst.Port()), 64<<10)
				for _, v := range victims {
					if err := sp.Send(v.LocalAddr().(*net.UDPAddr).AddrPort(), dst, d); err != nil {
						t.Fatal(err)
					}
				}
			}
			total, worst := 0, 0
			for i, v := range victims {
				quiet := 20 * time.Millisecond
				if i == 0 {
					quiet = 500 * time.Millisecond // the replies have all come by then
				}
				_, b := countUntilQuiet(v, quiet)
				total += b
				worst = max(worst, b)
			}
			forged := len(d) * each
			t.Logf("%s: a %d-byte first datagram, forged %d times from each of %d victims: they received %.3fx the bytes forged in their names (the worst, %.3fx)",
				tc.name, len(d), each, len(victims), float64(total)/float64(forged*len(victims)), float64(worst)/float64(forged))
			if worst > 3*forged {
				t.Errorf("a victim received %d bytes for %d forged in its name: over 3x", worst, forged)
			}
		})
	}
}

// TestSealedJunkFlood forges sealed-looking junk (random sessions and
// tags) to `listen --key-file --echo`: from one address, and from 1,000
// spread over 127.0.0.0/8. Key derivations are rate limited (throttled,
// counted), nothing is echoed, and a real keyed sender still gets through
// once the flood stops. The listener's CPU time per junk datagram is
// logged next to that per plain datagram sent to a listener without a key.
func TestSealedJunkFlood(t *testing.T) {
	sp := nstest.NewSpoofer(t)
	keyPath, _ := newKeyFile(t, "k")
	l := startFlood(t, "listen", "127.0.0.1:0", "--key-file", keyPath, "--echo", "--json", "--rcvbuf", "8M")
	dst := netip.MustParseAddrPort(<-l.ready)
	victim := udpSocket(t, "127.99.0.1:0")
	vaddr := victim.LocalAddr().(*net.UDPAddr).AddrPort()
	rng := rand.New(rand.NewPCG(14, 1))
	junk := func() []byte {
		b := seq.Header{Type: seal.Type, Seq: rng.Uint64() >> 8, Sent: time.Now().Add(time.Second).UnixNano()}.Append(nil)
		b = binary.BigEndian.AppendUint64(b, rng.Uint64())
		for range 64 + seal.TagLen {
			b = append(b, byte(rng.Uint32()))
		}
		return b
	}
	const perSource, sources, fromOne = 10, 1000, 5000
	cpu0 := cpuTicks(t, l.cmd.Process.Pid)
	start := time.Now()
	for i := range fromOne {
		if i%200 == 0 {
			waitQueueBelow(t, int(dst.Port()), 256<<10)
		}
		if err := sp.Send(vaddr, dst, junk()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range sources * perSource {
		if i%200 == 0 {
			waitQueueBelow(t, int(dst.Port()), 256<<10)
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 99, byte(1 + i%sources/250), byte(1 + i%sources%250)}), 4000)
		if err := sp.Send(src, dst, junk()); err != nil {
			t.Fatal(err)
		}
	}
	waitQueueBelow(t, int(dst.Port()), 1)
	elapsed := time.Since(start)
	junkTicks := cpuTicks(t, l.cmd.Process.Pid) - cpu0
	if n, _ := countUntilQuiet(victim, 200*time.Millisecond); n != 0 {
		t.Errorf("the victim received %d datagrams", n)
	}
	// A real sender gets through once the flood has stopped (the buckets
	// refill within a second; each try waits up to 200ms for the echo).
	ok := false
	for try := 0; try < 30 && !ok; try++ {
		code, _, _ := runCLI(t, "", "send", dst.String(), "--key-file", keyPath, "--wait", "--timeout", "200ms", "real")
		ok = code == 0
	}
	if !ok {
		t.Error("a real keyed sender did not get through after the flood")
	}
	sum := l.summary(t)
	rej := sum["rejected"].(map[string]any)
	total := float64(fromOne + sources*perSource)
	checked := rej["bad_tag"].(float64)
	// derivations: 2,000 in the global burst, 2,000 a second after that
	limit := 2000 + 2000*elapsed.Seconds() + 1
	t.Logf("%v junk datagrams in %v: %v checked (bad tag), %v throttled, %v unknown session; %d ticks of the listener's CPU",
		total, elapsed.Round(time.Millisecond), checked, rej["throttled"], rej["unknown_session"], junkTicks)
	if checked > limit || rej["throttled"].(float64) == 0 || checked+rej["throttled"].(float64)+rej["unknown_session"].(float64) != total ||
		sum["authenticated"].(float64) < 1 || sum["echoed"].(float64) < 1 {
		t.Errorf("summary %v (at most %.0f derivations)", sum, limit)
	}

	// The same number of plain datagrams to a listener without a key.
	p := startFlood(t, "listen", "127.0.0.1:0", "--echo", "--json", "--rcvbuf", "8M")
	pdst := netip.MustParseAddrPort(<-p.ready)
	plain := make([]byte, len(junk()))
	cpu0 = cpuTicks(t, p.cmd.Process.Pid)
	for i := range int(total) {
		if i%200 == 0 {
			waitQueueBelow(t, int(pdst.Port()), 256<<10)
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 98, byte(1 + i%sources/250), byte(1 + i%sources%250)}), 4000)
		if err := sp.Send(src, pdst, plain); err != nil {
			t.Fatal(err)
		}
	}
	waitQueueBelow(t, int(pdst.Port()), 1)
	t.Logf("the same number of plain datagrams to listen --echo without a key: %d ticks", cpuTicks(t, p.cmd.Process.Pid)-cpu0)
}

// TestSeqForgedDatagrams: while a sender sends 100 numbered datagrams to
// `listen --seq`, datagrams forged from its very address and port (raw
// sockets) carry seq 2^64-1 with a send time of 2^64-1, and a seq far
// ahead: they are suspect, never confirmed, and the sender's counts are
// exactly what it sent (before, the first made every later datagram
// stale and reported a jitter of 179 million seconds).
func TestSeqForgedDatagrams(t *testing.T) {
	sp := nstest.NewSpoofer(t)
	l := startFlood(t, "listen", "127.0.0.1:0", "--seq", "--json")
	dst := netip.MustParseAddrPort(<-l.ready)
	real := udpSocket(t, "127.0.0.1:0")
	from := real.LocalAddr().(*net.UDPAddr).AddrPort()
	for q := range uint64(100) {
		if q == 40 {
			forged := seq.Header{Seq: math.MaxUint64, Sent: -1}.Append(nil)
			if err := sp.Send(from, dst, append(forged, "forged"...)); err != nil {
				t.Fatal(err)
			}
		}
		if q == 60 {
			forged := seq.Header{Seq: q + 1_000_000, Sent: time.Now().UnixNano()}.Append(nil)
			if err := sp.Send(from, dst, append(forged, "forged"...)); err != nil {
				t.Fatal(err)
			}
		}
		d := seq.Header{Seq: q, Sent: time.Now().UnixNano()}.Append(nil)
		if _, err := real.WriteToUDPAddrPort(append(d, "real"...), dst); err != nil {
			t.Fatal(err)
		}
		// one at a time, so that the forged ones come where they should
		waitQueueBelow(t, int(dst.Port()), 1)
	}
	l.cmd.Process.Signal(os.Interrupt)
	select {
	case <-l.done:
	case <-time.After(exitTimeout):
		t.Fatal("listen did not exit")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var peer map[string]any
	for _, line := range l.sums {
		if m := jsonLine(t, line); m["peer"] == from.String() {
			peer = m
		}
	}
	if peer == nil {
		t.Fatalf("no summary for %v in %q", from, l.sums)
	}
	if peer["received"] != float64(100) || peer["expected"] != float64(100) || peer["lost"] != float64(0) ||
		peer["suspect"] != float64(2) || peer["duplicates"] != float64(0) || peer["jitter_ms"].(float64) > 1000 {
		t.Errorf("the real sender's counts after forged datagrams: %v", peer)
	}
}
