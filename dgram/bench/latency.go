package bench

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/probe"
)

// LatencyConfig configures a latency run. Zero fields take defaults.
type LatencyConfig struct {
	Size     int           // bytes per probe, header included (default 64)
	Duration time.Duration // how long to measure, after the warm-up (default 10s)
	Warmup   time.Duration // probes not counted at first (default a tenth of Duration, at most 1s)
	Inflight int           // probes in flight at once (default 1: ping-pong)
	BusyPoll bool          // spin on non-blocking reads, on both sides, instead of sleeping
	Timeout  time.Duration // a probe unanswered this long is lost (default 1s)
}

// LatencyResult is a latency run's summary: full round trips.
type LatencyResult struct {
	Size      int
	Hist      Histogram // every round trip after the warm-up
	Sent      uint64
	Lost      uint64 // probes with no reply within Timeout (each replaced by a new one)
	Corrupted uint64 // replies whose bytes differ from the probe's (not timed)
	Duration  time.Duration
}

func (c *LatencyConfig) defaults() {
	if c.Size == 0 {
		c.Size = 64
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Warmup == 0 {
		c.Warmup = min(c.Duration/10, time.Second)
	}
	if c.Inflight == 0 {
		c.Inflight = 1
	}
	if c.Timeout == 0 {
		c.Timeout = time.Second
	}
}

// RunLatency measures round trips: probes of cfg.Size bytes go to the
// Server on conn and come back; each round trip is timed from the send
// time in the probe's own header, so it is a full round trip (as sockperf
// --full-rtt). With Inflight > 1, a new probe leaves as each one returns.
func RunLatency(ctx context.Context, conn *net.UDPConn, cfg LatencyConfig) (LatencyResult, error) {
	cfg.defaults()
	res := LatencyResult{Size: cfg.Size}
	cl := newClient(conn, false)
	stop := cl.start()
	// The hello declares the whole run, warm-up included, so that the
	// server refuses a test longer than it allows at once, and ends this
	// one soon after it, if the stop gets lost, rather than at its limit.
	hello := Control{Op: "hello", Mode: "latency", Size: cfg.Size, Busy: cfg.BusyPoll, DurationS: (cfg.Warmup + cfg.Duration).Seconds()}
	_, err := cl.exchange(ctx, &hello, cl.ready)
	stop()
	if err != nil {
		return res, err
	}
	if haveRaw {
		err = rawPingPong(ctx, conn, cfg, &res)
	} else {
		err = goPingPong(ctx, conn, cfg, &res)
	}
	if err != nil {
		return res, err
	}
	cl = newClient(conn, false)
	stop = cl.start()
	_, err = cl.exchange(context.WithoutCancel(ctx), &Control{Op: "stop"}, cl.result)
	stop()
	return res, err
}

// pingPong is what both probe loops share: the prober that numbers the
// probes and matches the replies (package probe, as udpchat ping), the
// warm-up, and the histogram.
type pingPong struct {
	pr          *probe.Prober
	res         *LatencyResult
	measureFrom time.Time
	send        func([]byte) error
}

func newPingPong(cfg LatencyConfig, res *LatencyResult, start time.Time, send func([]byte) error) (*pingPong, error) {
	pr, err := probe.New(probe.Config{Size: cfg.Size, Type: TypeProbe, Timeout: cfg.Timeout,
		Fill: func(b []byte) { copy(b, "udpchat bench latency probe ") }})
	if err != nil {
		return nil, err
	}
	return &pingPong{pr: pr, res: res, measureFrom: start.Add(cfg.Warmup), send: send}, nil
}

// fire sends the next probe.
func (pp *pingPong) fire(now time.Time) error {
	_, b := pp.pr.Next(now)
	pp.res.Sent++
	return pp.send(b)
}

// reply takes a datagram that came back: a probe's reply is timed (after
// the warm-up) and answered with the next probe; anything else (a late,
// duplicated or changed reply, a control message) is counted or skipped.
func (pp *pingPong) reply(b []byte, now time.Time) error {
	ev := pp.pr.Reply(b, now)
	switch ev.Kind {
	case probe.Reply:
	case probe.Corrupted:
		pp.res.Corrupted++
		return nil
	default:
		return nil
	}
	if now.Add(-ev.RTT).After(pp.measureFrom) {
		pp.res.Hist.Record(ev.RTT)
	}
	return pp.fire(now)
}

// expire counts the probes whose timeout passed as lost, and replaces
// each with a new one.
func (pp *pingPong) expire(now time.Time) error {
	var err error
	pp.pr.Expire(now, func(probe.Event) {
		pp.res.Lost++
		if err == nil {
			err = pp.fire(now)
		}
	})
	return err
}

// rawPingPong is the probe loop on blocking (or spinning) system calls on
// a locked thread.
func rawPingPong(ctx context.Context, conn *net.UDPConn, cfg LatencyConfig, res *LatencyResult) error {
	var stopped atomic.Bool
	stopFn := context.AfterFunc(ctx, func() { stopped.Store(true) })
	defer stopFn()
	var loopErr error
	err := rawSocket(conn, 10*time.Millisecond, func(r *rawConn) {
		in := make([]byte, dgram.RecvBufferSize)
		start := time.Now()
		var pp *pingPong
		if pp, loopErr = newPingPong(cfg, res, start, r.send); loopErr != nil {
			return
		}
		end := pp.measureFrom.Add(cfg.Duration)
		for range cfg.Inflight {
			if loopErr = pp.fire(time.Now()); loopErr != nil {
				return
			}
		}
		for !stopped.Load() {
			n := r.recv(in, cfg.BusyPoll)
			now := time.Now()
			if !now.Before(end) {
				break
			}
			if n >= 0 {
				if loopErr = pp.reply(in[:n], now); loopErr != nil {
					return
				}
			}
			if loopErr = pp.expire(now); loopErr != nil {
				return
			}
		}
		res.Duration = time.Since(pp.measureFrom)
	})
	if err != nil {
		return err
	}
	if loopErr != nil {
		return dgram.Classify("send", remoteString(conn), loopErr)
	}
	drainProbes(conn)
	return nil
}

// drainProbes reads the probes still on their way back.
func drainProbes(conn *net.UDPConn) {
	rb, err := dgram.NewBatch(conn, 1)
	if err != nil {
		return
	}
	in := []dgram.Message{{Buf: make([]byte, dgram.RecvBufferSize)}}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	for {
		if _, err := rb.Read(in); err != nil {
			break
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
}

// goPingPong is the probe loop on Go's poller, where raw sockets are not
// available.
func goPingPong(ctx context.Context, conn *net.UDPConn, cfg LatencyConfig, res *LatencyResult) error {
	rb, err := dgram.NewBatch(conn, 1)
	if err != nil {
		return err
	}
	in := []dgram.Message{{Buf: make([]byte, dgram.RecvBufferSize)}}
	pp, err := newPingPong(cfg, res, time.Now(), func(b []byte) error {
		if _, err := conn.Write(b); err != nil {
			return dgram.Classify("send", remoteString(conn), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	end := pp.measureFrom.Add(cfg.Duration)
	for range cfg.Inflight {
		if err := pp.fire(time.Now()); err != nil {
			return err
		}
	}
	for ctx.Err() == nil {
		var n int
		if cfg.BusyPoll {
			_ = conn.SetReadDeadline(time.Time{})
			n, err = rb.TryRead(in)
		} else {
			deadline := end
			if d := pp.pr.Deadline(); !d.IsZero() && d.Before(deadline) {
				deadline = d
			}
			_ = conn.SetReadDeadline(deadline)
			n, err = rb.Read(in)
		}
		now := time.Now()
		if err != nil && !errors.Is(err, dgram.ErrTimeout) {
			if errors.Is(err, dgram.ErrRefused) {
				return err
			}
			continue
		}
		if !now.Before(end) {
			break
		}
		if n > 0 {
			if err := pp.reply(in[0].Buf[:in[0].N], now); err != nil {
				return err
			}
		}
		if err := pp.expire(now); err != nil {
			return err
		}
	}
	res.Duration = time.Since(pp.measureFrom)
	drainProbes(conn)
	return nil
}
