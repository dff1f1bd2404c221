package room

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/udpchat/udpchat/dgram/guard"
)

// cookieEpoch is how long a CHALLENGE cookie stays valid: it is accepted
// in its epoch and the next.
const cookieEpoch = 30 * time.Second

// maxMissedNicks bounds a member's table of messages it missed, by sender;
// beyond it, counts go to the nick "" (several members).
const maxMissedNicks = 64

// member is the hub's state for one member.
type member struct {
	addr    netip.AddrPort
	via     route // the address it contacted: replies leave from it
	session uint64
	nick    string
	heard   time.Time

	in     recvStream // its events: messages, then its goodbye
	out    sendStream // events for it
	bucket bucket     // its messages a second
	held   uint64     // the event number last held back by the rate limit
	missed map[string]uint64
}

// bucket is a token bucket: burst tokens, refilled at rate a second.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time, rate, burst float64) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(burst, b.tokens+d.Seconds()*rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// hub is the room server's state machine: it does no I/O and reads no
// clock. handle takes one datagram, tick runs the timers; both send
// through out.
type hub struct {
	cfg     ServerConfig
	key     [32]byte // cookie key
	guard   *guard.Guard
	out     func(b []byte, to netip.AddrPort, via route)
	note    func(ServerEvent)
	byAddr  map[netip.AddrPort]*member
	nicks   map[string]*member
	order   []*member // by time of joining
	queued  int       // events queued over all members
	stats   ServerStats
	refused map[attempt]bool // joins refused lately, counted once each
	pkt     Packet
	buf     []byte
}

// attempt is one member's try at joining: its address and session.
type attempt struct {
	addr    netip.AddrPort
	session uint64
}

// maxRefusedKept bounds the table of refused attempts; when it is full it
// starts again (an attempt may then be counted twice).
const maxRefusedKept = 1024

func newHub(cfg ServerConfig, out func([]byte, netip.AddrPort, route), note func(ServerEvent)) *hub {
	h := &hub{cfg: cfg, out: out, note: note, guard: guard.New(cfg.Guard),
		byAddr: make(map[netip.AddrPort]*member), nicks: make(map[string]*member)}
	_, _ = rand.Read(h.key[:])
	return h
}

// cookie is HMAC-SHA256(key, epoch, address, session), cut to CookieLen.
func (h *hub) cookie(from netip.AddrPort, session uint64, epoch int64) [CookieLen]byte {
	m := hmac.New(sha256.New, h.key[:])
	var b [8 + 16 + 2 + 8]byte
	binary.BigEndian.PutUint64(b[0:], uint64(epoch))
	a := from.Addr().As16()
	copy(b[8:], a[:])
	binary.BigEndian.PutUint16(b[24:], from.Port())
	binary.BigEndian.PutUint64(b[26:], session)
	m.Write(b[:])
	var c [CookieLen]byte
	copy(c[:], m.Sum(nil))
	return c
}

func epochOf(now time.Time) int64 { return now.UnixNano() / int64(cookieEpoch) }

func (h *hub) cookieOK(p *Packet, from netip.AddrPort, now time.Time) bool {
	e := epochOf(now)
	for _, ep := range []int64{e, e - 1} {
		c := h.cookie(from, p.Session, ep)
		if hmac.Equal(c[:], p.Cookie[:]) {
			return true
		}
	}
	return false
}

