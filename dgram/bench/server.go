package bench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seq"
)

// ServerConfig bounds what a client may ask of a Server. The zero value
// takes the defaults.
type ServerConfig struct {
	// MaxDuration is the longest test (default 10 minutes): a hello that
	// asks for more is refused, and a test ends after it (or after the
	// duration its hello declared), plus Silence for the stop exchange,
	// even if its client goes on sending.
	MaxDuration time.Duration
	// MinInterval is the shortest interval between throughput reports a
	// hello may ask (default 100ms).
	MinInterval time.Duration
	// MaxRatePPS, when above 0, is the highest sending rate a throughput
	// hello may declare (one that sends as fast as it can is refused) and
	// the most latency probes a second the server answers.
	MaxRatePPS float64
	// NoBusy refuses hellos that ask the server to busy-poll (spin a
	// core). A test that busy-polls stops spinning when it ends.
	NoBusy bool
	// Silence ends a test after this long without a datagram from its
	// client (default 3s; at least three intervals of a declared rate, up
	// to 30s):
	// a client that went away, or that was never there.
	Silence time.Duration
	// TokenLifetime is how long an address-validation token stays valid
	// (default 10s).
	TokenLifetime time.Duration
}

// Defaults for ServerConfig.
const (
	DefaultMaxDuration   = 10 * time.Minute
	DefaultMinInterval   = 100 * time.Millisecond
	DefaultSilence       = 3 * time.Second
	DefaultTokenLifetime = 10 * time.Second
)

func (c *ServerConfig) defaults() {
	if c.MaxDuration <= 0 {
		c.MaxDuration = DefaultMaxDuration
	}
	if c.MinInterval <= 0 {
		c.MinInterval = DefaultMinInterval
	}
	if c.Silence <= 0 {
		c.Silence = DefaultSilence
	}
	if c.TokenLifetime <= 0 {
		c.TokenLifetime = DefaultTokenLifetime
	}
}

// ServerStats counts what a Server did, for tests and the curious.
type ServerStats struct {
	Tests        uint64 // tests started
	Retries      uint64 // hellos without a valid token, answered with retry
	HelloBytes   uint64 // bytes of those hellos
	RetryBytes   uint64 // bytes of the retries (at most Amplification x HelloBytes)
	Refused      uint64 // validated hellos refused: busy, or asking too much
	Ignored      uint64 // datagrams not answered: from an address without a test, malformed control, too-small hello
	EndedSilent  uint64 // tests ended because their client went silent
	EndedTimeout uint64 // tests ended at MaxDuration (or their duration) without a stop
	EndedGone    uint64 // tests ended because their client's host said it is unreachable (ICMP)
}

// LateResults is how many times a Server sends a test's result again to
// stops that come after the test ended (its first answer got lost),
// within ServerConfig.TokenLifetime of the end; later stops are ignored.
const LateResults = 3

// Server is the receiving side of a benchmark. It answers only clients
// that proved they receive at their address (a token, as QUIC's Retry),
// runs one test at a time within the bounds of its ServerConfig, tracks
// throughput datagrams one by one (each carries its own v1 header, even
// inside a coalesced GRO buffer), echoes latency probes, and answers
// control messages. A test ends with its client's stop, when its client
// goes silent, or at its time limit; only its client can stop it, and
// nothing from any other address gets an answer but a retry (no bigger
// than three times what it answers) or, once validated, a refusal. It
// reads in batches, with GRO where the kernel has it.
type Server struct {
	conn   *net.UDPConn
	cfg    ServerConfig
	rcvbuf int
	gro    bool
	tok    *tokens

	mu    sync.Mutex // guards what follows, for Close, Stats and tests
	cur   *test      // the test that runs, or nil
	last  *test      // the last test that ended, for a late stop
	stats ServerStats
	busy  atomic.Bool // the current test busy-polls (a throughput one: in Serve's loop)

	countOnly bool   // benchmarks of the tracking cost: count, do not track
	counted   uint64 // datagrams counted so

	closing chan struct{}
	done    chan struct{}
	once    sync.Once
	served  atomic.Bool
}

