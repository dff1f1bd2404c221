package room

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Event is what a member learns: a message, a join, a leave, the member
// list, or messages it missed.
type Event struct {
	Kind   Kind     // KindMessage, KindJoin, KindLeave, KindMembers or KindMissed
	Nick   string   // the message's sender; who joined, left, or whose messages were missed
	Text   string   // KindMessage
	ID     uint64   // KindMessage: the sender's number for it, from 1
	Reason uint8    // KindLeave: ReasonLeft or ReasonTimeout
	Nicks  []string // KindMembers: the others in the room when you joined
	Count  uint64   // KindMissed: how many
}

// Errors a member ends with.
var (
	// ErrNoAnswer: the server did not answer the join.
	ErrNoAnswer = errors.New("room: no answer from the room server")
	// ErrRefused: nothing listens at the server's address (ICMP port
	// unreachable).
	ErrRefused = errors.New("room: nothing listens at the room server's address")
	// ErrServerGone: the server fell silent for the room's timeout.
	ErrServerGone = errors.New("room: the room server fell silent")
	// ErrNotMember: the server no longer knows this member (it timed the
	// member out, or restarted).
	ErrNotMember = errors.New("room: the room server no longer knows us")
	// ErrRoomClosed: the server shut down.
	ErrRoomClosed = errors.New("room: the room server closed the room")
	// ErrNickTaken and ErrFull are refusals, wrapped in a *RefusedError
	// (as is ErrBadNick).
	ErrNickTaken = errors.New("room: nick taken")
	ErrFull      = errors.New("room: room full")
	// ErrLeft is returned by Send after Leave or Close.
	ErrLeft = errors.New("room: left the room")
)

// RefusedError is a join the server (or, in a multicast room, the nick's
// owner) refused.
type RefusedError struct {
	Code   uint8  // RefuseNickTaken, RefuseBadNick, RefuseFull
	Reason string // the server's words
}

func (e *RefusedError) Error() string { return "room: join refused: " + e.Reason }

// Is matches ErrNickTaken, ErrBadNick and ErrFull.
func (e *RefusedError) Is(target error) bool {
	switch e.Code {
	case RefuseNickTaken:
		return target == ErrNickTaken
	case RefuseBadNick:
		return target == ErrBadNick
	case RefuseFull:
		return target == ErrFull
	}
	return false
}

// client states.
const (
	stHello = iota
	stJoin
	stJoined
	stLeaving
	stDone
)

// client is a member's state machine (a room with a server).
type client struct {
	cfg     MemberConfig
	server  netip.AddrPort
	session uint64
	nick    string
	out     func(b []byte, to netip.AddrPort, via route)

	state    int
	started  time.Time
	hsSent   time.Time
	hsTries  int
	cookie   [CookieLen]byte
	cookieNo int // REFUSE(cookie) answers so far

	maxText   int
	rate      float64
	keepalive time.Duration
	timeout   time.Duration

	snd      sendStream
	rcv      recvStream
	bucket   bucket
	heard    time.Time
	lastSent time.Time
	leaveNo  uint64
	members  []string // a MEMBERS list being collected

	deliver []Event
	err     error // why it ended (nil: it left)
	ended   bool
	welcome chan struct{}
	stats   MemberStats
	pkt     Packet
	buf     []byte
}

func (c *client) send(p *Packet, now time.Time) {
	p.Session = c.session
	c.buf = p.Append(c.buf[:0])
	c.out(c.buf, c.server, route{})
	c.lastSent = now
}

func (c *client) end(err error) {
	if c.ended {
		return
	}
	c.ended, c.err, c.state = true, err, stDone
}

// handshake (re)sends HELLO or JOIN.
func (c *client) handshake(now time.Time) {
	p := Packet{Type: TypeHello, Nick: []byte(c.nick)}
	if c.state == stJoin {
		p.Type, p.Cookie = TypeJoin, c.cookie
	}
	c.send(&p, now)
	c.hsSent = now
	c.hsTries++
}

