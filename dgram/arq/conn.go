package arq

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is a reliable, ordered, message-preserving connection over UDP:
// every message sent with Send comes out of the peer's Recv once, whole,
// and in order, whatever the network lost, reordered, duplicated or
// corrupted on the way. Its methods are safe for concurrent use.
//
// A Conn is a thin driver: the protocol is its Machine, which it feeds
// with the packets its endpoint reads, with the time, and with the
// application's messages, and whose packets it writes. One goroutine per
// Conn runs its timers.
type Conn struct {
	ep   *endpoint
	path path // the peer, and the local address it contacted

	mu        sync.Mutex
	cond      *sync.Cond
	m         *Machine
	rdeadline time.Time
	rtimer    *time.Timer
	released  bool

	wake    chan struct{}
	timerAt time.Time // when the timer goroutine wakes next
	stop    chan struct{}
	wg      sync.WaitGroup
	pkt     Packet
	ownsEP  bool

	corrupt atomic.Uint64 // packets from the peer naming this connection whose checksum failed
}

func newConn(ep *endpoint, pt path, m *Machine) *Conn {
	c := &Conn{ep: ep, path: pt, m: m, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// start runs the connection's timer goroutine.
func (c *Conn) start() {
	c.wg.Add(1)
	go c.timerLoop()
}

func (c *Conn) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// output writes every packet the machine has for now, wakes whoever waits
// on the connection, and moves the timer if a deadline came closer.
// Called with c.mu held.
func (c *Conn) output(now time.Time) {
	for c.m.Next(now, &c.pkt) {
		c.ep.send(&c.pkt, &c.path)
	}
	if err := c.ep.flush(); err != nil {
		c.m.Fail(refusedErr(c.path.peer, err)) // the peer's host answered ICMP port unreachable
	}
	c.cond.Broadcast()
	if c.m.Done() {
		c.kick()
		return
	}
	if next := c.m.Deadline(); next.Before(c.timerAt.Add(-timerSlack)) {
		c.timerAt = next
		c.kick()
	}
}

// timerSlack is how much earlier than the timer goroutine's wakeup a
// deadline must be to wake it sooner: Go's timers fire in steps of about
// a millisecond anyway, and the pacer's bucket holds two milliseconds,
// so waking for every small move of the pacing deadline only costs
// context switches.
const timerSlack = 500 * time.Microsecond

// afterBatch sends what a batch of packets asked for: one ACK for the
// batch, a FIN-ACK, more data as the windows opened.
func (c *Conn) afterBatch(now time.Time) {
	c.mu.Lock()
	c.output(now)
	c.mu.Unlock()
}

// fail ends the connection with err from outside the protocol.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	c.m.Fail(err)
	c.output(time.Now())
	c.mu.Unlock()
}

// timerLoop runs the connection's timers until it ends.
func (c *Conn) timerLoop() {
	defer c.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		c.mu.Lock()
		now := time.Now()
		c.m.Tick(now)
		c.output(now)
		next := c.m.Deadline()
		c.timerAt = next
		done := c.m.Done()
		if done {
			c.releaseLocked()
		}
		c.mu.Unlock()
		if done {
			// nothing more will come for it: packets of a finished
			// connection are strays from now on
			c.ep.remove(c)
			return
		}
		t.Reset(max(time.Until(next), 0))
		select {
		case <-c.stop:
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

// releaseLocked gives back what the finished machine holds, except the
// messages still waiting for Recv. Called with c.mu held.
func (c *Conn) releaseLocked() {
	if !c.released {
		c.released = true
		c.m.releaseIdle()
	}
}

// Send sends one message. It blocks while the send buffer is full (the
// peer's window or the network's pace) and returns an error once the
// connection has failed or been closed. The message is copied.
func (c *Conn) Send(msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(msg) > c.m.cfg.MaxMessage {
		return fmt.Errorf("%w: %d bytes, over the limit of %d", ErrTooLarge, len(msg), c.m.cfg.MaxMessage)
	}
	for off := 0; ; {
		for !c.m.Done() && (c.m.SendSpace() == 0 || !c.m.Established()) {
			c.cond.Wait()
		}
		if err := c.m.Err(); err != nil {
			return err
		}
		if c.m.Done() || c.m.finQueued {
			return ErrClosed
		}
		n, all := c.m.Write(msg[off:], true)
		off += n
		c.output(time.Now())
		if all {
			return nil
		}
	}
}

// Recv returns the next message, whole. It returns io.EOF once the peer has
// closed its side and every message was read, and the connection's error
// if it failed. It honours SetReadDeadline.
func (c *Conn) Recv() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.m.Pending() {
			now := time.Now()
			msg, _ := c.m.Recv(now)
			c.output(now) // a window that opened wide is announced at once
			return msg, nil
		}
		if c.m.EOF() {
			return nil, io.EOF
		}
		if err := c.m.Err(); err != nil {
			return nil, err
		}
		if c.m.Done() {
			return nil, ErrClosed
		}
		if !c.rdeadline.IsZero() && !time.Now().Before(c.rdeadline) {
			return nil, &net.OpError{Op: "read", Net: "arq", Err: os.ErrDeadlineExceeded}
		}
		c.cond.Wait()
	}
}

// Release gives back the memory of a message Recv returned, for a later
// message to reuse (a receiver of a stream of large messages then
// allocates almost nothing); the caller must not touch msg afterwards.
// It is optional.
func (c *Conn) Release(msg []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.released {
		c.m.Release(msg)
	}
}

// SetReadDeadline makes Recv fail with a timeout after t (zero: never).
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdeadline = t
	if c.rtimer != nil {
		c.rtimer.Stop()
	}
	if !t.IsZero() {
		c.rtimer = time.AfterFunc(time.Until(t), func() {
			c.mu.Lock()
			c.cond.Broadcast()
			c.mu.Unlock()
		})
	}
	c.cond.Broadcast()
	return nil
}

