package bench

import (
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seq"
)

// Header types the benchmark uses besides seq.TypeData (throughput
// datagrams, tracked one by one).
const (
	// TypeProbe is a latency probe: the server sends it back unchanged.
	TypeProbe seq.Type = 8
	// TypeControl carries a JSON Control message.
	TypeControl seq.Type = 9
)

// Control is the benchmark's control message, JSON after a v1 header of
// TypeControl. A client says hello (with its mode), the server answers
// ready; during a throughput run the server pushes interval reports; the
// client says stop and the server answers result with its counters.
type Control struct {
	Op        string  `json:"op"` // hello, ready, interval, stop, result
	Mode      string  `json:"mode,omitempty"`
	Size      int     `json:"size,omitempty"`
	Busy      bool    `json:"busy,omitempty"`
	IntervalS float64 `json:"interval_s,omitempty"`
	T         float64 `json:"t,omitempty"` // server's seconds since hello

	Received    uint64  `json:"received"`
	Unique      uint64  `json:"unique"`
	Expected    uint64  `json:"expected"`
	Lost        uint64  `json:"lost"`
	Duplicates  uint64  `json:"duplicates"`
	Reordered   uint64  `json:"reordered"`
	Malformed   uint64  `json:"malformed"`
	JitterMs    float64 `json:"jitter_ms"`
	RcvbufDrops uint64  `json:"rcvbuf_drops"`
	DropsKnown  bool    `json:"rcvbuf_drops_known"`
	Rcvbuf      int     `json:"rcvbuf"`
	GRO         bool    `json:"gro"`
}

func encodeControl(c *Control) []byte {
	b := seq.Header{Type: TypeControl}.Append(nil)
	j, _ := json.Marshal(c)
	return append(b, j...)
}

// Server is the receiving side of a benchmark: it tracks throughput
// datagrams one by one (each carries its own v1 header, even inside a
// coalesced GRO buffer), echoes latency probes, and answers control
// messages. It reads in batches, with GRO where the kernel has it.
type Server struct {
	conn    *net.UDPConn
	tracker *seq.Tracker
	rcvbuf  int
	gro     bool

	mu          sync.Mutex // guards the session below, for Close and tests
	client      netip.AddrPort
	clientTo    dgram.Message // the address (and interface) client contacted: replies leave from it
	started     time.Time
	interval    time.Duration
	nextPush    time.Time
	dropBase    uint64
	busy        atomic.Bool
	latency     bool // a latency session starts: echo on raw system calls
	latencyBusy bool

	pusher *dgram.Batch // interval reports, from Serve's goroutine

	countOnly bool   // benchmarks of the tracking cost: count, do not track
	counted   uint64 // datagrams counted so

	closing chan struct{}
	done    chan struct{}
	once    sync.Once
	served  atomic.Bool
}

// NewServer prepares a server on conn, which the caller owns: it raises
// the receive buffer and enables GRO where it can.
func NewServer(conn *net.UDPConn) *Server {
	s := &Server{conn: conn, tracker: seq.NewTracker(seq.Config{}), closing: make(chan struct{}), done: make(chan struct{})}
	s.rcvbuf, _, _ = dgram.SetBuffers(conn, 4<<20, 4<<20)
	s.gro = dgram.EnableGRO(conn) == nil
	if dgram.LocalAddrPort(conn).Addr().IsUnspecified() {
		_ = dgram.EnableDst(conn) // answer from the address each client contacted
	}
	return s
}

// Rcvbuf returns the receive buffer the kernel granted, and GRO whether
// coalesced reads are on.
func (s *Server) Rcvbuf() (int, bool) { return s.rcvbuf, s.gro }

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
	if s.pusher, err = dgram.NewBatch(s.conn, 1); err != nil {
		return err
	}
	msgs := make([]dgram.Message, 64)
	for i := range msgs {
		msgs[i].Buf = make([]byte, dgram.RecvBufferSize)
	}
	var ev seq.Event
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
				s.maybePush(time.Now())
				continue // spin
			}
		} else {
			s.mu.Lock()
			dl := s.nextPush
			s.mu.Unlock()
			_ = s.conn.SetReadDeadline(dl)
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
				s.maybePush(now)
				continue
			}
			select {
			case <-s.closing:
				return nil
			default:
			}
			continue // a transient error
		}
		for i := range msgs[:n] {
			m := &msgs[i]
			if m.Segment > 0 && !s.countOnly {
				// the in-order fast path, then datagram by datagram
				k := s.tracker.ObserveRun(m.Addr, m.Buf[:m.N], m.Segment, now)
				if k == m.N {
					continue
				}
				rest := *m
				rest.Buf, rest.N = m.Buf[k:], m.N-k
				m = &rest
			}
			for d := range m.All() {
				switch {
				case len(d) >= seq.HeaderLen && d[0] == seq.Magic0 && d[3] == byte(TypeProbe):
					_, _, _ = w.AddFrom(d, m.Addr, m.Local, m.IfIndex)
				case len(d) >= seq.HeaderLen && d[0] == seq.Magic0 && d[3] == byte(TypeControl):
					s.control(d[seq.HeaderLen:], m, now, w)
				case s.countOnly:
					s.counted++
				default:
					s.tracker.ObserveTo(&ev, m.Addr, d, now)
				}
			}
		}
		_, _, _ = w.Flush()
		s.maybePush(now)
		s.mu.Lock()
		lat, busy := s.latency, s.latencyBusy
		s.latency = false
		s.mu.Unlock()
		if lat {
			s.rawEcho(busy)
		}
	}
}