func (c *client) handshakeWait() time.Duration {
	d := c.cfg.InitialRTO
	for i := 1; i < c.hsTries && d < time.Second; i++ {
		d *= 2
	}
	return min(d, time.Second)
}

func (c *client) handle(b []byte, from netip.AddrPort, _ route, now time.Time) {
	p := &c.pkt
	if err := Decode(b, p); err != nil {
		c.stats.Malformed++
		return
	}
	if p.Session != c.session {
		c.stats.Malformed++ // not for us: another session's, or forged
		return
	}
	c.heard = now
	switch {
	case p.Type == TypeChallenge && c.state == stHello:
		c.cookie, c.state, c.hsTries = p.Cookie, stJoin, 0
		c.handshake(now)
	case p.Type == TypeWelcome && c.state == stJoin:
		if p.MaxText == 0 || p.Rate == 0 || p.Keepalive == 0 || p.Timeout == 0 || p.Keepalive >= p.Timeout {
			c.stats.Malformed++
			return
		}
		c.state = stJoined
		c.maxText, c.rate = int(p.MaxText), float64(p.Rate)
		c.keepalive = time.Duration(p.Keepalive) * time.Millisecond
		c.timeout = time.Duration(p.Timeout) * time.Millisecond
		c.bucket = bucket{tokens: c.rate, last: now}
		close(c.welcome)
	case p.Type == TypeRefuse && (c.state == stHello || c.state == stJoin):
		if p.Code == RefuseCookie && c.cookieNo < 3 {
			c.cookieNo++
			c.state, c.hsTries = stHello, 0
			c.handshake(now)
			return
		}
		c.end(&RefusedError{Code: p.Code, Reason: strings.ToValidUTF8(string(p.Text), "?")})
	case p.Type == TypeReset:
		switch {
		case c.state == stLeaving && p.Code == ResetNotMember:
			c.end(nil) // our goodbye was processed; its acknowledgement was lost
		case p.Code == ResetClosed:
			c.end(ErrRoomClosed)
		case c.state >= stJoined:
			c.end(ErrNotMember)
		}
	case p.Type == TypeEvent && c.state >= stJoined:
		c.event(p, now)
	case p.Type == TypeAck && c.state >= stJoined:
		c.snd.ack(p.Seq, p.Bits, now)
		if c.state == stLeaving && c.snd.base > c.leaveNo {
			c.end(nil)
			return
		}
		c.pump(now)
	default:
		c.stats.Unexpected++
	}
}

// event takes one event from the server, processes what is in order, and
// acknowledges.
func (c *client) event(p *Packet, now time.Time) {
	if p.Seq > c.rcv.cum && p.Seq <= c.rcv.cum+c.rcv.window {
		if e := eventOf(p); c.valid(&e) {
			c.rcv.offer(p.Seq, e)
		} else {
			c.stats.Malformed++
		}
	} else {
		c.rcv.offer(p.Seq, event{})
	}
	c.process()
	c.send(&Packet{Type: TypeAck, Seq: c.rcv.cum, Bits: c.rcv.bitmap()}, now)
}

// process handles the events that are ready, in order, while the
// application keeps up: past cfg.Events undelivered, the rest wait (not
// acknowledged, so the server keeps them).
func (c *client) process() bool {
	took := false
	for len(c.deliver) < c.cfg.Events {
		e, ok := c.rcv.ready()
		if !ok {
			break
		}
		c.apply(e)
		c.rcv.done()
		took = true
	}
	return took
}

// valid checks what a server sends: nicks, UTF-8 text, known reasons.
func (c *client) valid(e *event) bool {
	switch e.kind {
	case KindMessage:
		return CheckNick(e.nick) == nil && CheckText(e.text, MaxTextLimit) == nil
	case KindJoin, KindMissed:
		return CheckNick(e.nick) == nil || e.kind == KindMissed && e.nick == ""
	case KindLeave:
		return CheckNick(e.nick) == nil && (e.code == ReasonLeft || e.code == ReasonTimeout)
	case KindMembers:
		ok := true
		p := Packet{List: e.list}
		p.EachNick(func(n []byte) { ok = ok && CheckNick(string(n)) == nil })
		return ok
	}
	return false
}