// SetStallTimeout makes the connection fail with ErrStalled (and reset it)
// when no data moved either way for d although the peer kept it alive;
// zero means never, the default. A server that serves one transfer at a
// time sets it so that a peer cannot hold it with keepalives.
func (c *Conn) SetStallTimeout(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.SetStallTimeout(d)
	c.output(time.Now())
}

// IdleTimeout returns the connection's idle timeout (Config.IdleTimeout,
// or its default).
func (c *Conn) IdleTimeout() time.Duration { return c.m.cfg.IdleTimeout }

// Flush waits until the peer acknowledged everything sent so far, the
// connection ends (its error, or ErrClosed), or ctx ends.
func (c *Conn) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { c.mu.Lock(); c.cond.Broadcast(); c.mu.Unlock() })
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.m.SendIdle() && !c.m.Done() && ctx.Err() == nil {
		c.cond.Wait()
	}
	switch {
	case c.m.SendIdle():
		return nil
	case c.m.Err() != nil:
		return c.m.Err()
	case c.m.Done():
		return ErrClosed
	}
	return ctx.Err()
}

// CloseWrite says that no message follows: the peer's Recv returns io.EOF
// after the last one. It does not wait.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.m.Err(); err != nil {
		return err
	}
	c.m.CloseWrite()
	c.output(time.Now())
	return nil
}

// Close finishes the connection: it sends what is queued, waits until the
// peer acknowledged everything (or the connection fails: then it returns
// the error), answers the peer's own FIN if it comes soon, and stops the
// connection's goroutine. It is idempotent.
func (c *Conn) Close() error {
	c.mu.Lock()
	if !c.m.Done() {
		c.m.Close(time.Now())
		c.output(time.Now())
		for !c.m.Done() {
			c.cond.Wait()
		}
	}
	err := c.m.Err()
	c.mu.Unlock()
	c.teardown()
	return err
}

// Abort ends the connection at once, telling the peer (RESET).
func (c *Conn) Abort() { c.Reset(ReasonClosed) }

// Reset ends the connection at once with a RESET that gives the peer
// reason (ReasonBusy: "the receiver is busy with another transfer").
func (c *Conn) Reset(reason uint8) {
	c.mu.Lock()
	if !c.m.Done() {
		c.m.Abort(reason)
		c.output(time.Now())
	}
	c.mu.Unlock()
	c.teardown()
}

// teardown stops the goroutine and releases the buffers. Called without
// c.mu.
func (c *Conn) teardown() {
	c.ep.remove(c)
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
	if c.ownsEP {
		c.ep.close()
	}
	c.mu.Lock()
	if c.rtimer != nil {
		c.rtimer.Stop()
	}
	c.released = true
	c.m.releaseAll()
	c.cond.Broadcast()
	c.mu.Unlock()
}

// Err returns why the connection ended, or nil.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m.Err()
}

// Stats returns the connection's counters and current state.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.m.Stats()
	s.Corrupt = c.corrupt.Load()
	return s
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(c.path.peer) }

// Peer returns the peer's address.
func (c *Conn) Peer() netip.AddrPort { return c.path.peer }

// LocalAddr returns the address the peer contacted, which the connection
// answers from, when known (a socket bound to a wildcard address learns
// it from each datagram), and otherwise the socket's address.
func (c *Conn) LocalAddr() net.Addr {
	if c.path.local.IsValid() {
		return net.UDPAddrFromAddrPort(c.path.local)
	}
	return c.ep.pc.LocalAddr()
}

// ID returns the connection ID.
func (c *Conn) ID() uint32 { return c.m.ID() }