// rawEcho serves a latency session on blocking (or, busy, spinning)
// system calls, until its stop or Close.
func (s *Server) rawEcho(busy bool) {
	_ = s.conn.SetReadDeadline(time.Time{})
	_ = rawSocket(s.conn, 50*time.Millisecond, func(r *rawConn) {
		buf := make([]byte, dgram.RecvBufferSize)
		for {
			select {
			case <-s.closing:
				return
			default:
			}
			n := r.recv(buf, busy)
			if n < seq.HeaderLen || buf[0] != seq.Magic0 || buf[1] != seq.Magic1 {
				continue
			}
			d := buf[:n]
			switch seq.Type(d[3]) {
			case TypeProbe:
				_ = r.reply(d)
			case TypeControl:
				var c Control
				if json.Unmarshal(d[seq.HeaderLen:], &c) != nil {
					continue
				}
				op := "ready"
				if c.Op == "stop" {
					op = "result"
				}
				reply := s.counters(r.from(), op, time.Now())
				_ = r.reply(encodeControl(&reply))
				if c.Op == "stop" {
					return
				}
			}
		}
	})
}

// control answers one control message, which came in m.
func (s *Server) control(body []byte, m *dgram.Message, now time.Time, w *dgram.Writer) {
	var c Control
	if json.Unmarshal(body, &c) != nil {
		return
	}
	from := m.Addr
	switch c.Op {
	case "hello":
		s.mu.Lock()
		s.client, s.started = from, now
		s.clientTo = dgram.Message{Local: m.Local, IfIndex: m.IfIndex}
		s.interval = time.Duration(c.IntervalS * float64(time.Second))
		s.nextPush = time.Time{}
		if s.interval > 0 && c.Mode == "throughput" {
			s.nextPush = now.Add(s.interval)
		}
		s.dropBase, _ = dgram.KernelDrops(s.conn)
		s.latency = c.Mode == "latency" && haveRaw
		s.mu.Unlock()
		s.latencyBusy = c.Busy
		s.busy.Store(c.Busy && !s.latency)
		reply := s.counters(from, "ready", now)
		_, _, _ = w.AddFrom(encodeControl(&reply), from, m.Local, m.IfIndex)
	case "stop":
		s.busy.Store(false)
		s.mu.Lock()
		s.nextPush = time.Time{}
		s.mu.Unlock()
		reply := s.counters(from, "result", now)
		_, _, _ = w.AddFrom(encodeControl(&reply), from, m.Local, m.IfIndex)
	}
}

// counters reports what the server saw from peer.
func (s *Server) counters(peer netip.AddrPort, op string, now time.Time) Control {
	c := Control{Op: op, Rcvbuf: s.rcvbuf, GRO: s.gro}
	if st, ok := s.tracker.Lookup(peer); ok {
		c.Received, c.Unique, c.Expected, c.Lost = st.Received, st.Unique, st.Expected, st.Lost
		c.Duplicates, c.Reordered, c.Malformed, c.JitterMs = st.Duplicates, st.Reordered, st.Malformed, st.JitterMs()
	}
	s.mu.Lock()
	if !s.started.IsZero() {
		c.T = now.Sub(s.started).Seconds()
	}
	base := s.dropBase
	s.mu.Unlock()
	if d, ok := dgram.KernelDrops(s.conn); ok {
		c.RcvbufDrops, c.DropsKnown = d-base, true
	}
	return c
}

// maybePush sends the client an interval report when one is due.
func (s *Server) maybePush(now time.Time) {
	s.mu.Lock()
	due := !s.nextPush.IsZero() && !now.Before(s.nextPush)
	client := s.client
	push := s.clientTo
	if due {
		s.nextPush = s.nextPush.Add(s.interval)
		if s.nextPush.Before(now) {
			s.nextPush = now.Add(s.interval)
		}
	}
	s.mu.Unlock()
	if !due {
		return
	}
	c := s.counters(client, "interval", now)
	push.Buf, push.Addr = encodeControl(&c), client
	_, _ = s.pusher.Write([]dgram.Message{push})
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