func (c *client) apply(e *event) {
	switch e.kind {
	case KindMembers:
		p := Packet{List: e.list}
		p.EachNick(func(n []byte) {
			if len(c.members) < c.cfg.maxList() {
				c.members = append(c.members, string(n))
			}
		})
		if e.more {
			return
		}
		c.deliver = append(c.deliver, Event{Kind: KindMembers, Nicks: c.members})
		c.members = nil
	case KindMessage:
		c.stats.Received++
		c.deliver = append(c.deliver, Event{Kind: KindMessage, Nick: e.nick, Text: string(e.text), ID: e.id})
	case KindJoin:
		c.deliver = append(c.deliver, Event{Kind: KindJoin, Nick: e.nick})
	case KindLeave:
		c.deliver = append(c.deliver, Event{Kind: KindLeave, Nick: e.nick, Reason: e.code})
	case KindMissed:
		c.deliver = append(c.deliver, Event{Kind: KindMissed, Nick: e.nick, Count: e.count})
	}
}

// pump sends our events that are due, paced at the room's rate, and
// returns when the next falls due.
func (c *client) pump(now time.Time) time.Time {
	var p Packet
	before := c.snd.retransmits
	next := c.snd.due(now, func(e *event) bool {
		return e.kind == KindLeave || c.bucket.take(now, c.rate, c.rate)
	}, func(n uint64, e *event) {
		e.fill(&p)
		p.Seq = n
		c.send(&p, now)
	})
	c.stats.Retransmits += c.snd.retransmits - before
	if c.snd.pending() {
		// Waiting for a token (or the window): look again soon.
		at := now.Add(time.Duration(float64(time.Second) / max(c.rate, 1)))
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

func (c *client) tick(now time.Time) time.Time {
	if c.ended {
		return time.Time{}
	}
	switch c.state {
	case stHello, stJoin:
		if now.Sub(c.started) >= c.cfg.JoinTimeout {
			hint := "is a room server running there? (a sealed room answers only members with its key)"
			if c.cfg.Key != nil {
				hint = "is a room server running there, sealed with the same key?"
			}
			c.end(fmt.Errorf("%w at %s within %v: %s", ErrNoAnswer, c.server, c.cfg.JoinTimeout, hint))
			return time.Time{}
		}
		at := c.hsSent.Add(c.handshakeWait())
		if !now.Before(at) {
			c.handshake(now)
			at = now.Add(c.handshakeWait())
		}
		return at
	}
	if now.Sub(c.heard) > c.timeout {
		c.end(fmt.Errorf("%w: nothing heard for %v", ErrServerGone, c.timeout))
		return time.Time{}
	}
	if c.process() {
		c.send(&Packet{Type: TypeAck, Seq: c.rcv.cum, Bits: c.rcv.bitmap()}, now)
	}
	next := c.pump(now)
	ka := c.lastSent.Add(c.keepalive)
	if !now.Before(ka) {
		c.send(&Packet{Type: TypePing}, now)
		ka = now.Add(c.keepalive)
	}
	for _, t := range []time.Time{ka, c.heard.Add(c.timeout + time.Millisecond)} {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

// refused handles ICMP port unreachable from the server.
func (c *client) refused(err error) {
	c.stats.Refusals++
	if c.state < stJoined {
		c.end(fmt.Errorf("%w (%s): is a room server running there?", ErrRefused, c.server))
	}
}

func (c *client) take() ([]Event, bool) {
	evs := c.deliver
	c.deliver = nil
	return evs, c.ended
}

func (c *client) finish(err error) { c.end(err) }

func (c *client) failure() error { return c.err }
