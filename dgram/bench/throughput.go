package bench

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seq"
)

// ThroughputConfig configures a throughput run. Zero fields take defaults.
type ThroughputConfig struct {
	Size     int           // bytes per datagram, the v1 header included (default 64, at least 20)
	Duration time.Duration // how long to send (default 10s)
	RatePPS  float64       // datagrams per second (0: as fast as possible)
	Batch    int           // datagrams per system call (default DefaultBatch; 1: one sendmsg each)
	Offload  bool          // coalesce with UDP GSO where the kernel has it
	Interval time.Duration // report every (default 1s; negative: never)
}

// DefaultBatch is the default number of datagrams per system call,
// chosen by measurement on these machines (see README): with GSO, 256
// datagrams (four 64-segment buffers) per sendmmsg; without, 64 messages.
const DefaultBatch = 256

// Interval is one row of a throughput run, iperf3 style.
type Interval struct {
	Start, End time.Duration // since the first datagram
	Sent       uint64        // datagrams sent in the interval
	Received   uint64        // datagrams the receiver got in it (from its report)
	Lost       uint64        // new gaps the receiver saw
	Reordered  uint64
	Duplicates uint64
	JitterMs   float64
	Known      bool // the receiver's report arrived
}

// Result is a throughput run's summary.
type Result struct {
	Size        int
	Duration    time.Duration // the sender's sending time
	Sent        uint64
	Received    uint64 // distinct datagrams received (duplicates excluded)
	Lost        uint64
	Reordered   uint64
	Duplicates  uint64
	Malformed   uint64
	JitterMs    float64
	RcvbufDrops uint64 // the receiver's kernel drop count (buffers: one may hold many coalesced datagrams)
	DropsKnown  bool
	Rcvbuf      int  // the receiver's SO_RCVBUF, as granted
	GRO         bool // the receiver read coalesced buffers
	GSO         bool // the sender coalesced
	Batch       int
}

// SentPPS returns datagrams sent per second of sending time.
func (r Result) SentPPS() float64 { return float64(r.Sent) / max(r.Duration.Seconds(), 1e-9) }

// RecvPPS returns datagrams received divided by the sender's sending
// time (as iperf3 reports the receiver).
func (r Result) RecvPPS() float64 { return float64(r.Received) / max(r.Duration.Seconds(), 1e-9) }

// RecvMbps returns the received payload rate, megabits per second, the
// whole UDP payload (header included) counted.
func (r Result) RecvMbps() float64 { return r.RecvPPS() * float64(r.Size) * 8 / 1e6 }

// LossPct returns lost / sent, in percent.
func (r Result) LossPct() float64 {
	if r.Sent == 0 {
		return 0
	}
	lost := r.Sent - min(r.Received, r.Sent)
	return float64(lost) * 100 / float64(r.Sent)
}

