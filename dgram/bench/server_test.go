package bench

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/udpchat/udpchat/dgram/seq"
)

// peer is a plain socket that speaks the control protocol by hand.
type peer struct {
	t   testing.TB
	c   *net.UDPConn
	srv *net.UDPAddr
	buf []byte
}

func newPeer(t testing.TB, srv *net.UDPConn) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, c: c, srv: srv.LocalAddr().(*net.UDPAddr), buf: make([]byte, 65536)}
}

func (p *peer) send(b []byte) {
	p.t.Helper()
	if _, err := p.c.WriteToUDP(b, p.srv); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) sendControl(c Control) int {
	p.t.Helper()
	b := encodeControl(&c)
	p.send(b)
	return len(b)
}

// recv returns the next datagram within d, or nil.
func (p *peer) recv(d time.Duration) []byte {
	p.c.SetReadDeadline(time.Now().Add(d))
	n, err := p.c.Read(p.buf)
	if err != nil {
		return nil
	}
	return p.buf[:n]
}

// control returns the next control message within d; ok is false if
// none came (other datagrams are skipped).
func (p *peer) control(d time.Duration) (Control, int, bool) {
	p.t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		b := p.recv(time.Until(end))
		if b == nil {
			break
		}
		h, body, err := seq.Decode(b)
		if err != nil || h.Type != TypeControl {
			continue
		}
		var c Control
		if err := json.Unmarshal(body, &c); err != nil {
			p.t.Fatalf("bad control message %q: %v", body, err)
		}
		return c, len(b), true
	}
	return Control{}, 0, false
}

// validate says hello until the server answers ready (or something else,
// returned).
func (p *peer) hello(c Control) Control {
	p.t.Helper()
	c.Op = "hello"
	n := p.sendControl(c)
	r, rn, ok := p.control(testWait)
	if !ok {
		p.t.Fatal("no answer to hello")
	}
	if r.Op != "retry" || r.Token == "" || rn > Amplification*n {
		p.t.Fatalf("hello without a token (%d bytes) got %+v (%d bytes), want a retry of at most %d", n, r, rn, Amplification*n)
	}
	c.Token = r.Token
	p.sendControl(c)
	r, _, ok = p.control(testWait)
	if !ok {
		p.t.Fatal("no answer to hello with its token")
	}
	return r
}

// testWait bounds waits for an answer that must come; quiet is how long
// a test listens for one that must not.
const (
	testWait = 10 * time.Second
	quiet    = 200 * time.Millisecond
)

func newServer(t *testing.T, cfg ServerConfig) (*Server, *net.UDPConn) {
	t.Helper()
	sc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServerConfig(sc, cfg)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() { s.Close(); <-done; sc.Close() })
	return s, sc
}

// TestAddressValidation: a hello without a token, however it is made, gets
// only a retry no bigger than three times itself; the token works only
// from the address it was given to; with it, the test starts.
func TestAddressValidation(t *testing.T) {
	s, sc := newServer(t, ServerConfig{})
	a, b := newPeer(t, sc), newPeer(t, sc)
	// The hello: asks for reports every nanosecond and a spinning core.
	n := a.sendControl(Control{Op: "hello", Mode: "throughput", Size: 1400, IntervalS: 1e-9, Busy: true})
	r, rn, ok := a.control(testWait)
	if !ok || r.Op != "retry" || rn > Amplification*n {
		t.Fatalf("unvalidated hello (%d bytes): %+v (%d bytes)", n, r, rn)
	}
	if extra := a.recv(quiet); extra != nil {
		t.Fatalf("more than one answer to an unvalidated hello: %q", extra)
	}
	// the token from another address (port) is no proof
	b.sendControl(Control{Op: "hello", Mode: "throughput", Token: r.Token})
	if r2, _, ok := b.control(testWait); !ok || r2.Op != "retry" {
		t.Errorf("a token used from another port: %+v", r2)
	}
	// a forged or truncated token neither
	last := "A"
	if strings.HasSuffix(r.Token, "A") {
		last = "B"
	}
	for _, tok := range []string{r.Token[:len(r.Token)-1] + last, r.Token[:10], strings.Repeat("A", 100)} {
		a.sendControl(Control{Op: "hello", Mode: "throughput", Token: tok})
		if r2, _, ok := a.control(testWait); !ok || r2.Op != "retry" {
			t.Errorf("a forged token %q: %+v", tok, r2)
		}
	}
	// with its own token, and limits it may ask, it starts
	if r := a.hello(Control{Mode: "throughput", IntervalS: 0.1}); r.Op != "ready" {
		t.Fatalf("validated hello: %+v", r)
	}
	st := s.Stats()
	if st.Tests != 1 || st.Retries < 5 || st.RetryBytes > Amplification*st.HelloBytes {
		t.Errorf("stats %+v", st)
	}
}

