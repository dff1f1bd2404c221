package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seq"
)

// controlTimeout bounds each control exchange (hello, stop); controlEvery
// is how often an unanswered one is sent again.
const (
	controlTimeout = 5 * time.Second
	controlEvery   = 100 * time.Millisecond
)

// ErrNoServer is the error when no benchmark server answered.
var ErrNoServer = errors.New("bench: no benchmark server answered")

// ErrRefused is the error when the server refused the test (another
// client's test runs, or the test asks more than the server allows); the
// error says why.
var ErrRefused = errors.New("bench: the server refused the test")

// client reads control messages from the server on the client's socket in
// its own goroutine, so that the sending loop never blocks on reads.
type client struct {
	conn    *net.UDPConn
	ctlMu   sync.Mutex
	ready   chan Control
	result  chan Control
	retry   chan string // tokens from the server's retry
	denied  chan string // why the server refused
	last    Control     // the latest interval report
	lastOK  bool
	probes  chan probeReply // latency replies (nil in throughput mode)
	done    chan struct{}
	refused atomic.Bool // the server's host answered port unreachable
}

type probeReply struct {
	seq  uint64
	sent int64
	at   time.Time
}

func newClient(conn *net.UDPConn, latency bool) *client {
	c := &client{conn: conn, ready: make(chan Control, 1), result: make(chan Control, 1), done: make(chan struct{}),
		retry: make(chan string, 1), denied: make(chan string, 1)}
	if latency {
		c.probes = make(chan probeReply, 1024)
	}
	return c
}

// readControl runs until the socket's read deadline is set in the past.
func (c *client) readControl(stop <-chan struct{}) {
	defer close(c.done)
	r := dgram.NewReader(c.conn, 0)
	for {
		d, err := r.Read()
		if err != nil {
			select {
			case <-stop:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, dgram.ErrRefused) {
				c.refused.Store(true)
			}
			continue
		}
		c.dispatch(d.Data, time.Now())
	}
}

func (c *client) dispatch(b []byte, at time.Time) {
	h, body, err := seq.Decode(b)
	if err != nil {
		return
	}
	switch h.Type {
	case TypeControl:
		ctl, ok := decodeControl(body)
		if !ok {
			return
		}
		switch ctl.Op {
		case "retry":
			select {
			case c.retry <- ctl.Token:
			default:
			}
		case "refused":
			select {
			case c.denied <- ctl.Error:
			default:
			}
		case "ready":
			select {
			case c.ready <- ctl:
			default:
			}
		case "result":
			select {
			case c.result <- ctl:
			default:
			}
		case "interval":
			c.ctlMu.Lock()
			c.last, c.lastOK = ctl, true
			c.ctlMu.Unlock()
		}
	case TypeProbe:
		if c.probes != nil {
			select {
			case c.probes <- probeReply{seq: h.Seq, sent: h.Sent, at: at}:
			default:
			}
		}
	}
}

func (c *client) latest() (Control, bool) {
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	return c.last, c.lastOK
}

// exchange sends a control message until the answer comes on ch. A
// hello gets a test ID if it has none, and carries the server's token
// once a retry brought one (and is sent again at once with it).
func (c *client) exchange(ctx context.Context, msg *Control, ch <-chan Control) (Control, error) {
	if msg.Op == "hello" && msg.Test == 0 {
		var id [4]byte
		_, _ = rand.Read(id[:])
		msg.Test = binary.BigEndian.Uint32(id[:]) | 1
	}
	b := encodeControl(msg)
	deadline := time.Now().Add(controlTimeout)
	t := time.NewTicker(controlEvery)
	defer t.Stop()
	retries := 0
	for {
		if _, err := c.conn.Write(b); err != nil && !errors.Is(dgram.Classify("send", "", err), dgram.ErrRefused) {
			return Control{}, dgram.Classify("send", remoteString(c.conn), err)
		}
		select {
		case r := <-ch:
			return r, nil
		case tok := <-c.retry:
			if msg.Op == "hello" && retries < 10 {
				retries++
				msg.Token = tok
				b = encodeControl(msg)
				continue // at once, with the token
			}
		case why := <-c.denied:
			if msg.Op == "hello" {
				return Control{}, fmt.Errorf("%w (%s): %s", ErrRefused, remoteString(c.conn), why)
			}
		case <-ctx.Done():
			return Control{}, ctx.Err()
		case <-t.C:
		}
		if c.refused.Load() {
			return Control{}, fmt.Errorf("%w: nobody is listening on %s (its host answered ICMP port unreachable); start `udpchat bench server` there",
				ErrNoServer, remoteString(c.conn))
		}
		if time.Now().After(deadline) {
			return Control{}, fmt.Errorf("%w at %s within %v (%q unanswered): is `udpchat bench server` running there?",
				ErrNoServer, remoteString(c.conn), controlTimeout, msg.Op)
		}
	}
}

func remoteString(c *net.UDPConn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// start runs the control reader; the returned stop waits for it.
func (c *client) start() (stop func()) {
	quit := make(chan struct{})
	go c.readControl(quit)
	return func() {
		close(quit)
		_ = c.conn.SetReadDeadline(time.Unix(1, 0))
		<-c.done
		_ = c.conn.SetReadDeadline(time.Time{})
	}
}