// test is one client's test.
type test struct {
	client    netip.AddrPort
	local     netip.AddrPort // where the client's hello arrived: the replies' source
	ifIndex   int
	id        uint32
	latency   bool
	busy      bool
	started   time.Time
	end       time.Time // the hard end: duration (capped) plus the grace for stop
	lastHeard time.Time
	silence   time.Duration
	interval  time.Duration
	nextPush  time.Time
	dropBase  uint64
	tracker   *seq.Tracker
	rawDone   bool // a latency test's raw echo loop ran
	probeRate float64
	probeTok  float64
	probeLast time.Time
	result    []byte // the result datagram, once the test ended
	ended     time.Time
	lateLeft  int // how many more late stops get the result again
}

// NewServer prepares a server on conn, which the caller owns, with the
// default ServerConfig: it raises the receive buffer and enables GRO
// where it can.
func NewServer(conn *net.UDPConn) *Server { return NewServerConfig(conn, ServerConfig{}) }

// NewServerConfig is NewServer with limits of the caller's choosing.
func NewServerConfig(conn *net.UDPConn, cfg ServerConfig) *Server {
	cfg.defaults()
	s := &Server{conn: conn, cfg: cfg, tok: newTokens(cfg.TokenLifetime), closing: make(chan struct{}), done: make(chan struct{})}
	s.rcvbuf, _, _ = dgram.SetBuffers(conn, 4<<20, 4<<20)
	s.gro = dgram.EnableGRO(conn) == nil
	_ = dgram.EnableRecvErr(conn) // a client that went away: ICMP unreachable ends its test
	if dgram.LocalAddrPort(conn).Addr().IsUnspecified() {
		_ = dgram.EnableDst(conn) // answer from the address each client contacted
	}
	return s
}

// Rcvbuf returns the receive buffer the kernel granted, and GRO whether
// coalesced reads are on.
func (s *Server) Rcvbuf() (int, bool) { return s.rcvbuf, s.gro }

// Config returns the server's limits, defaults filled in.
func (s *Server) Config() ServerConfig { return s.cfg }

// Stats returns the server's counters so far.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// replyFunc sends b to to, from local (the address the peer contacted)
// through interface ifIndex.
type replyFunc func(b []byte, to, local netip.AddrPort, ifIndex int)

// Serve runs until Close.
func (s *Server) Serve() error {
	if s.served.Swap(true) {
		return errors.New("bench: Serve called twice")
	}
	defer close(s.done)
	rb, err := dgram.NewBatch(s.conn, 64)
	if err != nil {
		return err
	}
	w, err := dgram.NewWriter(s.conn, 64, true)
	if err != nil {
		return err
	}
	reply := func(b []byte, to, local netip.AddrPort, ifIndex int) { _, _, _ = w.AddFrom(b, to, local, ifIndex) }
	msgs := make([]dgram.Message, 64)
	for i := range msgs {
		msgs[i].Buf = make([]byte, dgram.RecvBufferSize)
	}
	spins := 0
	for {
		select {
		case <-s.closing:
			return nil
		default:
		}
		var n int
		if s.busy.Load() {
			_ = s.conn.SetReadDeadline(time.Time{})
			n, err = rb.TryRead(msgs)
			if err == nil && n == 0 {
				if spins++; spins%1024 == 0 {
					s.tick(time.Now(), reply)
					_, _, _ = w.Flush()
				}
				continue // spin
			}
		} else {
			_ = s.conn.SetReadDeadline(s.wakeAt())
			select {
			case <-s.closing:
				return nil
			default:
			}
			n, err = rb.Read(msgs)
		}
		now := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if errors.Is(err, dgram.ErrTimeout) {
				s.tick(now, reply)
				_, _, _ = w.Flush()
				continue
			}
			select {
			case <-s.closing:
				return nil
			default:
			}
			s.unreachable(now) // an ICMP error, reported by the read (IP_RECVERR)
			continue
		}
		for i := range msgs[:n] {
			s.receive(&msgs[i], now, reply)
		}
		s.tick(now, reply)
		_, _, _ = w.Flush()
		if s.rawLatency() {
			s.rawEcho()
		}
	}
}

// wakeAt is when Serve must wake without a datagram: the next report, or
// the moment the test would end for silence or time.
func (s *Server) wakeAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.cur
	if t == nil {
		return time.Time{}
	}
	at := t.lastHeard.Add(t.silence)
	if t.end.Before(at) {
		at = t.end
	}
	if !t.nextPush.IsZero() && t.nextPush.Before(at) {
		at = t.nextPush
	}
	return at
}

