package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/guard"
	"github.com/udpchat/udpchat/dgram/seal"
)

// Request is one datagram a Server received. The Server reuses it (and
// its Data) for the next datagram: a Handler that keeps anything copies
// it.
type Request struct {
	// Data is the payload: the plaintext, with an Opener.
	Data []byte
	// From is the sender.
	From netip.AddrPort
	// To is the address the sender contacted (with the socket's port),
	// when known: always on a socket bound to one address, and on a
	// wildcard socket from the kernel's IP_PKTINFO / IPV6_PKTINFO.
	To netip.AddrPort
	// IfIndex is the interface it arrived on, when the kernel said.
	IfIndex int
	// TTL is the TTL or hop limit it arrived with, when the Server asked
	// for it (ConnConfig.TTL); 0 otherwise.
	TTL int
	// Truncated reports that it was larger than the read buffer.
	Truncated bool
	// Time is when the batch it came in was read.
	Time time.Time
}

// ResponseWriter answers the request being handled.
type ResponseWriter interface {
	// Write sends b as one datagram to the request's sender, from the
	// address the sender contacted (Request.To), through the Server's
	// Guard and sealed by its Sealer when they are set. Replies are
	// batched: they leave when the Handler returns for the last datagram
	// of the batch read, or when enough are queued. It returns len(b), or
	// an error: a *GuardError when the guard refused the reply (counted
	// there), an error of sealing, or of the last send.
	Write(b []byte) (int, error)
}

// Handler serves datagrams. ServeDatagram runs on the Server's goroutine,
// one datagram at a time, in the order they were read; a non-nil error
// stops the Server, and ActivateAndServe returns it.
type Handler interface {
	ServeDatagram(w ResponseWriter, r *Request) error
}

// HandlerFunc is a function used as a Handler.
type HandlerFunc func(w ResponseWriter, r *Request) error

// ServeDatagram calls f(w, r).
func (f HandlerFunc) ServeDatagram(w ResponseWriter, r *Request) error { return f(w, r) }

// Flusher is a Handler that buffers output (a terminal, a file): the
// Server calls Flush after a batch of datagrams, at most every
// Server.FlushEvery while they keep coming and at the latest FlushEvery
// after the last one, so that a lone datagram is shown at once and a burst
// costs one write per interval.
type Flusher interface {
	Flush() error
}

// Echo is a Handler that sends every datagram back to its sender (what
// the guard refuses, or a send loses, is counted by the Server).
var Echo Handler = HandlerFunc(func(w ResponseWriter, r *Request) error {
	_, _ = w.Write(r.Data)
	return nil
})

// Errors of a Server.
var (
	// ErrIdle: IdleTimeout passed without a datagram.
	ErrIdle = errors.New("serve: idle timeout")
	// ErrServerClosed: ActivateAndServe was called after Shutdown, or twice.
	ErrServerClosed = errors.New("serve: server closed")
	// ErrGuarded: the guard refused a reply. *GuardError matches it.
	ErrGuarded = errors.New("serve: reply refused by the guard")
)

// GuardError is the error of a reply the guard refused.
type GuardError struct{ Verdict guard.Verdict }

// Error names the guard's verdict.
func (e *GuardError) Error() string {
	return "serve: reply refused by the guard: " + e.Verdict.String()
}

// Is makes a GuardError match ErrGuarded.
func (e *GuardError) Is(target error) bool { return target == ErrGuarded }

// DefaultFlushEvery is FlushEvery's default.
const DefaultFlushEvery = 20 * time.Millisecond