// TestOneTestAtATime: while one client's test runs, another validated
// client is refused; only the test's client can stop it; probes and data
// from anyone else get nothing.
func TestOneTestAtATime(t *testing.T) {
	s, sc := newServer(t, ServerConfig{})
	a, b := newPeer(t, sc), newPeer(t, sc)
	if r := a.hello(Control{Mode: "latency"}); r.Op != "ready" {
		t.Fatalf("a: %+v", r)
	}
	if r := b.hello(Control{Mode: "throughput"}); r.Op != "refused" || !strings.Contains(r.Error, "busy") {
		t.Errorf("b while a's test runs: %+v", r)
	}
	probe := seq.Header{Type: TypeProbe, Seq: 1}.Append(nil)
	b.send(probe)
	b.sendControl(Control{Op: "stop"})
	if got := b.recv(quiet); got != nil {
		t.Errorf("b's probe or stop drew %q", got)
	}
	a.send(probe)
	if got := a.recv(testWait); string(got) != string(probe) {
		t.Errorf("a's probe: %q", got)
	}
	a.sendControl(Control{Op: "stop"})
	if r, _, ok := a.control(testWait); !ok || r.Op != "result" {
		t.Errorf("a's stop: %+v", r)
	}
	// after the test, a's probes are not answered; a late stop gets the
	// result again
	a.send(probe)
	a.sendControl(Control{Op: "stop"})
	if r, _, ok := a.control(testWait); !ok || r.Op != "result" {
		t.Errorf("a's stop again: %+v", r)
	}
	if got := a.recv(quiet); got != nil {
		t.Errorf("a probe after the test drew %q", got)
	}
	// and b may run its test now
	if r := b.hello(Control{Mode: "throughput"}); r.Op != "ready" {
		t.Errorf("b after a's test: %+v", r)
	}
	if st := s.Stats(); st.Tests != 2 || st.Refused != 1 || st.Ignored != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestHelloLimits: a validated hello that asks more than the server allows
// is refused, with the reason.
func TestHelloLimits(t *testing.T) {
	_, sc := newServer(t, ServerConfig{MaxDuration: time.Minute, NoBusy: true, MaxRatePPS: 1000})
	for _, tc := range []struct {
		hello Control
		want  string
	}{
		{Control{Mode: "throughput", IntervalS: 1e-9, RatePPS: 10}, "every 100ms"},
		{Control{Mode: "throughput", DurationS: 3600, RatePPS: 10}, "at most 1m0s"},
		{Control{Mode: "latency", Busy: true}, "does not busy-poll"},
		{Control{Mode: "throughput"}, "at most 1000 datagrams a second"},
		{Control{Mode: "throughput", RatePPS: 5000}, "at most 1000 datagrams a second"},
		{Control{Mode: "flood"}, "unknown mode"},
	} {
		p := newPeer(t, sc)
		if r := p.hello(tc.hello); r.Op != "refused" || !strings.Contains(r.Error, tc.want) {
			t.Errorf("hello %+v: %+v, want refused: %q", tc.hello, r, tc.want)
		}
	}
	p := newPeer(t, sc)
	if r := p.hello(Control{Mode: "throughput", RatePPS: 500, IntervalS: 0.1, DurationS: 30}); r.Op != "ready" {
		t.Errorf("a hello within the limits: %+v", r)
	}
}

// TestSilenceEndsTest: a client that starts a busy-polling test with
// reports and goes silent: the reports stop, the server stops spinning.
// A client that goes on past its declared duration is ended too.
func TestSilenceEndsTest(t *testing.T) {
	s, sc := newServer(t, ServerConfig{Silence: 300 * time.Millisecond})
	p := newPeer(t, sc)
	if r := p.hello(Control{Mode: "throughput", IntervalS: 0.1, Busy: true}); r.Op != "ready" {
		t.Fatalf("%+v", r)
	}
	reports := 0
	for {
		c, _, ok := p.control(2 * time.Second)
		if !ok {
			break
		}
		if c.Op == "interval" {
			reports++
		}
		if reports > 100 {
			t.Fatal("the reports go on")
		}
	}
	// 300ms of silence at one report every 100ms
	if reports < 1 || reports > 5 {
		t.Errorf("%d reports to a silent client", reports)
	}
	st := s.Stats()
	if st.EndedSilent != 1 || s.busy.Load() {
		t.Errorf("stats %+v, busy %v", st, s.busy.Load())
	}

	q := newPeer(t, sc)
	if r := q.hello(Control{Mode: "latency", DurationS: 0.2}); r.Op != "ready" {
		t.Fatalf("%+v", r)
	}
	probe := seq.Header{Type: TypeProbe}.Append(nil)
	answered := 0
	start := time.Now()
	var last time.Duration
	for time.Since(start) < 3*time.Second { // probes all along, answered or not
		q.send(probe)
		if q.recv(20*time.Millisecond) != nil {
			answered++
			last = time.Since(start)
		}
	}
	// 0.2s and 0.3s of grace; then the probes of the same client go
	// unanswered although it never fell silent
	if st := s.Stats(); last > 2*time.Second || st.EndedTimeout != 1 {
		t.Errorf("a client sending past its duration was answered for %v (%d probes): %+v", last, answered, st)
	}
}

// TestLateTickReportsFirst: a server that wakes only after its client's
// silence ran out (a loaded machine) still sends the report that was due
// before, then ends the test for silence; one that wakes after both the
// silence and the test's time names the earlier as the reason.
func TestLateTickReportsFirst(t *testing.T) {
	sc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	s := NewServerConfig(sc, ServerConfig{})
	t0 := time.Unix(1_000_000, 0)
	for _, tc := range []struct {
		name                 string
		silence, dur         time.Duration
		wantSilent, wantTime uint64
	}{
		{"silence first", 300 * time.Millisecond, time.Second, 1, 0},
		{"time first", time.Second, 300 * time.Millisecond, 0, 1},
	} {
		before := s.Stats()
		s.cur = &test{started: t0, lastHeard: t0, silence: tc.silence, end: t0.Add(tc.dur),
			interval: 100 * time.Millisecond, nextPush: t0.Add(100 * time.Millisecond), tracker: seq.NewTracker(seq.Config{MaxSenders: 4})}
		var ops []string
		s.tick(t0.Add(5*time.Second), func(b []byte, _, _ netip.AddrPort, _ int) {
			c, ok := decodeControl(b[seq.HeaderLen:])
			if !ok {
				t.Fatalf("a report that does not parse: %q", b)
			}
			ops = append(ops, c.Op)
		})
		st := s.Stats()
		if !slices.Equal(ops, []string{"interval"}) || s.cur != nil ||
			st.EndedSilent-before.EndedSilent != tc.wantSilent || st.EndedTimeout-before.EndedTimeout != tc.wantTime {
			t.Errorf("%s: a tick 5s late sent %q, ended %v, stats %+v (before %+v)", tc.name, ops, s.cur == nil, st, before)
		}
	}
}

// TestLatencyDeclaresDuration: a latency client tells the server how long
// it will run, warm-up included, as a throughput client does, so that a
// server refuses a test longer than it allows at once instead of cutting
// it short mid-run (and holds nobody else out past its declared end).
func TestLatencyDeclaresDuration(t *testing.T) {
	s, sc := newServer(t, ServerConfig{MaxDuration: 2 * time.Second})
	dial := func() *net.UDPConn {
		c, err := net.DialUDP("udp4", nil, sc.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// 1.5s of measurement after 1s of warm-up is 2.5s: more than 2s
	_, err := RunLatency(context.Background(), dial(), LatencyConfig{Duration: 1500 * time.Millisecond, Warmup: time.Second})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "at most 2s") {
		t.Fatalf("RunLatency(2.5s against a 2s server) = %v, want refused: at most 2s", err)
	}
	if _, err := RunLatency(context.Background(), dial(), LatencyConfig{Duration: 100 * time.Millisecond, Warmup: 10 * time.Millisecond}); err != nil {
		t.Fatalf("RunLatency(110ms against a 2s server) = %v", err)
	}
	if st := s.Stats(); st.Tests != 1 || st.Refused != 1 || st.EndedTimeout != 0 || st.EndedSilent != 0 {
		t.Errorf("stats %+v, want 1 test, 1 refused, ended by its stop", st)
	}
}

// TestHelloHugeInterval: a validated hello that asks for reports every
// 1e300 seconds (or any interval past the longest test) gets none during
// its test. Such an interval overflowed time.Duration into a negative
// one, and the server then sent a report at every turn of its loop:
// 60 MB in the 3 s before its client counted as silent.
func TestHelloHugeInterval(t *testing.T) {
	for _, iv := range []float64{1e300, 1e10, DefaultMaxDuration.Seconds() * 2} {
		_, sc := newServer(t, ServerConfig{})
		p := newPeer(t, sc)
		if r := p.hello(Control{Mode: "throughput", IntervalS: iv}); r.Op != "ready" {
			t.Fatalf("hello with interval_s %g: %+v", iv, r)
		}
		n := 0
		for p.recv(quiet) != nil {
			if n++; n > 100 {
				break
			}
		}
		if n > 0 {
			t.Errorf("hello with interval_s %g: %d reports at once (and more), want none", iv, n)
		}
	}
}

// TestLateStopsBounded: after a test ended, stops in its client's name
// (anyone can forge them) get the result again at most LateResults
// times, not one 200-byte result for every 30-byte stop.
func TestLateStopsBounded(t *testing.T) {
	s, sc := newServer(t, ServerConfig{})
	p := newPeer(t, sc)
	if r := p.hello(Control{Mode: "latency"}); r.Op != "ready" {
		t.Fatalf("%+v", r)
	}
	p.sendControl(Control{Op: "stop"})
	if r, _, ok := p.control(testWait); !ok || r.Op != "result" {
		t.Fatalf("stop: %+v", r)
	}
	results := 0
	for range LateResults { // these must come
		p.sendControl(Control{Op: "stop"})
		if r, _, ok := p.control(testWait); ok && r.Op == "result" {
			results++
		}
	}
	const more = 20
	for range more {
		p.sendControl(Control{Op: "stop"})
	}
	for end := time.Now().Add(testWait); s.Stats().Ignored < more && time.Now().Before(end); {
		if _, _, ok := p.control(quiet); ok {
			results++
		}
	}
	for _, _, ok := p.control(quiet); ok; _, _, ok = p.control(quiet) {
		results++
	}
	if st := s.Stats(); results != LateResults || st.Ignored != more {
		t.Errorf("%d late stops drew %d results, want %d; stats %+v, want %d ignored", LateResults+more, results, LateResults, st, more)
	}
}

// TestUnreachableClientEndsTest: a client that declared a slow rate (so
// that its silence may last 30 s) and then closed its socket: the first
// report draws ICMP port unreachable, and the test ends at once, instead
// of reports every interval to a closed port for 30 s.
func TestUnreachableClientEndsTest(t *testing.T) {
	s, sc := newServer(t, ServerConfig{})
	p := newPeer(t, sc)
	if r := p.hello(Control{Mode: "throughput", IntervalS: 0.1, RatePPS: 0.1}); r.Op != "ready" {
		t.Fatalf("%+v", r)
	}
	p.c.Close()
	tick := time.NewTicker(10 * time.Millisecond) // polling a counter
	defer tick.Stop()
	for end := time.Now().Add(testWait); s.Stats().EndedGone == 0; <-tick.C {
		if time.Now().After(end) {
			t.Fatalf("the test of a client whose port is closed still runs after %v: %+v", testWait, s.Stats())
		}
	}
	if st := s.Stats(); st.EndedGone != 1 || st.EndedSilent != 0 {
		t.Errorf("stats %+v, want the test ended as gone", st)
	}
	// the server goes on: another client's test runs
	q := newPeer(t, sc)
	if r := q.hello(Control{Mode: "latency"}); r.Op != "ready" {
		t.Errorf("a new client after the gone one: %+v", r)
	}
}

// TestLatencySilenceIgnoresRate: a latency hello that declares a slow
// rate (which stretches a throughput test's silence up to 30 s) and asks
// for busy polling, then falls silent: the test ends, and stops
// spinning, after the server's Silence, not 30 s later.
func TestLatencySilenceIgnoresRate(t *testing.T) {
	s, sc := newServer(t, ServerConfig{Silence: 300 * time.Millisecond})
	p := newPeer(t, sc)
	if r := p.hello(Control{Mode: "latency", Busy: true, RatePPS: 0.1}); r.Op != "ready" {
		t.Fatalf("%+v", r)
	}
	tick := time.NewTicker(10 * time.Millisecond) // polling a counter
	defer tick.Stop()
	for end := time.Now().Add(testWait); s.Stats().EndedSilent == 0; <-tick.C {
		if time.Now().After(end) {
			t.Fatalf("a silent latency client's test still runs after %v: %+v", testWait, s.Stats())
		}
	}
	if s.busy.Load() {
		t.Error("the server still spins after the test ended")
	}
}
