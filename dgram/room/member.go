package room

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/udpchat/udpchat/dgram"
	"github.com/udpchat/udpchat/dgram/seal"
)

// Defaults of MemberConfig.
const (
	DefaultJoinTimeout = 5 * time.Second
	DefaultMaxPending  = 256
	DefaultEvents      = 256
	DefaultMaxList     = 4096
)

// MemberConfig configures a member. Nick is required; the zero value of
// every other field works.
type MemberConfig struct {
	// Nick is the name the member speaks under (see CheckNick).
	Nick string
	// Key, when set, seals everything: the server (or the group) must
	// use the same key.
	Key *seal.Key
	// Clock is the member's time (default: the system clock).
	Clock Clock
	// JoinTimeout bounds the wait for the server's answer (default 5s).
	JoinTimeout time.Duration
	// Window bounds the events in flight each way (default 64).
	Window int
	// MaxPending bounds the messages Send has queued that the server has
	// not acknowledged yet (default 256); Send waits for room.
	MaxPending int
	// Events is the buffer of the Events channel (default 256). When the
	// application falls that far behind, the member stops acknowledging
	// what the server sends, and the server waits.
	Events int
	// MaxList bounds the member list kept on joining (default 4096).
	MaxList int
	// InitialRTO, MinRTO and MaxRTO bound the retransmission timeout
	// (defaults as for ServerConfig).
	InitialRTO, MinRTO, MaxRTO time.Duration
}

func (c MemberConfig) withDefaults() MemberConfig {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Window, DefaultWindow)
	def(&c.MaxPending, DefaultMaxPending)
	def(&c.Events, DefaultEvents)
	def(&c.MaxList, DefaultMaxList)
	defd(&c.JoinTimeout, DefaultJoinTimeout)
	defd(&c.InitialRTO, DefaultInitialRTO)
	defd(&c.MinRTO, DefaultMinRTO)
	defd(&c.MaxRTO, DefaultMaxRTO)
	if c.Clock == nil {
		c.Clock = SystemClock
	}
	return c
}

func (c MemberConfig) maxList() int { return c.MaxList }

// MemberStats counts what a member did.
type MemberStats struct {
	Sent        uint64 // messages the server acknowledged
	Received    uint64 // messages delivered
	Retransmits uint64 // events sent again
	Duplicates  uint64 // events that arrived twice
	Malformed   uint64 // datagrams that were not valid room packets for us
	Unexpected  uint64 // valid packets that made no sense in our state
	Refusals    uint64 // ICMP port unreachable from the server
	Rejected    seal.Rejections
}

// Member is a member of a room with a server. Its methods are safe for
// concurrent use.
type Member struct {
	*endpoint
	c *client
}

func newSession() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// Join joins the room served at server through conn, which the caller
// opened (a connected socket is best: it hears ICMP errors, and takes
// only the server's datagrams) and closes after Close. It returns once the server welcomed the member, or with
// why it could not join: a *RefusedError (nick taken, bad nick, room
// full), ErrNoAnswer, ErrRefused, or ctx's error.
func Join(ctx context.Context, conn dgram.BatchConn, server netip.AddrPort, cfg MemberConfig) (*Member, error) {
	if err := CheckNick(cfg.Nick); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	d, err := newDriver(conn, cfg.Clock, cfg.Key)
	if err != nil {
		return nil, err
	}
	now := cfg.Clock.Now()
	c := &client{cfg: cfg, server: unmapAP(server), session: newSession(), nick: cfg.Nick, out: d.send,
		started: now, heard: now, welcome: make(chan struct{}),
		snd: newSendStream(cfg.Window, newRTT(cfg.InitialRTO, cfg.MinRTO, cfg.MaxRTO)),
		rcv: newRecvStream(cfg.Window)}
	m := &Member{endpoint: newEndpoint(d, c, cfg.Events), c: c}
	d.m = c
	d.onErr = func(err error) {
		if isRefused(err) {
			c.refused(err)
		} else {
			c.end(fmt.Errorf("room: reading the socket: %w", err))
		}
	}
	d.mu.Lock()
	c.handshake(now)
	d.flush()
	d.mu.Unlock()
	m.start()
	select {
	case <-c.welcome:
		return m, nil
	case <-m.done:
		err := m.Err()
		m.Close()
		return nil, err
	case <-ctx.Done():
		m.Close()
		return nil, ctx.Err()
	}
}

// MaxText is the room's limit on a message's text, in bytes.
func (m *Member) MaxText() int {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	return m.c.maxText
}

// Nick is the member's nick.
func (m *Member) Nick() string { return m.c.nick }

// Send queues text to be sent to the room. It checks it against the
// room's limit (a *TooLongError, or ErrNotText), and waits while
// MaxPending messages are unacknowledged.
func (m *Member) Send(ctx context.Context, text string) error {
	for {
		m.d.mu.Lock()
		c := m.c
		if c.ended || c.state >= stLeaving {
			err := c.err
			m.d.mu.Unlock()
			if err == nil {
				err = ErrLeft
			}
			return err
		}
		if err := CheckText([]byte(text), c.maxText); err != nil {
			m.d.mu.Unlock()
			return err
		}
		if c.snd.len() < c.cfg.MaxPending {
			c.snd.push(event{kind: KindMessage, text: []byte(text)})
			c.stats.Sent++ // counted as acknowledged once Pending says so
			c.pump(m.d.clock.Now())
			m.d.flush()
			m.d.mu.Unlock()
			m.d.poke()
			return nil
		}
		m.d.mu.Unlock()
		select {
		case <-m.space:
		case <-m.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Pending is the number of events (messages, and a goodbye) the server
// has not acknowledged yet.
func (m *Member) Pending() int {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	return m.c.snd.len()
}

// Leave says goodbye after every message sent so far, and waits until
// the server has acknowledged all of them and the goodbye: then the
// others have been told, and have or will get every message. It returns
// nil then, the member's error if it ended otherwise, or ctx's error.
func (m *Member) Leave(ctx context.Context) error {
	m.d.mu.Lock()
	c := m.c
	if c.state == stJoined {
		c.leaveNo = c.snd.push(event{kind: KindLeave, code: ReasonLeft})
		c.state = stLeaving
		c.pump(m.d.clock.Now())
		m.d.flush()
	}
	m.d.mu.Unlock()
	m.d.poke()
	select {
	case <-m.done:
		return m.Err()
	case <-ctx.Done():
		return fmt.Errorf("room: leaving: %d events not acknowledged: %w", m.Pending(), ctx.Err())
	}
}

// Stats returns the counters so far.
func (m *Member) Stats() MemberStats {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	s := m.c.stats
	s.Sent -= uint64(m.c.pendingMessages())
	s.Duplicates = m.c.rcv.duplicates
	s.Rejected = m.d.rejected()
	return s
}

// pendingMessages counts the queued messages not yet acknowledged.
func (c *client) pendingMessages() int {
	n := 0
	for i := range c.snd.q {
		if c.snd.q[i].kind == KindMessage && !c.snd.q[i].acked {
			n++
		}
	}
	return n
}
