package bench

import (
	"context"
	"encoding/json"
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

// ErrNoServer: no benchmark server answered.
var ErrNoServer = errors.New("bench: no benchmark server answered")

// client reads control messages from the server on the client's socket in
// its own goroutine, so that the sending loop never blocks on reads.
type client struct {
	conn    *net.UDPConn
	ctlMu   sync.Mutex
	ready   chan Control
	result  chan Control
	last    Control // the latest interval report
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
	c := &client{conn: conn, ready: make(chan Control, 1), result: make(chan Control, 1), done: make(chan struct{})}
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
		var ctl Control
		if json.Unmarshal(body, &ctl) != nil {
			return
		}
		switch ctl.Op {
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

// exchange sends a control message until the answer comes on ch.
func (c *client) exchange(ctx context.Context, msg *Control, ch <-chan Control) (Control, error) {
	b := encodeControl(msg)
	deadline := time.Now().Add(controlTimeout)
	t := time.NewTicker(controlEvery)
	defer t.Stop()
	for {
		if _, err := c.conn.Write(b); err != nil && !errors.Is(dgram.Classify("send", "", err), dgram.ErrRefused) {
			return Control{}, dgram.Classify("send", remoteString(c.conn), err)
		}
		select {
		case r := <-ch:
			return r, nil
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