func (c *ThroughputConfig) defaults() {
	if c.Size == 0 {
		c.Size = 64
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
}

// RunThroughput sends datagrams of cfg.Size bytes on conn (connected to a
// Server) for cfg.Duration, each carrying its own v1 header, and returns
// what both sides counted. onInterval, if set, gets a row every
// cfg.Interval. Cancelling ctx stops early, with the summary so far.
func RunThroughput(ctx context.Context, conn *net.UDPConn, cfg ThroughputConfig, onInterval func(Interval)) (Result, error) {
	cfg.defaults()
	res := Result{Size: cfg.Size, Batch: cfg.Batch}
	_, _, _ = dgram.SetBuffers(conn, 0, 4<<20)
	cl := newClient(conn, false)
	stopReader := cl.start()
	defer stopReader()
	hello := Control{Op: "hello", Mode: "throughput", Size: cfg.Size, DurationS: cfg.Duration.Seconds(), RatePPS: cfg.RatePPS}
	if cfg.Interval > 0 {
		hello.IntervalS = cfg.Interval.Seconds()
	}
	ready, err := cl.exchange(ctx, &hello, cl.ready)
	if err != nil {
		return res, err
	}
	res.Rcvbuf, res.GRO = ready.Rcvbuf, ready.GRO

	s, err := newBlaster(conn, cfg)
	if err != nil {
		return res, err
	}
	res.GSO = s.gso
	start := time.Now()
	end := start.Add(cfg.Duration)
	nextRow := start.Add(cfg.Interval)
	var rowSent uint64
	var prev Control
	var prevKnown bool
	// A row whose interval has ended waits, up to half an interval, for the
	// receiver's report on it (which comes a little after, over the network),
	// so that it can show what was received ("recv ?" only if it is late).
	var pendingSince time.Time
	var pendingSent uint64
	newReport := func() bool {
		cur, ok := cl.latest()
		return ok && (!prevKnown || cur.T > prev.T)
	}
	emitRowAt := func(sentEnd uint64) {
		row := Interval{Start: nextRow.Add(-cfg.Interval).Sub(start), End: nextRow.Sub(start), Sent: sentEnd - rowSent}
		rowSent = sentEnd
		if cur, ok := cl.latest(); ok && (!prevKnown || cur.T > prev.T) {
			row.Known = true
			row.Received = cur.Unique - prev.Unique
			row.Lost = cur.Lost - min(prev.Lost, cur.Lost)
			row.Reordered, row.Duplicates = cur.Reordered-prev.Reordered, cur.Duplicates-prev.Duplicates
			row.JitterMs = cur.JitterMs
			if !prevKnown {
				row.Received = cur.Unique
			}
			prev, prevKnown = cur, true
		}
		onInterval(row)
		nextRow = nextRow.Add(cfg.Interval)
	}
	emitRow := func() { emitRowAt(s.sent) }
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		if cfg.RatePPS > 0 {
			due := start.Add(time.Duration(float64(s.sent) / cfg.RatePPS * float64(time.Second)))
			if due.After(now) {
				if end.Before(due) {
					due = end
				}
				sleepUntil(ctx, due)
				continue
			}
		}
		if err := s.send(now, cfg.RatePPS, start); err != nil {
			return res, err
		}
		if cfg.Interval > 0 && onInterval != nil {
			if pendingSince.IsZero() && !now.Before(nextRow) {
				pendingSince, pendingSent = now, s.sent
			}
			if !pendingSince.IsZero() && (newReport() || now.Sub(pendingSince) >= cfg.Interval/2) {
				emitRowAt(pendingSent)
				pendingSince = time.Time{}
			}
		}
	}
	if !pendingSince.IsZero() && ctx.Err() == nil {
		emitRowAt(pendingSent)
	}
	// every interval that ended before sending did has its row, even when
	// the loop did not come round in time to see it (a loaded machine);
	// the one that ends with the sending is the last row, below, with the
	// receiver's final counts
	for stopped := time.Now(); cfg.Interval > 0 && onInterval != nil && ctx.Err() == nil &&
		nextRow.Before(end) && !stopped.Before(nextRow); {
		emitRow()
	}
	res.Duration = time.Since(start)
	res.Sent = s.sent
	// The receiver may still be draining its buffer: stop asks once it is
	// done (the answer comes after everything queued before it).
	final, err := cl.exchange(context.WithoutCancel(ctx), &Control{Op: "stop"}, cl.result)
	if err != nil {
		return res, err
	}
	// The last row: from the last one printed to the end of sending, with
	// the receiver's final counts. It comes even when nothing was sent in
	// it (a slow rate, or a sender the machine's load held back past the
	// previous row's end): the receiver's counts since that row are in it.
	if cfg.Interval > 0 && onInterval != nil && ctx.Err() == nil {
		row := Interval{Start: nextRow.Add(-cfg.Interval).Sub(start), End: res.Duration, Sent: s.sent - rowSent, Known: true,
			Received: final.Unique, Lost: final.Lost, Reordered: final.Reordered, Duplicates: final.Duplicates, JitterMs: final.JitterMs}
		if prevKnown {
			row.Received -= min(prev.Unique, final.Unique)
			row.Lost -= min(prev.Lost, final.Lost)
			row.Reordered -= min(prev.Reordered, final.Reordered)
			row.Duplicates -= min(prev.Duplicates, final.Duplicates)
		}
		onInterval(row)
	}
	res.Received, res.Lost, res.Reordered, res.Duplicates = final.Unique, final.Lost, final.Reordered, final.Duplicates
	res.Malformed, res.JitterMs = final.Malformed, final.JitterMs
	res.RcvbufDrops, res.DropsKnown = final.RcvbufDrops, final.DropsKnown
	return res, nil
}

func sleepUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	if d < 50*time.Microsecond {
		return // spin: the timer would oversleep
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

// blaster builds and sends throughput datagrams, allocating nothing per
// datagram: its buffers are made once and only the headers change.
type blaster struct {
	conn *net.UDPConn
	b    *dgram.Batch
	msgs []dgram.Message
	bufs [][]byte
	size int
	gso  bool
	segs int // datagrams per GSO buffer
	per  int // datagrams per call
	sent uint64
}

func newBlaster(conn *net.UDPConn, cfg ThroughputConfig) (*blaster, error) {
	s := &blaster{conn: conn, size: cfg.Size, per: max(cfg.Batch, 1)}
	s.gso = cfg.Offload && cfg.Batch > 1 && dgram.GSOSupported(conn)
	nmsg := s.per
	if s.gso {
		s.segs = min(dgram.MaxSegments, dgram.MaxGSOBytes/cfg.Size, s.per)
		nmsg = (s.per + s.segs - 1) / s.segs
	}
	b, err := dgram.NewBatch(conn, nmsg)
	if err != nil {
		return nil, err
	}
	s.b = b
	s.msgs = make([]dgram.Message, nmsg)
	s.bufs = make([][]byte, nmsg)
	for i := range s.bufs {
		n := cfg.Size
		if s.gso {
			n = cfg.Size * s.segs
		}
		s.bufs[i] = make([]byte, n)
		for j := range s.bufs[i] {
			s.bufs[i][j] = 'a' + byte(j%26)
		}
	}
	return s, nil
}

// send sends one call's worth of datagrams (fewer when paced, so as not
// to run ahead of the rate).
func (s *blaster) send(now time.Time, rate float64, start time.Time) error {
	n := s.per
	if rate > 0 {
		// no more than is due by now, at least one
		due := uint64(now.Sub(start).Seconds()*rate) + 1
		if due > s.sent {
			n = min(n, int(due-s.sent))
		} else {
			n = 1
		}
	}
	sentAt := now.UnixNano()
	k := 0 // messages
	for left := n; left > 0; k++ {
		cnt := 1
		if s.gso {
			cnt = min(left, s.segs)
		}
		buf := s.bufs[k][:cnt*s.size]
		for j := range cnt {
			seq.Header{Type: seq.TypeData, Seq: s.sent + uint64(n-left+j), Sent: sentAt}.Put(buf[j*s.size:])
		}
		s.msgs[k] = dgram.Message{Buf: buf}
		if s.gso && cnt > 1 {
			s.msgs[k].Segment = s.size
		}
		left -= cnt
	}
	var err error
	var done int // messages sent
	if k == 1 && !s.gso {
		if _, err = s.conn.Write(s.msgs[0].Buf); err == nil { // the plain one-syscall path (--batch 1)
			done = 1
		}
	} else {
		done, err = s.b.Write(s.msgs[:k])
	}
	for _, m := range s.msgs[:done] {
		s.sent += uint64(m.Datagrams(len(m.Buf)))
	}
	if err != nil {
		err = dgram.Classify("send", remoteString(s.conn), err)
		if errors.Is(err, dgram.ErrNoBuffers) {
			return nil // not sent, so not counted: the next call tries again
		}
		return err
	}
	return nil
}
