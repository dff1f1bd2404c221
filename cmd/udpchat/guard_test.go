package main

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// readAll reads datagrams on c until it has been quiet for quiet (or,
// bounding a broken test, for exitTimeout in all) and returns them.
func readAll(t *testing.T, c *net.UDPConn, quiet time.Duration) []string {
	t.Helper()
	var got []string
	buf := make([]byte, 65536)
	end := time.Now().Add(exitTimeout)
	for time.Now().Before(end) {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			break
		}
		got = append(got, string(buf[:n]))
	}
	return got
}

// TestEchoGuardFlood floods `listen --echo` from one source: it answers at
// most its burst plus the refill over the flood's duration, and a blocked
// source port gets nothing. The counts add up in the summary.
func TestEchoGuardFlood(t *testing.T) {
	blocked := udpSocket(t, "127.0.0.1:0")
	bport := blocked.LocalAddr().(*net.UDPAddr).Port
	l := startChild(t, "listen", "127.0.0.1:0", "--echo", "--echo-rate", "10", "--echo-total", "1000",
		"--echo-block", fmt.Sprintf("7,%d", bport), "--json", "--rcvbuf", "4M")
	addr := l.expectErr(`listening on (\S+) \(UDP\)`)[1]
	dst, _ := net.ResolveUDPAddr("udp", addr)

	src := udpSocket(t, "127.0.0.1:0")
	const flood = 500
	start := time.Now()
	for i := range flood {
		if _, err := src.WriteTo(fmt.Appendf(nil, "flood %d", i), dst); err != nil {
			t.Fatal(err)
		}
	}
	replies := readAll(t, src, 300*time.Millisecond)
	elapsed := time.Since(start) // the flood, and every reply it drew
	// A token bucket gives at most its burst (10) plus 10 a second.
	max := 10 + int(10*elapsed.Seconds()) + 1
	if len(replies) < 10 || len(replies) > max {
		t.Errorf("%d replies to a %d-datagram flood over %v, want 10 to %d", len(replies), flood, elapsed, max)
	}
	for i := range 5 {
		blocked.WriteTo(fmt.Appendf(nil, "from a blocked port %d", i), dst)
	}
	if got := readAll(t, blocked, 200*time.Millisecond); len(got) != 0 {
		t.Errorf("a blocked source port got %d replies", len(got))
	}
	l.cmd.Process.Signal(os.Interrupt)
	sum := jsonLine(t, l.expectOut(`^.*"type":"summary".*$`)[0])
	sup := sum["echo_suppressed"].(map[string]any)
	if sum["echoed"].(float64) != float64(len(replies)) || sup["blocked_port"].(float64) != 5 ||
		sup["source_rate"].(float64)+sup["total_rate"].(float64) != float64(flood-len(replies)) {
		t.Errorf("summary %v (replies %d)", sum, len(replies))
	}
}

// TestEchoLoop points `listen --echo` at a naive echo server (one that
// answers everything at once, as socat does) and starts a bounce between
// them: the guard ends it, with loop detection or, when loops are not
// detected, with the rate limit (a loop carries one datagram: the first
// refusal ends it).
func TestEchoLoop(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		max   func(d time.Duration) int // the most bounces the guard may allow in d
		cause string
	}{
		// The bucket's burst, plus its refill while the loop ran.
		{"rate limit", []string{"--echo-rate", "50", "--echo-loop", "1000000"}, func(d time.Duration) int { return 50 + int(50*d.Seconds()) + 1 }, "source_rate"},
		// A generous gap, so that a loaded machine's slow bounces still count.
		{"loop detection", []string{"--echo-rate", "0", "--echo-total", "0", "--echo-loop", "20", "--echo-loop-gap", "1s"}, func(time.Duration) int { return 21 }, "loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startChild(t, append([]string{"listen", "127.0.0.1:0", "--echo", "--json"}, tc.flags...)...)
			addr := l.expectErr(`listening on (\S+) \(UDP\)`)[1]
			dst, _ := net.ResolveUDPAddr("udp", addr)
			naive := udpSocket(t, "127.0.0.1:0")
			start := time.Now()
			naive.WriteTo([]byte("ping-pong"), dst)
			bounces := 0
			var last time.Time
			buf := make([]byte, 2048)
			for bounces < 100_000 { // bounded: a failing guard ends the test, not the machine
				naive.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				n, from, err := naive.ReadFrom(buf)
				if err != nil {
					break // quiet: the loop ended
				}
				bounces++
				last = time.Now()
				naive.WriteTo(buf[:n], from)
			}
			if max := tc.max(last.Sub(start)); bounces == 0 || bounces > max {
				t.Errorf("the loop ran %d times in %v, want 1 to %d", bounces, last.Sub(start), max)
			}
			l.cmd.Process.Signal(os.Interrupt)
			sum := jsonLine(t, l.expectOut(`^.*"type":"summary".*$`)[0])
			if sup := sum["echo_suppressed"].(map[string]any); sup[tc.cause].(float64) != 1 {
				t.Errorf("summary %v", sum)
			}
			if sum["echoed"].(float64) != float64(bounces) {
				t.Errorf("echoed %v, bounces %d", sum["echoed"], bounces)
			}
		})
	}
}

// TestPingSurvivesProxyRestart restarts the proxy between ping and an echo
// server while ping runs: ping shows the loss (timeouts, port
// unreachable) and then the replies again, and ends with a summary.
func TestPingSurvivesProxyRestart(t *testing.T) {
	e := startChild(t, "listen", "127.0.0.1:0", "--echo")
	eaddr := e.expectErr(`listening on (\S+) \(UDP\)`)[1]
	p1 := startChild(t, "proxy", "--listen", "127.0.0.1:0", "--to", eaddr, "--seed", "1")
	paddr := p1.expectErr(`proxying on (\S+)`)[1]
	ping := startChild(t, "ping", paddr, "--count", "0", "--interval", "20ms", "--timeout", "100ms", "--json")
	replies := func(n int) {
		t.Helper()
		for range n {
			ping.expectOut(`"type":"reply"`)
		}
	}
	replies(3)
	p1.cmd.Process.Signal(os.Interrupt)
	if code := p1.wait(); code != 130 {
		t.Fatalf("proxy exit %d after Ctrl-C, want 130", code)
	}
	ping.expectOut(`"type":"(timeout|error)"`) // the loss shows
	p2 := startChild(t, "proxy", "--listen", paddr, "--to", eaddr, "--seed", "2")
	p2.expectErr(`proxying on`)
	replies(3) // and it recovers
	ping.cmd.Process.Signal(os.Interrupt)
	sum := jsonLine(t, ping.expectOut(`^.*"type":"summary".*$`)[0])
	if sum["received"].(float64) < 6 || sum["received"].(float64) >= sum["transmitted"].(float64) {
		t.Errorf("summary %v", sum)
	}
	if code := ping.wait(); code != 130 {
		t.Errorf("ping exit %d after Ctrl-C, want 130", code)
	}
}