// Server serves datagrams on a socket the caller opened, in the manner of
// miekg/dns's Server: configure it with its fields, call
// ActivateAndServe, and Shutdown from another goroutine. It reads in
// batches, hands each datagram to the Handler, and writes the replies in
// batches, each from the address its peer contacted. It never closes the
// socket.
type Server struct {
	// Conn is the socket to serve on. A *net.UDPConn is read and written
	// through dgram.NewConn with ConnConfig (Dst is always turned on, so
	// a socket bound to a wildcard address answers each peer from the
	// address it contacted); a dgram.BatchConn (seal.Conn, netem.Conn, a
	// *dgram.Conn) is used as it is; any other net.PacketConn one datagram
	// at a time.
	Conn net.PacketConn
	// ConnConfig configures a *net.UDPConn Conn. With Count set, GRO is
	// left off (a coalesced read could take datagrams beyond Count).
	ConnConfig dgram.ConnConfig
	// Handler serves each datagram.
	Handler Handler
	// IdleTimeout ends ActivateAndServe with ErrIdle when no datagram was
	// delivered for this long, counted from the start and again from each
	// datagram (0: never).
	IdleTimeout time.Duration
	// Count ends ActivateAndServe, with a nil error, once this many
	// datagrams were handed to the Handler (0: no limit). The Server never
	// reads more than it still wants, so later datagrams stay queued on
	// the socket.
	Count uint64
	// Opener, when set, opens every datagram before the Handler sees it:
	// one that does not authenticate is not delivered (nor counted, nor
	// answered) but passed to Rejected.
	Opener *seal.Opener
	// Sealer, when set, seals every reply.
	Sealer *seal.Sealer
	// Rejected, when set, is told of every datagram the Opener refused
	// (r.Data is then the sealed datagram). An error stops the Server.
	Rejected func(r *Request, c seal.Cause) error
	// Guard, when set, decides for every reply whether it may go, so that
	// the Server cannot be turned into a reflector (package guard).
	Guard *guard.Guard
	// FlushEvery bounds how long a Flusher Handler's output waits during a
	// burst (0: DefaultFlushEvery).
	FlushEvery time.Duration
	// NotifyStartedFunc, when set, is called once the Server is about to
	// read its first datagram.
	NotifyStartedFunc func()
	// ReplyError, when set, is told when replies could not be sent: the
	// error and how many datagrams it cost. The Server goes on.
	ReplyError func(err error, failed int)

	mu       sync.Mutex
	started  bool
	shutdown bool
	bc       dgram.BatchConn
	done     chan struct{}
	stopping atomic.Bool

	received, bytes, truncated, rejected atomic.Uint64
	replies, replyErrors, guarded        atomic.Uint64
}

// Stats counts what a Server did.
type Stats struct {
	Received    uint64 // datagrams handed to the Handler
	Bytes       uint64 // their bytes
	Truncated   uint64 // of them, cut by the read buffer
	Rejected    uint64 // refused by the Opener, not delivered
	Replies     uint64 // replies sent
	ReplyErrors uint64 // replies lost to a send error or a sealing failure
	Guarded     uint64 // replies the guard refused
	// RcvbufDrops is how many datagrams the kernel dropped on the socket
	// because its receive buffer was full, when DropsKnown.
	RcvbufDrops uint64
	DropsKnown  bool
	// CtrlTruncated counts datagrams whose control messages were cut.
	CtrlTruncated uint64
}

// Stats returns the counts so far. It is safe to call while the Server
// runs.
func (s *Server) Stats() Stats {
	st := Stats{Received: s.received.Load(), Bytes: s.bytes.Load(), Truncated: s.truncated.Load(),
		Rejected: s.rejected.Load(), Replies: s.replies.Load(), ReplyErrors: s.replyErrors.Load(),
		Guarded: s.guarded.Load()}
	s.mu.Lock()
	bc := s.bc
	s.mu.Unlock()
	if c, ok := bc.(*dgram.Conn); ok {
		st.RcvbufDrops, st.DropsKnown = c.Drops()
		st.CtrlTruncated = c.CtrlTruncated()
	} else if u, ok := s.Conn.(*net.UDPConn); ok {
		st.RcvbufDrops, st.DropsKnown = dgram.KernelDrops(u)
	}
	return st
}