// receive handles one received message: a datagram, or the segments of a
// coalesced one.
func (s *Server) receive(m *dgram.Message, now time.Time, reply replyFunc) {
	s.mu.Lock()
	t := s.cur
	ours := t != nil && m.Addr == t.client
	if ours {
		t.lastHeard = now
	}
	s.mu.Unlock()
	if ours && m.Segment > 0 && !s.countOnly && !t.latency {
		// the in-order fast path of the test's client, then one by one
		k := t.tracker.ObserveRun(m.Addr, m.Buf[:m.N], m.Segment, now)
		if k == m.N {
			return
		}
		rest := *m
		rest.Buf, rest.N = m.Buf[k:], m.N-k
		m = &rest
	}
	for d := range m.All() {
		s.datagram(d, m.Addr, m.Local, m.IfIndex, now, reply)
	}
}

// datagram handles one datagram from from, which arrived at local.
func (s *Server) datagram(d []byte, from, local netip.AddrPort, ifIndex int, now time.Time, reply replyFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.cur
	ours := t != nil && from == t.client
	if len(d) < seq.HeaderLen || d[0] != seq.Magic0 || d[1] != seq.Magic1 {
		if ours && !t.latency {
			s.track(t, d, from, now)
			return
		}
		s.stats.Ignored++
		return
	}
	switch seq.Type(d[3]) {
	case TypeProbe:
		if ours && t.latency && t.takeProbe(now) {
			reply(d, from, local, ifIndex)
			return
		}
		s.stats.Ignored++
	case TypeControl:
		s.control(d, from, local, ifIndex, now, reply)
	default:
		if ours && !t.latency {
			s.track(t, d, from, now)
			return
		}
		s.stats.Ignored++
	}
}

// track counts a throughput datagram of the test's client.
func (s *Server) track(t *test, d []byte, from netip.AddrPort, now time.Time) {
	if s.countOnly {
		s.counted++
		return
	}
	t.tracker.Observe(from, d, now)
}

// control answers one control message (the whole datagram d).
func (s *Server) control(d []byte, from, local netip.AddrPort, ifIndex int, now time.Time, reply replyFunc) {
	c, ok := decodeControl(d[seq.HeaderLen:])
	if !ok {
		s.stats.Ignored++
		return
	}
	switch c.Op {
	case "hello":
		s.hello(&c, len(d), from, local, ifIndex, now, reply)
	case "stop":
		t := s.cur
		switch {
		case t != nil && from == t.client:
			s.endTest(now)
			reply(s.last.result, from, local, ifIndex)
		case s.last != nil && from == s.last.client:
			// The result got lost: again, a few times and for a while
			// only. A stop is 30-odd bytes and the result 200-odd: an
			// answer to every stop forged in a past client's name, for
			// as long as no other test ran, made the server a 7x
			// amplifier against that address.
			if s.last.lateLeft == 0 || now.Sub(s.last.ended) > s.cfg.TokenLifetime {
				s.stats.Ignored++
				return
			}
			s.last.lateLeft--
			reply(s.last.result, from, local, ifIndex)
		default:
			s.stats.Ignored++ // only a test's client may stop it
		}
	default:
		s.stats.Ignored++
	}
}