// handle processes one datagram (plaintext) from from, sent to the local
// address to.
func (h *hub) handle(b []byte, from netip.AddrPort, to route, now time.Time) {
	p := &h.pkt
	if err := Decode(b, p); err != nil {
		h.stats.Malformed++
		return
	}
	switch p.Type {
	case TypeHello:
		h.hello(p, b, from, to, now)
		return
	case TypeJoin:
		h.join(p, b, from, to, now)
		return
	case TypeEvent, TypeAck, TypePing:
	default:
		h.stats.Malformed++ // a type a server never receives
		return
	}
	m := h.byAddr[from]
	if m == nil || m.session != p.Session {
		h.stats.Strangers++
		h.replyStranger(b, from, to, now, &Packet{Type: TypeReset, Session: p.Session, Code: ResetNotMember})
		return
	}
	m.heard = now
	switch p.Type {
	case TypeEvent:
		if p.Seq > m.in.cum && p.Seq <= m.in.cum+m.in.window {
			m.in.offer(p.Seq, eventOf(p))
		} else {
			m.in.offer(p.Seq, event{}) // counted: duplicate or beyond the window
		}
		if !h.process(m, now) {
			return // it left
		}
		h.ack(m)
	case TypeAck:
		h.queued -= m.out.ack(p.Seq, p.Bits, now)
		h.flushMissed(m)
	case TypePing:
		h.ack(m)
	}
	h.pump(m, now)
}

// replyStranger answers an address that has not proved it receives there:
// never more than three times the bytes it sent, and within the guard's
// rates.
func (h *hub) replyStranger(got []byte, from netip.AddrPort, to route, now time.Time, p *Packet) {
	limit := 3 * len(got)
	if p.Type == TypeRefuse {
		if room := limit - HeaderLen - 1; len(p.Text) > room {
			p.Text = p.Text[:max(room, 0)]
		}
	}
	h.buf = p.Append(h.buf[:0])
	if len(h.buf) > limit {
		h.stats.Suppressed++
		return
	}
	if h.guard.Check(from, got, now) != guard.Allow {
		h.stats.Suppressed++
		return
	}
	h.out(h.buf, from, to)
}

// reply sends p to an address that has proved it receives there.
func (h *hub) reply(p *Packet, to netip.AddrPort, via route) {
	h.buf = p.Append(h.buf[:0])
	h.out(h.buf, to, via)
}

func (h *hub) refuse(got []byte, p *Packet, from netip.AddrPort, to route, now time.Time, code uint8, reason string) {
	// A member sends its HELLO or JOIN again until it has an answer: count
	// and log each attempt (address and session) once.
	k := attempt{from, p.Session}
	if !h.refused[k] {
		if len(h.refused) >= maxRefusedKept {
			clear(h.refused)
		}
		if h.refused == nil {
			h.refused = make(map[attempt]bool)
		}
		h.refused[k] = true
		h.stats.Refused++
		h.note(ServerEvent{Type: EventRefused, Nick: string(p.Nick), Addr: from, Reason: reason})
	}
	h.replyStranger(got, from, to, now, &Packet{Type: TypeRefuse, Session: p.Session, Code: code, Text: []byte(reason)})
}

func (h *hub) hello(p *Packet, got []byte, from netip.AddrPort, to route, now time.Time) {
	if err := CheckNick(string(p.Nick)); err != nil {
		h.refuse(got, p, from, to, now, RefuseBadNick, nickProblem(err))
		return
	}
	h.stats.Hellos++
	h.replyStranger(got, from, to, now, &Packet{Type: TypeChallenge, Session: p.Session, Cookie: h.cookie(from, p.Session, epochOf(now))})
}

// nickProblem is CheckNick's error without its package prefix.
func nickProblem(err error) string {
	s := err.Error()
	if len(s) > len(ErrBadNick.Error())+2 {
		s = s[len(ErrBadNick.Error())+2:]
	}
	return s
}

