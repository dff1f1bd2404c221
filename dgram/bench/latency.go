package bench

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seq"
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
	Size     int
	Hist     Histogram // every round trip after the warm-up
	Sent     uint64
	Lost     uint64
	Duration time.Duration
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
	_, err := cl.exchange(ctx, &Control{Op: "hello", Mode: "latency", Size: cfg.Size, Busy: cfg.BusyPoll}, cl.ready)
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

// rawPingPong is the probe loop on blocking (or spinning) system calls on
// a locked thread.
func rawPingPong(ctx context.Context, conn *net.UDPConn, cfg LatencyConfig, res *LatencyResult) error {
	var stopped atomic.Bool
	stopFn := context.AfterFunc(ctx, func() { stopped.Store(true) })
	defer stopFn()
	var loopErr error
	err := rawSocket(conn, 10*time.Millisecond, func(r *rawConn) {
		buf := make([]byte, cfg.Size)
		copy(buf[seq.HeaderLen:], "udpchat bench latency probe ")
		in := make([]byte, dgram.RecvBufferSize)
		start := time.Now()
		measureFrom := start.Add(cfg.Warmup)
		end := measureFrom.Add(cfg.Duration)
		var next uint64
		outstanding := 0
		lastRecv := start
		send := func(now time.Time) error {
			seq.Header{Type: TypeProbe, Seq: next, Sent: now.UnixNano()}.Put(buf)
			next++
			res.Sent++
			outstanding++
			return r.send(buf)
		}
		for range cfg.Inflight {
			if loopErr = send(time.Now()); loopErr != nil {
				return
			}
		}
		for !stopped.Load() {
			n := r.recv(in, cfg.BusyPoll)
			now := time.Now()
			if !now.Before(end) {
				break
			}
			if n < 0 {
				if now.Sub(lastRecv) >= cfg.Timeout && outstanding > 0 {
					res.Lost += uint64(outstanding)
					outstanding, lastRecv = 0, now
					for range cfg.Inflight {
						if loopErr = send(now); loopErr != nil {
							return
						}
					}
				}
				continue
			}
			h, _, derr := seq.Decode(in[:n])
			if derr != nil || h.Type != TypeProbe || h.Seq >= next {
				continue
			}
			outstanding--
			lastRecv = now
			if sent := time.Unix(0, h.Sent); now.After(measureFrom) && sent.After(measureFrom) {
				res.Hist.Record(now.Sub(sent))
			}
			if loopErr = send(now); loopErr != nil {
				return
			}
		}
		res.Duration = time.Since(measureFrom)
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
	buf := make([]byte, cfg.Size)
	copy(buf[seq.HeaderLen:], "udpchat bench latency probe ")
	rb, err := dgram.NewBatch(conn, 1)
	if err != nil {
		return err
	}
	in := []dgram.Message{{Buf: make([]byte, dgram.RecvBufferSize)}}
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	var next uint64
	outstanding := 0
	lastRecv := start
	send := func(now time.Time) error {
		seq.Header{Type: TypeProbe, Seq: next, Sent: now.UnixNano()}.Put(buf)
		next++
		res.Sent++
		outstanding++
		if _, err := conn.Write(buf); err != nil {
			return dgram.Classify("send", remoteString(conn), err)
		}
		return nil
	}
	for range cfg.Inflight {
		if err := send(time.Now()); err != nil {
			return err
		}
	}
	for ctx.Err() == nil {
		var n int
		if cfg.BusyPoll {
			_ = conn.SetReadDeadline(time.Time{})
			n, err = rb.TryRead(in)
		} else {
			_ = conn.SetReadDeadline(min2(end, lastRecv.Add(cfg.Timeout)))
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
		if n == 0 {
			if now.Sub(lastRecv) >= cfg.Timeout && outstanding > 0 {
				// the probes out are lost: count them, start again
				res.Lost += uint64(outstanding)
				outstanding, lastRecv = 0, now
				for range cfg.Inflight {
					if err := send(now); err != nil {
						return err
					}
				}
			}
			continue
		}
		h, _, derr := seq.Decode(in[0].Buf[:in[0].N])
		if derr != nil || h.Type != TypeProbe || h.Seq >= next {
			continue // a control message or stray datagram
		}
		outstanding--
		lastRecv = now
		if now.After(measureFrom) && time.Unix(0, h.Sent).After(measureFrom) {
			res.Hist.Record(now.Sub(time.Unix(0, h.Sent)))
		}
		if err := send(now); err != nil {
			return err
		}
	}
	res.Duration = time.Since(measureFrom)
	drainProbes(conn)
	return nil
}

func min2(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