// hello starts a test for a client that proved its address, or answers
// with the token that proves it.
func (s *Server) hello(c *Control, size int, from, local netip.AddrPort, ifIndex int, now time.Time, reply replyFunc) {
	if !s.tok.valid(c.Token, from, now) {
		r := encodeShort("retry", s.tok.make(from, now), "")
		if len(r) > Amplification*size {
			s.stats.Ignored++ // too small a hello to answer
			return
		}
		s.stats.Retries++
		s.stats.HelloBytes += uint64(size)
		s.stats.RetryBytes += uint64(len(r))
		reply(r, from, local, ifIndex)
		return
	}
	t := s.cur
	if t != nil && from == t.client && c.Test == t.id {
		reply(s.counters(t, "ready", now), from, local, ifIndex) // a hello again: its ready got lost
		return
	}
	if t != nil && from != t.client {
		s.refuse(from, local, ifIndex, reply, "the server is busy with another client's test; try again when it ends")
		return
	}
	if why := s.check(c); why != "" {
		s.refuse(from, local, ifIndex, reply, why)
		return
	}
	if t != nil {
		s.endTest(now) // the same client starts over
	}
	t = &test{client: from, local: local, ifIndex: ifIndex, id: c.Test, latency: c.Mode == "latency", busy: c.Busy,
		started: now, lastHeard: now, silence: s.cfg.Silence, tracker: seq.NewTracker(seq.Config{MaxSenders: 4}),
		probeRate: s.cfg.MaxRatePPS, probeTok: s.cfg.MaxRatePPS, probeLast: now}
	dur := s.cfg.MaxDuration
	if c.DurationS > 0 {
		dur = seconds(c.DurationS, s.cfg.MaxDuration)
	}
	if c.RatePPS > 0 && !t.latency {
		// a slow sender's datagrams come far apart; a latency client
		// sends its next probe as soon as a reply comes, so its silence
		// stays short (a busy-polling test spins no longer than it)
		t.silence = max(t.silence, time.Duration(min(3/c.RatePPS, 30)*float64(time.Second)))
	}
	t.end = now.Add(dur + t.silence)
	if c.IntervalS > 0 && !t.latency {
		// An interval longer than any test is no report at all; as a
		// float of seconds it could overflow a Duration (1e300 became a
		// negative interval: a report at every turn of the loop).
		t.interval = seconds(c.IntervalS, s.cfg.MaxDuration)
		t.nextPush = now.Add(t.interval)
	}
	t.dropBase, _ = dgram.KernelDrops(s.conn)
	s.cur = t
	s.stats.Tests++
	s.busy.Store(t.busy && !(t.latency && haveRaw))
	reply(s.counters(t, "ready", now), from, local, ifIndex)
}

// seconds converts a hello's float of seconds (positive, already
// checked) to a Duration, at most max, without overflow.
func seconds(f float64, max time.Duration) time.Duration {
	if f >= max.Seconds() {
		return max
	}
	return time.Duration(f * float64(time.Second))
}

// check returns why a validated hello asks more than the server allows,
// or "".
func (s *Server) check(c *Control) string {
	switch {
	case c.Mode != "throughput" && c.Mode != "latency":
		return fmt.Sprintf("unknown mode %q: throughput or latency", c.Mode)
	case !(c.DurationS >= 0) || c.DurationS > s.cfg.MaxDuration.Seconds():
		return fmt.Sprintf("a test may last at most %v", s.cfg.MaxDuration)
	case !(c.IntervalS >= 0) || c.IntervalS > 0 && c.IntervalS < s.cfg.MinInterval.Seconds():
		return fmt.Sprintf("reports come at most every %v", s.cfg.MinInterval)
	case c.Busy && s.cfg.NoBusy:
		return "this server does not busy-poll"
	case !(c.RatePPS >= 0):
		return "the rate must be a number of datagrams a second"
	case s.cfg.MaxRatePPS > 0 && c.Mode == "throughput" && (c.RatePPS == 0 || c.RatePPS > s.cfg.MaxRatePPS):
		return fmt.Sprintf("this server takes at most %.0f datagrams a second: pace the test (--rate)", s.cfg.MaxRatePPS)
	}
	return ""
}

func (s *Server) refuse(to, local netip.AddrPort, ifIndex int, reply replyFunc, why string) {
	s.stats.Refused++
	reply(encodeShort("refused", "", why), to, local, ifIndex)
}

// takeProbe is the token bucket of probe answers (MaxRatePPS).
func (t *test) takeProbe(now time.Time) bool {
	if t.probeRate <= 0 {
		return true
	}
	if d := now.Sub(t.probeLast); d > 0 {
		t.probeTok = min(t.probeRate, t.probeTok+d.Seconds()*t.probeRate)
	}
	t.probeLast = now
	if t.probeTok >= 1 {
		t.probeTok--
		return true
	}
	return false
}

// endTest ends the current test (with s.mu held) and keeps its result
// for a stop that comes late.
func (s *Server) endTest(now time.Time) {
	t := s.cur
	if t == nil {
		return
	}
	t.result = s.counters(t, "result", now)
	t.ended, t.lateLeft = now, LateResults
	s.cur, s.last = nil, t
	s.busy.Store(false)
}

// unreachable reads the ICMP errors queued on the socket and ends the
// test whose client's host answered that its port is closed (or that it
// cannot be reached): a client that went away gets no more reports,
// whatever silence its declared rate allows (up to 30 s).
func (s *Server) unreachable(now time.Time) {
	dgram.DrainUnreachable(s.conn, func(a netip.AddrPort, _ bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		t := s.cur
		if t == nil || netip.AddrPortFrom(t.client.Addr().Unmap(), t.client.Port()) != a {
			return
		}
		s.stats.EndedGone++
		s.endTest(now)
	})
}