// aLongTimeAgo is a read deadline in the past: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// ActivateAndServe serves until Shutdown (nil), Count datagrams (nil),
// IdleTimeout (ErrIdle), a Handler's or Rejected's error, or a read error
// other than a refusal (which answers an earlier reply and is ignored).
// Datagrams already queued on the socket when Shutdown is called (at most
// one batch) are still served.
func (s *Server) ActivateAndServe() error {
	s.mu.Lock()
	if s.started || s.shutdown {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.Conn == nil || s.Handler == nil {
		s.mu.Unlock()
		return errors.New("serve: a Server needs a Conn and a Handler")
	}
	s.started = true
	s.done = make(chan struct{})
	cfg := s.ConnConfig
	cfg.Dst = true
	if s.Count > 0 {
		cfg.GRO = false
	}
	bc, err := dgram.AsBatchConn(s.Conn, cfg)
	if err != nil {
		close(s.done)
		s.mu.Unlock()
		return err
	}
	s.bc = bc
	s.mu.Unlock()
	defer close(s.done)
	l := newLoop(s, bc)
	return l.run()
}

// Shutdown stops the Server: it wakes the reader with a read deadline in
// the past and waits until ActivateAndServe has returned (the replies of
// the last batch sent), or until ctx ends. The socket stays open, with
// its read deadline cleared.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	started, done := s.started, s.done
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.stopping.Store(true)
	_ = s.Conn.SetReadDeadline(aLongTimeAgo)
	select {
	case <-done:
		_ = s.Conn.SetReadDeadline(time.Time{})
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loop is the state of one ActivateAndServe.
type loop struct {
	s       *Server
	bc      dgram.BatchConn
	msgs    []dgram.Message
	w       *dgram.Writer
	rw      responseWriter
	req     Request
	flusher Flusher
	every   time.Duration

	lastFlush     time.Time
	pending       bool // the Flusher has unflushed output
	rejectedShown bool // Rejected was called in this batch: its output wants flushing too
	delivered     uint64
	sealBuf       []byte
}

func newLoop(s *Server, bc dgram.BatchConn) *loop {
	n := s.ConnConfig.Batch
	if c, ok := bc.(*dgram.Conn); ok {
		n = c.BatchSize()
	}
	if n <= 0 {
		n = dgram.DefaultBatch
	}
	l := &loop{s: s, bc: bc, msgs: make([]dgram.Message, n), w: dgram.NewBatchWriter(bc, n, true)}
	for i := range l.msgs {
		l.msgs[i].Buf = make([]byte, dgram.RecvBufferSize)
	}
	l.rw.l = l
	l.flusher, _ = s.Handler.(Flusher)
	l.every = s.FlushEvery
	if l.every <= 0 {
		l.every = DefaultFlushEvery
	}
	return l
}

func (l *loop) run() error {
	s := l.s
	if s.NotifyStartedFunc != nil {
		s.NotifyStartedFunc()
	}
	defer l.sendReplies()
	start := time.Now()
	idle := time.Time{}
	if s.IdleTimeout > 0 {
		idle = start.Add(s.IdleTimeout)
	}
	for s.Count == 0 || l.delivered < s.Count {
		deadline := idle
		if l.pending {
			flushAt := l.lastFlush.Add(l.every)
			if now := time.Now(); !now.Before(flushAt) {
				if err := l.flush(now); err != nil {
					return err
				}
			} else if deadline.IsZero() || flushAt.Before(deadline) {
				deadline = flushAt
			}
		}
		// Set the deadline before checking for Shutdown: a Shutdown after
		// the check overrides it with its past one.
		if err := s.Conn.SetReadDeadline(deadline); err != nil {
			return err
		}
		if s.stopping.Load() {
			return l.drain()
		}
		want := len(l.msgs)
		if s.Count > 0 {
			want = int(min(uint64(want), s.Count-l.delivered))
		}
		n, err := l.bc.ReadBatch(l.msgs[:want])
		if err != nil {
			if s.stopping.Load() {
				return l.drain()
			}
			if errors.Is(err, dgram.ErrRefused) {
				continue // a refusal of an earlier reply: not ours to stop for
			}
			if !isTimeout(err) {
				return err
			}
			now := time.Now()
			if l.pending {
				if err := l.flush(now); err != nil {
					return err
				}
			}
			if !idle.IsZero() && !now.Before(idle) {
				return ErrIdle
			}
			continue
		}
		now := time.Now()
		got, err := l.serveBatch(n, now)
		if err != nil {
			return err
		}
		if got > 0 && s.IdleTimeout > 0 {
			idle = now.Add(s.IdleTimeout)
		}
	}
	return nil
}

// drain serves what is already queued (one batch, without waiting), after
// Shutdown.
func (l *loop) drain() error {
	tr, ok := l.bc.(interface {
		TryReadBatch([]dgram.Message) (int, error)
	})
	if !ok {
		return nil
	}
	if err := l.s.Conn.SetReadDeadline(time.Time{}); err != nil {
		return nil
	}
	want := len(l.msgs)
	if l.s.Count > 0 {
		want = int(min(uint64(want), l.s.Count-l.delivered))
	}
	n, err := tr.TryReadBatch(l.msgs[:want])
	_ = l.s.Conn.SetReadDeadline(aLongTimeAgo) // Shutdown clears it once we are done
	if err != nil || n == 0 {
		return nil
	}
	_, err = l.serveBatch(n, time.Now())
	return err
}

// serveBatch hands the datagrams of n messages to the Handler and sends
// the replies. It returns how many it delivered.
func (l *loop) serveBatch(n int, now time.Time) (int, error) {
	s := l.s
	got := 0
	var err error
batch:
	for i := range l.msgs[:n] {
		m := &l.msgs[i]
		for d := range m.All() {
			if err = l.serveOne(m, d, now, &got); err != nil {
				break batch
			}
			if s.Count > 0 && l.delivered >= s.Count {
				break batch
			}
		}
	}
	l.sendReplies()
	if err != nil {
		return got, err
	}
	if l.flusher != nil && (got > 0 || l.rejectedShown) {
		l.rejectedShown = false
		l.pending = true
		if now.Sub(l.lastFlush) >= l.every {
			return got, l.flush(now)
		}
	}
	return got, nil
}

// serveOne opens (with a key) and delivers one datagram.
func (l *loop) serveOne(m *dgram.Message, d []byte, now time.Time, got *int) error {
	s := l.s
	r := &l.req
	*r = Request{Data: d, From: m.Addr, To: m.Local, IfIndex: m.IfIndex, TTL: m.TTL, Truncated: m.Truncated, Time: now}
	if s.Opener != nil {
		var dst []byte // in place: the plaintext overwrites the ciphertext
		if len(d) >= seal.HeaderLen {
			dst = d[seal.HeaderLen:seal.HeaderLen]
		}
		out, _, c := s.Opener.Open(dst, m.Addr, d)
		if c != seal.None {
			s.rejected.Add(1)
			if s.Rejected != nil {
				l.rejectedShown = true // what Rejected wrote is flushed as a delivery's would be
				return s.Rejected(r, c)
			}
			return nil
		}
		r.Data = out
	}
	l.delivered++
	*got++
	s.received.Add(1)
	s.bytes.Add(uint64(len(r.Data)))
	if m.Truncated {
		s.truncated.Add(1)
	}
	return s.Handler.ServeDatagram(&l.rw, r)
}

// flush flushes the Handler's output.
func (l *loop) flush(now time.Time) error {
	l.lastFlush, l.pending = now, false
	return l.flusher.Flush()
}

// sendReplies writes the queued replies.
func (l *loop) sendReplies() {
	sent, failed, err := l.w.Flush()
	l.s.replies.Add(uint64(sent))
	if failed > 0 || err != nil {
		l.s.replyErrors.Add(uint64(failed))
		if l.s.ReplyError != nil && err != nil {
			l.s.ReplyError(err, failed)
		}
	}
}

// responseWriter answers l.req.
type responseWriter struct{ l *loop }

func (w *responseWriter) Write(b []byte) (int, error) {
	l := w.l
	s, r := l.s, &l.req
	if s.Guard != nil {
		if v := s.Guard.Check(r.From, r.Data, r.Time); v != guard.Allow {
			s.guarded.Add(1)
			return 0, &GuardError{Verdict: v}
		}
	}
	out := b
	if s.Sealer != nil {
		var err error
		if l.sealBuf, err = s.Sealer.Seal(l.sealBuf[:0], b, r.Time); err != nil {
			s.replyErrors.Add(1)
			return 0, fmt.Errorf("serve: sealing a reply: %w", err)
		}
		out = l.sealBuf
	}
	sent, failed, err := l.w.AddFrom(out, r.From, r.To, r.IfIndex)
	s.replies.Add(uint64(sent))
	if failed > 0 || err != nil {
		s.replyErrors.Add(uint64(failed))
		if s.ReplyError != nil && err != nil {
			s.ReplyError(err, failed)
		}
	}
	return len(b), nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