func (h *hub) join(p *Packet, got []byte, from netip.AddrPort, to route, now time.Time) {
	if !h.cookieOK(p, from, now) {
		h.refuse(got, p, from, to, now, RefuseCookie, "the join cookie is wrong or expired: say HELLO again")
		return
	}
	// From here on, from has proved that it receives at its address.
	nick := string(p.Nick)
	if m := h.byAddr[from]; m != nil {
		if m.session == p.Session {
			h.welcome(m) // the WELCOME was lost
			return
		}
		// A new session from the same address: the old one is gone.
		h.remove(m, ReasonTimeout)
	}
	if err := CheckNick(nick); err != nil {
		h.refuse(got, p, from, to, now, RefuseBadNick, nickProblem(err))
		return
	}
	if other := h.nicks[FoldNick(nick)]; other != nil {
		h.refuse(got, p, from, to, now, RefuseNickTaken, fmt.Sprintf("the nick %q is taken", other.nick))
		return
	}
	if len(h.order) >= h.cfg.MaxMembers {
		h.refuse(got, p, from, to, now, RefuseFull, fullText(h.cfg.MaxMembers))
		return
	}
	m := &member{addr: from, via: to, session: p.Session, nick: nick, heard: now,
		in:     newRecvStream(h.cfg.Window),
		out:    newSendStream(h.cfg.Window, newRTT(h.cfg.InitialRTO, h.cfg.MinRTO, h.cfg.MaxRTO)),
		bucket: bucket{tokens: float64(h.cfg.Burst), last: now}}
	h.stats.Joined++
	h.welcome(m)
	// The member list first, then the news to the others.
	var list Packet
	n := 0
	for _, o := range h.order {
		list.AppendList([]byte(o.nick))
		n++
		if list.NList == MaxMembersPerEvent && n < len(h.order) {
			h.enqueue(m, event{kind: KindMembers, more: true, list: list.List, nlist: list.NList}, true)
			list = Packet{}
		}
	}
	h.enqueue(m, event{kind: KindMembers, list: list.List, nlist: list.NList}, true)
	for _, o := range h.order {
		h.enqueue(o, event{kind: KindJoin, nick: nick}, true)
		h.pump(o, now)
	}
	h.byAddr[from] = m
	h.nicks[FoldNick(nick)] = m
	h.order = append(h.order, m)
	h.note(ServerEvent{Type: EventJoined, Nick: nick, Addr: from, Local: to.local.Addr()})
	h.pump(m, now)
}

func (h *hub) welcome(m *member) {
	h.reply(&Packet{Type: TypeWelcome, Session: m.session, MaxText: uint16(h.cfg.MaxText), Rate: uint16(h.cfg.Rate),
		Keepalive: uint32(h.cfg.Keepalive / time.Millisecond), Timeout: uint32(h.cfg.Timeout / time.Millisecond)}, m.addr, m.via)
}

// ack acknowledges m's events.
func (h *hub) ack(m *member) {
	h.reply(&Packet{Type: TypeAck, Session: m.session, Seq: m.in.cum, Bits: m.in.bitmap()}, m.addr, m.via)
}

// process handles m's events that are ready, in order. It returns false
// when m left.
func (h *hub) process(m *member, now time.Time) bool {
	for {
		e, ok := m.in.ready()
		if !ok {
			return true
		}
		n := m.in.cum + 1
		switch e.kind {
		case KindMessage:
			if !m.bucket.take(now, float64(h.cfg.Rate), float64(h.cfg.Burst)) {
				if m.held != n {
					m.held = n
					h.stats.RateLimited++
				}
				return true // processed (and acknowledged) when tokens come back
			}
			if CheckText(e.text, h.cfg.MaxText) != nil {
				h.stats.BadMessages++ // acknowledged but not relayed: members check first
				break
			}
			h.stats.Messages++
			for _, r := range h.order {
				if r != m {
					h.enqueue(r, event{kind: KindMessage, id: n, nick: m.nick, text: e.text}, false)
					h.pump(r, now)
				}
			}
		case KindLeave:
			m.in.done()
			h.ack(m)
			h.remove(m, ReasonLeft)
			return false
		default:
			h.stats.BadMessages++ // members send messages and their goodbye only
		}
		m.in.done()
	}
}