// tick sends the report that is due and ends a test whose client went
// silent or whose time is up. A report due before that end goes out
// first, however late the server got to it (a loaded machine may wake it
// after both): what the client is told does not depend on scheduling.
func (s *Server) tick(now time.Time, reply replyFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.cur
	if t == nil {
		return
	}
	ends, timeUp := t.lastHeard.Add(t.silence), false
	if t.end.Before(ends) {
		ends, timeUp = t.end, true
	}
	if !t.nextPush.IsZero() && !now.Before(t.nextPush) && t.nextPush.Before(ends) {
		t.nextPush = t.nextPush.Add(t.interval)
		if t.nextPush.Before(now) {
			t.nextPush = now.Add(t.interval)
		}
		reply(s.counters(t, "interval", now), t.client, t.local, t.ifIndex)
	}
	if now.Before(ends) {
		return
	}
	// the earlier of the two ends says why
	if timeUp {
		s.stats.EndedTimeout++
	} else {
		s.stats.EndedSilent++
	}
	s.endTest(now)
}

// counters encodes what the server saw from t's client (with s.mu held).
func (s *Server) counters(t *test, op string, now time.Time) []byte {
	c := Control{Op: op, Rcvbuf: s.rcvbuf, GRO: s.gro, T: now.Sub(t.started).Seconds()}
	if st, ok := t.tracker.Lookup(t.client); ok {
		c.Received, c.Unique, c.Expected, c.Lost = st.Received, st.Unique, st.Expected, st.Lost
		c.Duplicates, c.Reordered, c.Malformed, c.JitterMs = st.Duplicates, st.Reordered, st.Malformed, st.JitterMs()
	}
	if d, ok := dgram.KernelDrops(s.conn); ok {
		c.RcvbufDrops, c.DropsKnown = d-min(d, t.dropBase), true
	}
	return encodeControl(&c)
}

// rawLatency reports whether a latency test just started that the raw
// echo loop should serve.
func (s *Server) rawLatency() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.cur
	if t == nil || !t.latency || t.rawDone || !haveRaw {
		return false
	}
	t.rawDone = true
	return true
}

// rawEcho serves a latency test on blocking (or, busy, spinning) system
// calls, until the test ends (its stop, silence, its time) or Close.
// Everything else that arrives meanwhile is handled as Serve would.
func (s *Server) rawEcho() {
	s.mu.Lock()
	t := s.cur
	s.mu.Unlock()
	if t == nil {
		return
	}
	_ = s.conn.SetReadDeadline(time.Time{})
	_ = rawSocket(s.conn, 50*time.Millisecond, func(r *rawConn) {
		buf := make([]byte, dgram.RecvBufferSize)
		reply := func(b []byte, to, _ netip.AddrPort, _ int) {
			if to == r.from() {
				_ = r.reply(b) // from the address the sender contacted
			}
		}
		client := t.client
		for {
			select {
			case <-s.closing:
				return
			default:
			}
			n := r.recv(buf, t.busy)
			now := time.Now()
			if r.failed {
				s.unreachable(now) // drain the error queue, which holds receive-buffer room
			}
			if n >= 0 {
				d := buf[:n]
				from := r.from()
				if from == client && n >= seq.HeaderLen && d[0] == seq.Magic0 && d[1] == seq.Magic1 && seq.Type(d[3]) == TypeProbe && now.Before(t.end) {
					// the hot path: the client's probe, back at once
					s.mu.Lock()
					ok := s.cur == t && t.takeProbe(now)
					t.lastHeard = now
					s.mu.Unlock()
					if ok {
						_ = r.reply(d)
					}
					continue
				}
				s.datagram(d, from, netip.AddrPort{}, 0, now, reply)
			}
			s.tick(now, reply)
			s.mu.Lock()
			over := s.cur != t
			s.mu.Unlock()
			if over {
				return
			}
		}
	})
}

// Close stops Serve (waking it with a past read deadline: the socket stays
// open, it is the caller's) and waits for it.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.busy.Store(false)
		_ = s.conn.SetReadDeadline(time.Unix(1, 0))
	})
	if s.served.Load() {
		<-s.done
	}
}