// enqueue queues e for r. A message that does not fit (r's queue, or the
// global bound) is counted as missed, and r is told later; membership
// news may use twice r's share.
func (h *hub) enqueue(r *member, e event, news bool) {
	limit := h.cfg.MaxQueue
	if news {
		limit *= 2
	}
	if r.out.len() >= limit || !news && h.queued >= h.cfg.MaxQueued {
		h.stats.Missed++
		if e.kind == KindMessage {
			if r.missed == nil {
				r.missed = make(map[string]uint64)
			}
			nick := e.nick
			if _, ok := r.missed[nick]; !ok && len(r.missed) >= maxMissedNicks {
				nick = ""
			}
			r.missed[nick]++
		}
		return
	}
	if e.kind == KindMessage {
		h.stats.Relayed++
	}
	r.out.push(e)
	h.queued++
	h.stats.QueuedPeak = max(h.stats.QueuedPeak, h.queued)
}

// flushMissed tells r what it missed once its queue has room again.
func (h *hub) flushMissed(r *member) {
	if len(r.missed) == 0 || r.out.len() >= h.cfg.MaxQueue || h.queued >= h.cfg.MaxQueued {
		return
	}
	nicks := make([]string, 0, len(r.missed))
	for n := range r.missed {
		nicks = append(nicks, n)
	}
	slices.Sort(nicks)
	for _, n := range nicks {
		r.out.push(event{kind: KindMissed, nick: n, count: r.missed[n]})
		h.queued++
	}
	r.missed = nil
}

// pump sends m's events that are due and returns when the next falls due.
func (h *hub) pump(m *member, now time.Time) time.Time {
	var p Packet
	before := m.out.retransmits
	next := m.out.due(now, nil, func(n uint64, e *event) {
		e.fill(&p)
		p.Seq, p.Session = n, m.session
		h.reply(&p, m.addr, m.via)
	})
	h.stats.Retransmits += m.out.retransmits - before
	return next
}

// remove takes m out of the room and tells the others why.
func (h *hub) remove(m *member, reason uint8) {
	delete(h.byAddr, m.addr)
	delete(h.nicks, FoldNick(m.nick))
	h.order = slices.DeleteFunc(h.order, func(o *member) bool { return o == m })
	h.queued -= m.out.len()
	h.stats.Duplicates += m.in.duplicates
	if reason == ReasonLeft {
		h.stats.Left++
	} else {
		h.stats.TimedOut++
	}
	for _, o := range h.order {
		h.enqueue(o, event{kind: KindLeave, code: reason, nick: m.nick}, true)
	}
	h.note(ServerEvent{Type: EventLeft, Nick: m.nick, Addr: m.addr, Reason: reasonName(reason)})
}

func reasonName(r uint8) string {
	if r == ReasonTimeout {
		return "timeout"
	}
	return "left"
}

// tick runs the timers: timeouts, held-back messages, retransmissions. It
// returns when it next has work (zero: nothing scheduled).
func (h *hub) tick(now time.Time) time.Time {
	var next time.Time
	soon := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, m := range slices.Clone(h.order) {
		if now.Sub(m.heard) > h.cfg.Timeout {
			h.remove(m, ReasonTimeout)
		}
	}
	for _, m := range h.order {
		if _, ok := m.in.ready(); ok {
			if !h.process(m, now) {
				continue
			}
			h.ack(m)
			if _, ok := m.in.ready(); ok {
				soon(now.Add(time.Duration(float64(time.Second) / float64(h.cfg.Rate))))
			}
		}
		h.flushMissed(m)
		soon(h.pump(m, now))
		soon(m.heard.Add(h.cfg.Timeout + time.Millisecond))
	}
	return next
}

// close tells every member that the room is closing.
func (h *hub) close() {
	for _, m := range h.order {
		h.reply(&Packet{Type: TypeReset, Session: m.session, Code: ResetClosed}, m.addr, m.via)
	}
}

// snapshot returns the counters.
func (h *hub) snapshot() ServerStats {
	s := h.stats
	s.Members = len(h.order)
	s.Queued = h.queued
	for _, m := range h.order {
		s.Duplicates += m.in.duplicates
	}
	s.Guard = h.guard.Counts()
	return s
}

// fullText is the refusal a member gets when the room holds its n members.
func fullText(n int) string {
	if n == 1 {
		return "the room is full (1 member)"
	}
	return fmt.Sprintf("the room is full (%d members)", n)
}
